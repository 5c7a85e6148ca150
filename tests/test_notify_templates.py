"""Email templates rendered from real figures: content in both parts, strictness, overrides."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
import pytest

from monitor.notify import contexts, render, views
from monitor.notify.contexts import (
    AlertEmail,
    AlertGroupEmail,
    ConfirmEmail,
    DigestEmail,
    DigestItem,
    OperatorEmail,
    RecipientPart,
    TrustRow,
)
from monitor.urls import Urls
from tests import alert_fixtures as af

BASE = "http://127.0.0.1:8000"
UNSUB = f"{BASE}/unsubscribe/abc.def"
MANAGE = f"{BASE}/subscriptions/ghi.jkl"


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return af.settings(tmp_path)


def view(org: str, *, kind: str = "fired", alert_id: int = 42) -> views.AlertView:
    event, alert = af.unsaved(org, kind=kind, alert_id=alert_id)
    return views.alert_view(event, alert, Urls(BASE))


def subscriber_email(
    settings: Any,
    name: str,
    ctx: Any,
    *,
    to: str = "east@example.nhs.uk",
    subscribed: tuple[str, ...] = ("region Y61",),
) -> Any:
    """A body rendered once, then given one recipient's part, as the sender does."""
    env = render.env_for(settings)
    body = render.render(env, name, ctx)
    part = RecipientPart(to, list(subscribed), UNSUB, f"{BASE}/", MANAGE)
    return render.personalise(env, body, part)


def text_of(html_part: str) -> str:
    """The visible text of the HTML part, entities decoded, whitespace collapsed."""
    no_tags = re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<style.*?</style>", "", html_part))
    return " ".join(html.unescape(no_tags).split())


def assert_both(r: Any, *fragments: str) -> None:
    visible = text_of(r.html)
    for f in fragments:
        assert f in r.text, f"{f!r} missing from the plain-text part"
        assert f in visible, f"{f!r} missing from the HTML part"


def test_it_renders_a_fired_alert_with_the_evidence_in_both_parts(settings: Any) -> None:
    ctx = AlertEmail(view("RCX"), f"{BASE}/")
    r = subscriber_email(settings, "alert_fired", ctx)

    assert r.subject == (
        "[HIGH] The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust: "
        "A&E type 1: under 60% seen within 4 hours (July 2025: 52.1%)"
    )
    assert_both(
        r,
        "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust",
        "52.1%",  # the value ...
        "3,678 of 7,060 attendances",  # ... its numerator and denominator ...
        "below 60%",  # ... against the threshold
        "52.1%: 7.9 percentage points below the 60% threshold",
        "Below 60% since November 2024",  # the first breaching period
        "higher is better",  # which direction is good
        "62.7%",  # England, July 2025
        "East of England",
        "64.8%",  # the region, July 2025
        "9th consecutive month in breach, since November 2024",
        "Fewer than six in ten patients",  # why it matters
        "Aug 2024",
        "65.3%",  # the trend starts twelve months back
        "Sent to east@example.nhs.uk because of your subscription to: region Y61",
    )
    # Links: the alert, the publication and unsubscribe, in both parts.
    for url in (f"{BASE}/alerts/42", af.JULY_URL, UNSUB, MANAGE, f"{BASE}/orgs/RCX"):
        assert url in r.text
        assert f'href="{url}"' in r.html
    # The plain-text trend is a sparkline; the HTML one a table of bars without images.
    assert "Aug 2024 █▅▆▄▁▂▁▂▂▃▃▁ Jul 2025" in r.text
    assert "<img" not in r.html
    bars = re.findall(r'<td class="bar"[^>]*bgcolor="(#[0-9a-f]+)"', r.html)
    assert len(bars) == 12
    assert bars.count("#d5281b") == 10  # ten of the twelve months in breach of 60%
    # CSS is inlined, so clients that drop <style> still show the layout.
    assert 'style="' in r.html and "font-family" in r.html.split("<body", 1)[1]
    # The recipient's part takes the mark's place in the footer, its CSS inlined too.
    assert render.RECIPIENT_MARK not in r.html
    assert f'<a href="{UNSUB}" style="color: #005eb8;">Unsubscribe</a>' in r.html
    # Autoescape is for HTML only: the subject and text say A&E, the HTML escapes it.
    assert "A&E" in r.text and "A&amp;E" in r.html and "A&amp;E" not in r.text


