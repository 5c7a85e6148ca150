"""HMAC-signed tokens for unsubscribe, confirmation and manage links; what the first two do.

A link token is ``<subscription tokens joined by ~>.<signature>``: each subscription's own
random token (``Subscription.token``), signed with the installation's secret and the purpose
(``unsubscribe``, ``confirm`` or ``manage``), so a token made for one purpose cannot be used
for another and a forged or tampered token is recognised before the database is touched.

The secret comes from the environment variable ``[security] secret_env`` names. Without it, one
is generated on first use and kept in ``<var>/secret.key`` (mode 0600; monitor/secret.py), so
links in emails already sent keep working across restarts.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import Subscription, utcnow
from monitor.notify import channels
from monitor.notify.subscriptions import CONFIRM_WITHIN, confirmation_expired
from monitor.secret import secret_for
from monitor.vocab import Severity

UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"
MANAGE = "manage"  # the subscriber's own page (monitor/notify/manage.py)
_SEP = "~"
_SIG_BYTES = 16  # 128 bits: forging one by guessing is out of reach


def load_secret(settings: Settings) -> bytes:
    """The signing secret, shared with the status page's session cookies (monitor/secret.py)."""
    return secret_for(settings)


def _signature(secret: bytes, purpose: str, payload: str) -> str:
    mac = hmac.digest(secret, f"{purpose}\x00{payload}".encode(), "sha256")  # one-shot, in C
    return base64.urlsafe_b64encode(mac[:_SIG_BYTES]).rstrip(b"=").decode()


def sign(secret: bytes, purpose: str, tokens: Sequence[str]) -> str:
    """A link token for these subscription tokens (one or more), for ``purpose``."""
    if not tokens:
        raise ValueError("a link token needs at least one subscription token")
    payload = _SEP.join(sorted(set(tokens)))
    return f"{payload}.{_signature(secret, purpose, payload)}"


def verify(secret: bytes, purpose: str, token: str) -> list[str] | None:
    """The subscription tokens a link token carries, or None when it is forged or tampered."""
    payload, dot, sig = token.strip().rpartition(".")
    if not dot or not payload or not sig:
        return None
    # Compared as bytes: a link can carry any character, and compare_digest refuses non-ASCII str.
    expected = _signature(secret, purpose, payload).encode()
    if not hmac.compare_digest(sig.encode("utf-8", "replace"), expected):
        return None
    return payload.split(_SEP)


@dataclass(frozen=True)
class TokenResult:
    """What an unsubscribe or confirmation link did, for the web page to show.

    ``ok`` says whether the link is good; a page must test it, not the result's truth value."""

    ok: bool
    # unsubscribed | confirmed | already | preview: ok; invalid | unknown | ended | expired: not
    status: str
    message: str
    email: str | None = None
    subscriptions: list[str] = field(default_factory=list)  # descriptions, e.g. "region Y61"


def minimum_in_words(severity: str) -> str:
    """A minimum severity in words: "high and above", "critical only"."""
    return "critical only" if severity == Severity.CRITICAL else f"{severity} and above"


def describe_subscription(sub: Subscription) -> str:
    """A short human description: ``region Y61, acute trusts, high and above``."""
    parts = [f"{sub.scope} {sub.code}"]
    if sub.trust_type:
        parts.append(f"{sub.trust_type} trusts")
    if sub.min_severity != "info":
        parts.append(minimum_in_words(sub.min_severity))
    if sub.rules:
        parts.append("rules " + ", ".join(sub.rules))
    if sub.digest_only:
        parts.append("weekly digest only")
    if sub.board_pack:
        parts.append(
            f"monthly board pack ({'attached' if sub.board_pack == 'attachment' else 'link'})"
        )
    if sub.channel != channels.EMAIL and sub.webhook_url:
        parts.append(f"to {channels.TITLES[sub.channel]} ({channels.shown(sub.webhook_url)})")
    return ", ".join(parts)


