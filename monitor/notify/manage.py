"""A subscriber's own page (/subscriptions/<token>): see, change, pause, resume and leave.

Every email to a subscriber carries a link signed for the purpose ``manage``
(monitor/notify/tokens.py) over the subscriptions it was sent for. The link is the capability:
it opens every subscription of that address that has not ended, and nothing else, with no
sign-in. Each action changes one subscription of that address (or, leaving everything, all of
them) in one transaction; a forged or altered link, or a subscription of another address,
changes nothing.

Nothing here sends an email: a subscription still waiting for confirmation stays waiting
whatever is changed, and pausing stops alerts and digests until it is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import Subscription, utcnow
from monitor.notify import subscriptions as subs
from monitor.notify import tokens


class Action(StrEnum):
    """What a button on the manage page asks for."""

    SAVE = "save"
    PAUSE = "pause"
    RESUME = "resume"
    LEAVE = "leave"
    LEAVE_ALL = "leave-all"


@dataclass(frozen=True)
class Choices:
    """The filters a subscriber may change."""

    min_severity: str
    digest_only: bool
    rules: tuple[str, ...] = ()
    board_pack: str | None = None  # "" none, "link", "attachment"; None: leave it as it is


@dataclass(frozen=True)
class Outcome:
    """What a manage link (and an action) did. ``ok`` False: nothing was changed.

    ``status``: shown | saved | paused | resumed | left | unchanged (ok); invalid | unknown |
    not_yours | refused (not ok). ``field`` names the form field a refused change is about."""

    ok: bool
    status: str
    message: str
    email: str | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    field: str | None = None


INVALID = Outcome(
    False,
    "invalid",
    "This link is not valid: it may have been altered or cut short. Nothing was changed.",
)
_UNKNOWN = Outcome(False, "unknown", "These subscriptions no longer exist. Nothing was changed.")


def _address(session: Session, settings: Settings, token: str) -> str | Outcome:
    """The address a manage token opens, or the outcome that says why none."""
    named = tokens.verify(tokens.load_secret(settings), tokens.MANAGE, token)
    if named is None:
        return INVALID
    found = session.exec(select(Subscription.email).where(col(Subscription.token).in_(named)))
    emails = set(found)
    if not emails:
        return _UNKNOWN
    if len(emails) > 1:  # never signed so: a link is for one address
        return INVALID
    return emails.pop()


def _live(session: Session, email: str) -> list[Subscription]:
    q = select(Subscription).where(
        Subscription.email == email, col(Subscription.unsubscribed_at).is_(None)
    )
    return list(session.exec(q.order_by(col(Subscription.id))))


def show(engine: Engine, token: str, *, settings: Settings) -> Outcome:
    """The address's subscriptions that have not ended, changing nothing (the page's GET)."""
    with session_scope(engine) as s:
        email = _address(s, settings, token)
        if isinstance(email, Outcome):
            return email
        return Outcome(True, "shown", "", email, _live(s, email))


def act(
    engine: Engine,
    token: str,
    action: Action,
    subscription_id: int | None,
    *,
    settings: Settings,
    choices: Choices | None = None,
) -> Outcome:
    """Do ``action`` to subscription ``subscription_id`` of the address the token opens (the
    page's POST; ``leave-all`` needs no id). Returns the outcome with the subscriptions as
    they are afterwards."""
    with session_scope(engine, write=True) as s:
        email = _address(s, settings, token)
        if isinstance(email, Outcome):
            return email
        live = _live(s, email)
        if action == Action.LEAVE_ALL:
            done = _leave(live)
        else:
            target = next((x for x in live if x.id == subscription_id), None)
            if target is None:
                return Outcome(
                    False,
                    "not_yours",
                    "That subscription is not one of this address's, or it has ended. "
                    "Nothing was changed.",
                    email,
                    live,
                )
            done = _one(s, settings, action, target, choices)
        if not done.ok:
            s.rollback()
        s.flush()
        return Outcome(done.ok, done.status, done.message, email, _live(s, email), done.field)


def _leave(live: list[Subscription]) -> Outcome:
    if not live:
        return Outcome(True, "unchanged", "You have no subscriptions left.")
    now = utcnow()
    for sub in live:
        sub.unsubscribed_at = now
    names = "; ".join(tokens.describe_subscription(x) for x in live)
    return Outcome(True, "left", f"You have left every subscription: {names}.")


def _one(
    session: Session,
    settings: Settings,
    action: Action,
    sub: Subscription,
    choices: Choices | None,
) -> Outcome:
    what = tokens.describe_subscription(sub)
    if action == Action.LEAVE:
        sub.unsubscribed_at = utcnow()
        return Outcome(True, "left", f"You have left this subscription: {what}.")
    if action == Action.PAUSE:
        if sub.paused_at is None:
            sub.paused_at = utcnow()
        return Outcome(True, "paused", f"Paused: {what}. Nothing is sent for it until you resume.")
    if action == Action.RESUME:
        sub.paused_at = None
        return Outcome(True, "resumed", f"Resumed: {what}.")
    if choices is None:
        raise ValueError("saving needs the choices")
    return _save(session, settings, sub, choices)


def _save(session: Session, settings: Settings, sub: Subscription, choices: Choices) -> Outcome:
    """Change the filters, checked as a new subscription's would be."""
    try:
        req = subs.validate(
            session,
            settings,
            subs.Request(
                sub.email,
                sub.scope,
                sub.code,
                sub.trust_type,
                choices.min_severity,
                choices.rules,
                choices.digest_only,
                sub.board_pack if choices.board_pack is None else (choices.board_pack or None),
            ),
        )
    except subs.InvalidSubscription as e:
        return Outcome(False, "refused", f"{e}. Nothing was changed.", field=e.field)
    sub.min_severity, sub.rules, sub.digest_only, sub.board_pack = (
        req.min_severity,
        list(req.rules),
        req.digest_only,
        req.board_pack,
    )
    return Outcome(True, "saved", f"Saved: {tokens.describe_subscription(sub)}.")