def test_it_renders_a_resolved_and_a_withdrawn_alert(settings: Any) -> None:
    resolved = AlertEmail(view("RC9", kind="resolved"), f"{BASE}/")
    r = subscriber_email(settings, "alert_resolved", resolved)
    assert r.subject.startswith("[RESOLVED] Bedfordshire Hospitals NHS Foundation Trust")
    assert_both(r, "no longer breach the threshold", "59.4%", "62.7%", "Resolved after")
    withdrawn = AlertEmail(view("RC9", kind="withdrawn"), f"{BASE}/")
    r = subscriber_email(settings, "alert_resolved", withdrawn)
    assert_both(
        r, "A revised publication no longer shows this breach", "Withdrawn after a revision"
    )


def test_it_groups_a_regions_alerts_from_one_publication_into_one_email(settings: Any) -> None:
    fired = [view(o, alert_id=i) for i, o in enumerate(("RCX", "RDE", "RWH"), start=1)]
    gone = [view("RC9", kind="resolved", alert_id=9)]
    ctx = AlertGroupEmail(
        title="A&E statistics for July 2025",
        place="East of England",
        fired=fired,
        resolved=gone,
        publication_title="Monthly A&E July 2025 (CSV, 27KB)",
        publication_url=af.JULY_URL,
        published_text="14 August 2025",
        status_url=f"{BASE}/",
    )
    r = subscriber_email(settings, "alert_group", ctx)
    assert r.subject == "A&E statistics for July 2025: 3 new alerts, 1 resolved in East of England"
    assert_both(
        r,
        "East Suffolk and North Essex NHS Foundation Trust",
        "51.4%",
        "East and North Hertfordshire NHS Trust",
        "56.3%",
        "Bedfordshire Hospitals NHS Foundation Trust",
        "62.7%",
        "higher is better",
        "Fewer than six in ten patients",
    )
    for i in (1, 2, 3, 9):
        assert f"{BASE}/alerts/{i}" in r.text and f'href="{BASE}/alerts/{i}"' in r.html
    assert r.text.count("Aug 2024 ") >= 4 and af.JULY_URL in r.text and UNSUB in r.text


def trust_row(org: str) -> TrustRow:
    return TrustRow(
        org_code=org,
        org_name=af.NAMES[org],
        org_url=f"{BASE}/orgs/{org}",
        worst_severity="high",
        open_count=1,
        rule_titles=af.RULE_TITLE,
        league_text="league 133 of 134" if org == "RCX" else "",
    )


def digest_context() -> DigestEmail:
    def item(org: str, i: int, **kw: Any) -> DigestItem:
        base: dict[str, Any] = {
            "alert_id": i,
            "alert_url": f"{BASE}/alerts/{i}",
            "org_code": org,
            "org_name": af.NAMES[org],
            "rule_title": af.RULE_TITLE,
            "severity": "high",
            "value_text": f"{af.AE_TYPE1[org][-1]:.1f}%",
            "threshold_text": "60%",
            "period_label": "July 2025",
            "open_for": "4 days",
            "ended_text": None,
            "change": "",
        }
        return DigestItem(**(base | kw))

    return DigestEmail(
        week="2025-W33",
        week_label="11 to 17 August 2025",
        new=[item("RCX", 1, change="special-cause concern")],
        still_open=[item("RWH", 2, open_for="5 weeks; in breach since March 2025")],
        resolved=[item("RC9", 3, ended_text="resolved 14 August 2025")],
        trusts=[trust_row("RCX"), trust_row("RWH")],
        status_url=f"{BASE}/",
        scope_name="East of England",
        context_text="Most trusts miss these standards, so they are context rather than "
        "alerts: A&E (type 1): under the 4-hour operational standard: 114 of 122 trusts "
        "(England 61.7% in August 2025).",
    )


def test_it_renders_the_weekly_digest(settings: Any) -> None:
    r = subscriber_email(settings, "digest_weekly", digest_context())
    # The subject names the region.
    assert r.subject == (
        "Weekly digest, East of England, 11 to 17 August 2025: 1 new, 1 still open, 1 resolved"
    )
    assert_both(
        r,
        "special-cause concern",
        "league 133 of 134",
        "Context",
        "114 of 122 trusts",
        "New this week",
        "Still open",
        "Resolved this week",
        "Open alerts by trust",
        "5 weeks; in breach since March 2025",
        "resolved 14 August 2025",
        "52.1%",
    )
    assert UNSUB in r.text and f'href="{UNSUB}"' in r.html