INVALID = TokenResult(
    False,
    "invalid",
    "This link is not valid: it may have been altered or cut short. Nothing was changed.",
)
_UNKNOWN = TokenResult(
    False, "unknown", "These subscriptions no longer exist. Nothing was changed."
)


def _to_change(purpose: str, subs: list[Subscription]) -> list[Subscription] | TokenResult:
    """The subscriptions the link would change, or the result that says why none."""
    names = [describe_subscription(sub) for sub in subs]
    email = subs[0].email
    live = [sub for sub in subs if sub.unsubscribed_at is None]
    if purpose == UNSUBSCRIBE:
        if live:
            return live
        return TokenResult(
            True, "already", f"You were already unsubscribed: {'; '.join(names)}.", email, names
        )
    if not live:
        return TokenResult(
            False,
            "ended",
            "This subscription has been ended, so it cannot be confirmed. Nothing was changed.",
            email,
            names,
        )
    waiting = [sub for sub in live if sub.confirmed_at is None]
    if not waiting:
        return TokenResult(
            True,
            "already",
            f"This subscription is already confirmed: {'; '.join(names)}.",
            email,
            names,
        )
    now = utcnow()
    fresh = [sub for sub in waiting if not confirmation_expired(sub, now)]
    if not fresh:
        days = CONFIRM_WITHIN.days
        return TokenResult(
            False,
            "expired",
            f"This confirmation link has expired: links work for {days} days. "
            "Ask for the subscription again to get a new link. Nothing was changed.",
            email,
            names,
        )
    return fresh


def _apply(
    engine: Engine, settings: Settings, token: str, purpose: str, *, dry_run: bool
) -> TokenResult:
    tokens = verify(load_secret(settings), purpose, token)
    if tokens is None:
        return INVALID
    with session_scope(engine, write=not dry_run) as s:
        subs = list(s.exec(select(Subscription).where(col(Subscription.token).in_(tokens))))
        if not subs:
            return _UNKNOWN
        todo = _to_change(purpose, subs)
        if isinstance(todo, TokenResult):
            return todo
        email = subs[0].email
        what = "; ".join(describe_subscription(sub) for sub in todo)
        names = [describe_subscription(sub) for sub in subs]
        if dry_run:
            return TokenResult(True, "preview", f"{email}: {what}.", email, names)
        now = utcnow()
        for sub in todo:
            if purpose == UNSUBSCRIBE:
                sub.unsubscribed_at = now
            else:
                sub.confirmed_at = now
            s.add(sub)
        verb = "unsubscribed" if purpose == UNSUBSCRIBE else "confirmed"
        return TokenResult(True, verb, f"{email} is now {verb}: {what}.", email, names)


def unsubscribe(engine: Engine, token: str, *, settings: Settings) -> TokenResult:
    """End the subscriptions a signed unsubscribe token names (the one-click POST).

    A forged or tampered token changes nothing and says so (``ok`` False, status
    ``invalid``); a token for subscriptions already ended says so (status ``already``).
    """
    return _apply(engine, settings, token, UNSUBSCRIBE, dry_run=False)


def describe_unsubscribe(engine: Engine, token: str, *, settings: Settings) -> TokenResult:
    """What an unsubscribe token would end, changing nothing (for the page a GET shows;
    mail scanners follow links, so a GET must never unsubscribe)."""
    return _apply(engine, settings, token, UNSUBSCRIBE, dry_run=True)


def describe_confirm(engine: Engine, token: str, *, settings: Settings) -> TokenResult:
    """What a confirmation token would confirm, changing nothing (for the page a GET shows:
    mail scanners follow links, so a GET must never confirm)."""
    return _apply(engine, settings, token, CONFIRM, dry_run=True)


def confirm(engine: Engine, token: str, *, settings: Settings) -> TokenResult:
    """Confirm subscriptions awaiting double opt-in (the confirmation page's POST).

    A forged or tampered token changes nothing (status ``invalid``), and so does one whose
    subscriptions have ended (``ended``) or whose link is older than CONFIRM_WITHIN
    (``expired``).
    """
    return _apply(engine, settings, token, CONFIRM, dry_run=False)
