"""The context each email template set receives: typed, every field documented.

``TEMPLATES`` maps each template set in templates/emails/ to its context class. A template may
use exactly the fields documented here (StrictUndefined turns anything else into an error), and
tests/test_notify_templates.py checks that every documented field is used somewhere.

Emails to subscribers come in two pieces: the body (``alert_fired``, ``alert_group`` ...) says
nothing about who receives it, so one rendering serves every recipient of the same alerts; the
recipient's part (``_recipient.txt.j2`` / ``_recipient.html.j2``, context
:class:`RecipientPart`) names the address, its subscriptions and its own unsubscribe link, and
is rendered for each message.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from monitor.notify.views import AlertView, PartView, TrendPoint, doc


@dataclass(frozen=True)
class AlertEmail:
    """alert_fired and alert_resolved: one alert event."""

    alert: AlertView = doc("the alert event (see AlertView)")
    status_url: str = doc("the status page's front page")


@dataclass(frozen=True, kw_only=True)
class AlertGroupEmail:
    """alert_group: the events of one publication that concern a recipient, in one email."""

    title: str = doc('the publication in words: "A&E statistics for July 2025"')
    place: str = doc('where: "East of England", an ICB, a trust, or "England"')
    fired: list[AlertView] = doc("new alerts, worst severity first")
    resolved: list[AlertView] = doc("alerts resolved or withdrawn by this publication")
    publication_title: str = doc("the published file's title")
    publication_url: str = doc("where it was published")
    published_text: str = doc('when it was published, e.g. "14 August 2025"')
    status_url: str = doc("the status page's front page")


@dataclass(frozen=True, kw_only=True)
class DigestItem:
    """One alert in the weekly digest."""

    alert_id: int = doc("the alert's id")
    alert_url: str = doc("the alert on the status page")
    org_code: str = doc("ODS code")
    org_name: str = doc("the organisation's name")
    rule_title: str = doc("the rule's title")
    severity: str = doc("info, low, medium, high or critical")
    value_text: str = doc("the latest figure, formatted")
    threshold_text: str | None = doc("the threshold in force, formatted; None if none")
    period_label: str = doc("the latest period evaluated")
    open_for: str = doc('how long it has been open: "5 days", "6 weeks; in breach since May 2025"')
    ended_text: str | None = doc("when it was resolved or withdrawn; None while open")
    change: str = doc(
        'a Making Data Count alert\'s change: "special-cause concern", "consistently failing"; '
        'or ""'
    )


@dataclass(frozen=True, kw_only=True)
class TrustRow:
    """One trust in a regional digest's table, worst first."""

    org_code: str = doc("ODS code")
    org_name: str = doc("the trust's name")
    org_url: str = doc("the trust's page on the status page")
    worst_severity: str = doc("the highest severity among its open alerts")
    open_count: int = doc("how many alerts are open")
    rule_titles: str = doc("the open alerts' rule titles, joined with semicolons")
    league_text: str = doc('its latest league position, "league 133 of 134"; or ""')


@dataclass(frozen=True, kw_only=True)
class DigestEmail:
    """digest_weekly: one recipient's week."""

    week: str = doc('the ISO week covered: "2025-W33"')
    week_label: str = doc('the week in words: "11 to 17 August 2025"')
    new: list[DigestItem] = doc("alerts that fired this week")
    still_open: list[DigestItem] = doc("alerts open before this week and still open")
    resolved: list[DigestItem] = doc("alerts resolved or withdrawn this week")
    trusts: list[TrustRow] = doc(
        "for region and ICB subscribers: one line per trust, most severe first, then by league"
    )
    scope_name: str = doc('what the digest is about: "East of England", a trust\'s name')
    context_text: str = doc(
        'one paragraph on the standards most trusts miss, with England\'s figure; or ""'
    )
    status_url: str = doc("the status page's front page")


@dataclass(frozen=True)
class RecipientPart:
    """_recipient.txt.j2 and _recipient.html.j2: who a subscriber email is for, appended to
    the text and put in place of ``<!-- recipient -->`` in the HTML."""

    recipient: str = doc("the address the email goes to")
    subscribed_to: list[str] = doc('why they receive it: "region Y61, high and above", ...')
    unsubscribe_url: str = doc("one-click unsubscribe from the subscriptions that matched")
    status_url: str = doc("the status page's front page")
    manage_url: str = doc("the subscriber's own page: change, pause or leave subscriptions")


@dataclass(frozen=True, kw_only=True)
class OperatorEmail:
    """operator_incident: something an operator must look at, once per incident."""

    title: str = doc('one line: "The ae source is failing"')
    summary: str = doc("what happened, in a sentence or two")
    details: list[tuple[str, str]] = doc("(label, value) pairs: source, since, error, ...")
    action: str = doc("what to do about it")
    recipient: str = doc("the operator's address")
    status_url: str = doc("the status page's sources page")


@dataclass(frozen=True)
class ConfirmEmail:
    """subscription_confirm: double opt-in."""

    subscriptions: list[str] = doc("what would be subscribed")
    confirm_url: str = doc("the link that confirms")
    recipient: str = doc("the address to confirm")
    status_url: str = doc("the status page's front page")
    manage_url: str = doc("the subscriber's own page: change or leave before confirming")


@dataclass(frozen=True, kw_only=True)
class MergerEmail:
    """subscription_merged: a subscription moved from a closed trust to its successor."""

    closed_code: str = doc("ODS code of the trust that closed, e.g. RA4")
    closed_name: str = doc("its name")
    closed_on_text: str = doc('the day it closed: "31 March 2023"')
    successor_code: str = doc("ODS code of the trust it merged into, e.g. RH5")
    successor_name: str = doc("that trust's name")
    successor_url: str = doc("the successor's page, which also shows the closed trust's history")
    status_url: str = doc("the status page's front page")


@dataclass(frozen=True, kw_only=True)
class BoardPackEmail:
    """board_pack: a trust's monthly board pack, as a link or attached."""

    org_code: str = doc("ODS code of the trust")
    org_name: str = doc("the trust's name")
    month_label: str = doc('the month the pack is for: "August 2025"')
    pack_url: str = doc("the pack on the status page (HTML, prints on A4)")
    pdf_url: str = doc("the same pack as PDF")
    attachment_name: str = doc('the attached file\'s name, or "" when the pack is a link only')
    status_url: str = doc("the status page's front page")


TEMPLATES: dict[str, type] = {
    "alert_fired": AlertEmail,
    "alert_resolved": AlertEmail,
    "alert_group": AlertGroupEmail,
    "digest_weekly": DigestEmail,
    "operator_incident": OperatorEmail,
    "subscription_confirm": ConfirmEmail,
    "subscription_merged": MergerEmail,
    "board_pack": BoardPackEmail,
}

# Objects reachable from a context, whose attributes templates read.
VIEWS: tuple[type, ...] = (AlertView, TrendPoint, PartView, DigestItem, TrustRow)


def as_mapping(context: Any) -> dict[str, Any]:
    """A context's top-level fields as the template's variables (nested views stay objects)."""
    return {f.name: getattr(context, f.name) for f in fields(context)}


def help_texts(cls: type) -> dict[str, str]:
    """Field name -> help text of a context or view class."""
    return {f.name: f.metadata.get("help", "") for f in fields(cls)}