def test_it_renders_operator_and_confirmation_emails(settings: Any) -> None:
    env = render.env_for(settings)
    op = OperatorEmail(
        title="The ae source is failing",
        summary="The last 2 polls of ae failed.",
        details=[("Last error", "HTTP 503 from www.england.nhs.uk")],
        action="Look at the sources page.",
        recipient="ops@example.nhs.uk",
        status_url=f"{BASE}/sources",
    )
    assert_both(render.render(env, "operator_incident", op), "HTTP 503", "The ae source is failing")
    conf = ConfirmEmail(
        ["region Y61"], f"{BASE}/confirm/x.y", "a@example.nhs.uk", f"{BASE}/", MANAGE
    )
    r = render.render(env, "subscription_confirm", conf)
    assert_both(r, "region Y61", "Confirm", "Manage your subscriptions")
    assert f"{BASE}/confirm/x.y" in r.text and f'href="{BASE}/confirm/x.y"' in r.html
    assert MANAGE in r.text and f'href="{MANAGE}"' in r.html


def test_a_template_using_an_undefined_variable_fails_instead_of_sending_a_blank(
    tmp_path: Path,
) -> None:
    override = tmp_path / "mine" / "emails"
    override.mkdir(parents=True)
    (override / "alert_fired.subject.j2").write_text("{{ alert.trust_nmae }}: breach\n")
    s = af.settings(tmp_path, templates_override=tmp_path / "mine")
    ctx = AlertEmail(view("RCX"), f"{BASE}/")
    with pytest.raises(jinja2.UndefinedError, match="trust_nmae"):
        render.render(render.env_for(s), "alert_fired", ctx)


def test_an_override_folder_replaces_templates_file_by_file(tmp_path: Path) -> None:
    override = tmp_path / "mine" / "emails"
    override.mkdir(parents=True)
    (override / "alert_fired.subject.j2").write_text("Board alert: {{ alert.org_code }}\n")
    s = af.settings(tmp_path, templates_override=tmp_path / "mine")
    ctx = AlertEmail(view("RCX"), f"{BASE}/")
    r = subscriber_email(s, "alert_fired", ctx)
    assert r.subject == "Board alert: RCX"
    assert "62.7%" in r.text and "62.7%" in r.html  # the other two parts are the defaults
    assert render.template_files(s)["alert_fired.subject.j2"].parent == override


# --- every documented field is used, every used field is documented -----------------------


def _parsed(settings: Any) -> dict[str, jinja2.nodes.Template]:
    env = render.env_for(settings)
    return {
        name: env.parse(path.read_text(encoding="utf-8"))
        for name, path in render.template_files(settings).items()
    }


def test_every_template_set_is_complete(settings: Any) -> None:
    files = set(render.template_files(settings))
    for name in contexts.TEMPLATES:
        for part in ("subject", "txt", "html"):
            assert f"{name}.{part}.j2" in files
    assert {"_recipient.txt.j2", "_recipient.html.j2"} <= files


# What the partial _alert.*.j2 expects the template including it to bind (a field or a loop).
PARTIAL_INPUTS = {"alert"}


def _variables(name: str, parsed: dict[str, jinja2.nodes.Template]) -> set[str]:
    """Context variables a template set reads, following includes and extends."""
    todo = [f"{name}.{part}.j2" for part in ("subject", "txt", "html")]
    seen: set[str] = set()
    used: set[str] = set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        macros = {m.name for m in parsed[f].find_all(jinja2.nodes.Macro)}
        found = jinja2.meta.find_undeclared_variables(parsed[f]) - macros
        used |= found - PARTIAL_INPUTS if f.startswith("_") else found
        todo += [r for r in jinja2.meta.find_referenced_templates(parsed[f]) if r]
    return used


def test_templates_use_exactly_the_documented_context_fields(settings: Any) -> None:
    parsed = _parsed(settings)
    for cls in set(contexts.TEMPLATES.values()):
        documented = contexts.help_texts(cls)
        assert all(documented.values()), f"{cls.__name__} has a field without help text"
        names = [n for n, c in contexts.TEMPLATES.items() if c is cls]
        used = set().union(*(_variables(n, parsed) for n in names))
        assert used - set(documented) == set(), f"{names} use undocumented fields"
        assert set(documented) - used == set(), f"{cls.__name__}: fields no template uses"
    recipient_used = set().union(
        *(
            jinja2.meta.find_undeclared_variables(parsed[f"_recipient.{p}.j2"])
            for p in ("txt", "html")
        )
    )
    assert recipient_used == set(contexts.help_texts(RecipientPart))


def test_view_attributes_read_by_templates_are_documented_and_all_used(settings: Any) -> None:
    read = {
        node.attr
        for tmpl in _parsed(settings).values()
        for node in tmpl.find_all(jinja2.nodes.Getattr)
    }
    documented: set[str] = set()
    for cls in contexts.VIEWS:
        fields = contexts.help_texts(cls)
        assert all(fields.values()), f"{cls.__name__} has a field without help text"
        documented |= set(fields)
        unused = set(fields) - read
        assert not unused, f"{cls.__name__} fields no template reads: {unused}"
    top_level = {f for cls in contexts.TEMPLATES.values() for f in contexts.help_texts(cls)}
    top_level |= set(contexts.help_texts(RecipientPart))
    assert read - documented - top_level == set()


def test_context_classes_are_plain_frozen_dataclasses() -> None:
    for cls in [*contexts.TEMPLATES.values(), *contexts.VIEWS]:
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_every_context_field_is_documented_in_docs_notifications() -> None:
    doc = (af.ROOT / "docs" / "notifications.md").read_text()
    classes = [*set(contexts.TEMPLATES.values()), RecipientPart, *contexts.VIEWS]
    missing = [
        f"{cls.__name__}.{name}"
        for cls in classes
        for name in contexts.help_texts(cls)
        if f"`{name}`" not in doc or f"**{cls.__name__}**" not in doc
    ]
    assert missing == [], f"fields missing from docs/notifications.md: {missing}"


# --- each recipient's part: rendered once per shape, the values put in place ---------------


def _parts(*recipients: str) -> list[RecipientPart]:
    # Values with "&" and "'" are filled in; with '"', "<" or ">" the part is rendered in full.
    subscribed = ["trust RCX (King's Lynn)", "A&E, high and above", "region Y61", 'ICB "<QUE>"']
    return [
        RecipientPart(
            r, subscribed[i % 4 : i % 4 + 2], f"{UNSUB}{i}&x=1", f"{BASE}/", f"{MANAGE}{i}"
        )
        for i, r in enumerate(recipients)
    ]


def test_each_recipients_part_is_what_rendering_it_in_full_gives(settings: Any) -> None:
    env = render.env_for(settings)
    body = render.render(env, "alert_fired", AlertEmail(view("RCX"), f"{BASE}/"))
    for part in _parts(*(f"board{i}@rcx.nhs.uk" for i in range(8)), "o'neil@rcx.nhs.uk"):
        got = render.personalise(env, body, part)
        text, html_part = render._render_part(env, part)
        assert got.text.endswith(f"\n\n{text}\n")
        assert html_part in got.html
        assert text_of(got.html).count(f"Sent to {part.recipient}") == 1
        assert html.escape(part.unsubscribe_url, quote=False) in got.html
    assert render._shapes.get((id(env), 2))  # the parts after the first were filled in


def test_an_override_that_changes_a_value_still_gets_each_recipients_own_part(
    tmp_path: Path,
) -> None:
    override = tmp_path / "mine" / "emails"
    override.mkdir(parents=True)
    (override / "_recipient.html.j2").write_text(
        "<style>p { color: #005eb8; }</style>\n<p>For {{ recipient|upper }}</p>\n"
    )
    s = af.settings(tmp_path, templates_override=tmp_path / "mine")
    env = render.env_for(s)
    body = render.render(env, "alert_fired", AlertEmail(view("RCX"), f"{BASE}/"))
    for part in _parts("one@rcx.nhs.uk", "two@rcx.nhs.uk", "three@rcx.nhs.uk"):
        got = render.personalise(env, body, part)
        assert f"For {part.recipient.upper()}</p>" in got.html
        assert 'style="color: #005eb8;"' in got.html
