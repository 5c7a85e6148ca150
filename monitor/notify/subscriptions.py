"""Subscriptions as data: add (validated), list, remove, seed from config.toml, double opt-in.

A subscription names one scope (a region, an ICB or one organisation) and optional filters
(trust type, minimum severity, rule ids, digest only). Removing one keeps the row with
``unsubscribed_at`` set, so a seed in config.toml that someone unsubscribed from is not added
back by the next ``monitor init``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, select

from monitor import orgs
from monitor.config import REGION_CODES, SEVERITIES, Settings
from monitor.models import Organisation, Outbox, Subscription, utcnow
from monitor.notify import channels, keys, mime
from monitor.vocab import Severity

SCOPES = ("region", "icb", "org")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_ODS_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
# How long a confirmation link works. Confirmation links expire, as mailing lists' do, so that
# an old email found in a mailbox cannot start alerts nobody asked for recently.
CONFIRM_WITHIN = timedelta(days=14)


class InvalidSubscription(ValueError):
    """A subscription that cannot be added; the message says which part and why.

    ``field`` names the part at fault (``email``, ``scope``, ``code``, ``trust_type``,
    ``min_severity``, ``rules``, ``channel``, ``webhook_url``), for a form to point at."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def normalise_email(address: str) -> str:
    """The address as it will be stored and sent to, or InvalidSubscription.

    Only the syntax is checked (no DNS look-ups): the monitor often runs where outbound DNS
    is restricted, and a bad mailbox shows up as a failed send with its reason anyway.
    """
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise InvalidSubscription(
            f"{address!r} is not a valid email address: {e}", "email"
        ) from None


@dataclass(frozen=True)
class Request:
    """A subscription to add, before validation.

    For a chat channel (``teams``, ``slack``, ``webhook``) the address is its webhook URL,
    in ``webhook_url`` or in ``email``; validation puts the channel's recipient in ``email``
    (monitor/notify/channels.py)."""

    email: str
    scope: str
    code: str
    trust_type: str | None = None
    min_severity: str = Severity.INFO
    rules: tuple[str, ...] = ()
    digest_only: bool = False
    board_pack: str | None = None  # BOARD_PACK_DELIVERIES: the monthly pack, linked or attached
    channel: str = channels.EMAIL
    webhook_url: str | None = None


# How a subscriber to one trust may receive its monthly board pack (monitor/board/deliver.py).
BOARD_PACK_DELIVERIES = ("link", "attachment")


def _address(req: Request) -> tuple[str, str | None]:
    """(recipient, webhook URL) of a request, validated."""
    if req.channel not in channels.CHANNELS:
        raise InvalidSubscription(
            f"channel must be one of {', '.join(channels.CHANNELS)}, not {req.channel!r}",
            "channel",
        )
    if req.channel == channels.EMAIL:
        if req.webhook_url:
            raise InvalidSubscription("an email subscription has no webhook URL", "webhook_url")
        return normalise_email(req.email), None
    if req.digest_only:
        raise InvalidSubscription(
            "the weekly digest goes by email only; a chat channel receives alerts", "channel"
        )
    try:
        url = channels.validate_url(req.webhook_url or req.email)
    except channels.InvalidWebhook as e:
        raise InvalidSubscription(str(e), "webhook_url") from None
    return channels.recipient_for(req.channel, url), url


def validate(session: Session, settings: Settings, req: Request) -> Request:
    """The request with its address and codes normalised, or InvalidSubscription."""
    email, webhook_url = _address(req)
    scope, code = req.scope, req.code.strip().upper()
    if scope not in SCOPES:
        raise InvalidSubscription(
            f"scope must be one of {', '.join(SCOPES)}, not {scope!r}", "scope"
        )
    if scope == "region":
        code = orgs.code_for(code) or code
        if code not in REGION_CODES:
            raise InvalidSubscription(
                f"unknown region {req.code!r}; use one of {', '.join(REGION_CODES)}", "code"
            )
    else:
        found = session.get(Organisation, code) if _ODS_CODE.match(code) else None
        _check_org(session, found, scope, code)
    trust_type = req.trust_type.strip().lower() if req.trust_type else None
    if trust_type:
        known = {t for t in session.exec(select(Organisation.trust_type).distinct()) if t}
        if trust_type not in known:
            raise InvalidSubscription(
                f"unknown trust type {req.trust_type!r}; use one of {', '.join(sorted(known))}",
                "trust_type",
            )
    if req.min_severity not in SEVERITIES:
        raise InvalidSubscription(
            f"unknown severity {req.min_severity!r}; use one of {', '.join(SEVERITIES)}",
            "min_severity",
        )
    bad = [r for r in req.rules if not _RULE_ID.match(r)]
    if bad:
        raise InvalidSubscription(
            f"not a rule id: {', '.join(bad)} (rule ids are file names)", "rules"
        )
    rules_dir = settings.paths.rules
    known_rules = {p.stem for p in rules_dir.glob("*.toml")} if rules_dir.is_dir() else set()
    # Until a rule file exists no id can be checked; afterwards a typo is refused.
    unknown = [r for r in req.rules if known_rules and r not in known_rules]
    if unknown:
        raise InvalidSubscription(f"no rule file for {', '.join(unknown)} in {rules_dir}", "rules")
    board_pack = (req.board_pack or "").strip().lower() or None
    if board_pack is not None and board_pack not in BOARD_PACK_DELIVERIES:
        raise InvalidSubscription(
            f"board_pack: {req.board_pack!r}; use {' or '.join(BOARD_PACK_DELIVERIES)}",
            "board_pack",
        )
    if board_pack is not None and req.channel != channels.EMAIL:
        raise InvalidSubscription("the monthly board pack goes by email only", "board_pack")
    if board_pack is not None and scope != "org":
        raise InvalidSubscription(
            "board packs are one trust's: subscribe to the trust (--org) to receive its pack",
            "board_pack",
        )
    return Request(
        email,
        scope,
        code,
        trust_type,
        req.min_severity,
        tuple(sorted(set(req.rules))),
        req.digest_only,
        board_pack,
        req.channel,
        webhook_url,
    )


def _check_org(session: Session, org: Organisation | None, scope: str, code: str) -> None:
    """Refuse an unknown ICB or organisation, and one that has closed (name its successor)."""
    kinds = ("icb",) if scope == "icb" else ("trust", "other")
    if org is None or org.kind not in kinds:
        what = "ICB" if scope == "icb" else "organisation"
        raise InvalidSubscription(
            f"unknown {what} {code!r}; see `monitor orgs --kind {kinds[0]}` for the codes", "code"
        )
    if org.closed is not None and org.closed <= utcnow().date():
        raise InvalidSubscription(orgs.closed_words(session, org), "code")


def confirmation_expired(sub: Subscription, now: datetime) -> bool:
    """Whether ``sub``'s confirmation link no longer works (CONFIRM_WITHIN after it was added)."""
    added = sub.created_at if sub.created_at.tzinfo else sub.created_at.replace(tzinfo=UTC)
    return now - added > CONFIRM_WITHIN


def _same(sub: Subscription, req: Request) -> bool:
    return (
        sub.email == req.email
        and sub.scope == req.scope
        and sub.code == req.code
        and sub.trust_type == req.trust_type
        and sub.min_severity == req.min_severity
        and tuple(sub.rules or ()) == req.rules
        and sub.digest_only == req.digest_only
        and sub.board_pack == req.board_pack
        and sub.channel == req.channel
    )


def add(
    session: Session,
    settings: Settings,
    req: Request,
    *,
    origin: str = "cli",
    double_opt_in: bool | None = None,
) -> tuple[Subscription, bool]:
    """Add a subscription (validated). Returns (subscription, created).

    An identical active subscription is returned unchanged, unless it still awaits a
    confirmation whose link has expired: that one is ended and replaced, so adding it again
    sends a new link. With double opt-in on (``[subscriptions] double_opt_in``, unless
    ``double_opt_in`` says otherwise), the new subscription waits for confirmation and a
    confirmation email is queued. A chat channel is confirmed at once: only operators add
    one (self-service is email only), and a channel cannot answer a confirmation email.
    """
    req = validate(session, settings, req)
    now = utcnow()
    existing = session.exec(
        select(Subscription).where(
            Subscription.email == req.email,
            col(Subscription.unsubscribed_at).is_(None),
        )
    )
    for sub in list(existing):
        if not _same(sub, req):
            continue
        if sub.confirmed_at is not None or not confirmation_expired(sub, now):
            return sub, False
        sub.unsubscribed_at = now
        session.add(sub)
    sub = Subscription(
        email=req.email,
        scope=req.scope,
        code=req.code,
        trust_type=req.trust_type,
        min_severity=req.min_severity,
        rules=list(req.rules),
        digest_only=req.digest_only,
        board_pack=req.board_pack,
        token=secrets.token_urlsafe(12),
        confirmed_at=None if _opt_in(settings, double_opt_in) and not req.webhook_url else now,
        created_at=now,
        origin=origin,
        channel=req.channel,
        webhook_url=req.webhook_url,
    )
    session.add(sub)
    session.flush()
    if sub.confirmed_at is None:
        session.add(
            Outbox(
                key=keys.confirm(sub.id, sub.email),
                recipient=sub.email,
                kind="confirm",
                payload={"subscriptions": [sub.id]},
                message_id=mime.new_message_id(settings, "confirm"),
                created_at=now,
                next_attempt_at=now,
            )
        )
    return sub, True


def _opt_in(settings: Settings, asked: bool | None) -> bool:
    return settings.subscriptions.double_opt_in if asked is None else asked


def seed(session: Session, settings: Settings) -> dict[str, int]:
    """Add the ``[[subscribers]]`` of config.toml that are not there yet (idempotent).

    A seed someone has since unsubscribed from stays unsubscribed.
    """
    counts = {"added": 0, "unchanged": 0}
    for i, s in enumerate(settings.subscribers):
        scope = next(k for k in SCOPES if getattr(s, k))
        try:
            req = validate(
                session,
                settings,
                Request(
                    email=str(s.email),
                    scope=scope,
                    code=getattr(s, scope),
                    trust_type=s.trust_type,
                    min_severity=s.min_severity,
                    rules=tuple(s.rules),
                    digest_only=s.digest_only,
                    board_pack=s.board_pack,
                ),
            )
        except InvalidSubscription as e:
            raise InvalidSubscription(f"subscribers.{i}: {e}") from None
        seen = session.exec(select(Subscription).where(Subscription.email == req.email))
        if any(_same(sub, req) for sub in seen):
            counts["unchanged"] += 1
            continue
        add(session, settings, req, origin="config")
        counts["added"] += 1
    return counts


def list_subscriptions(
    session: Session, *, email: str | None = None, include_ended: bool = False
) -> list[Subscription]:
    """Subscriptions by address (an email; a chat channel's webhook URL or its recipient, as
    operators' emails name it), then id; active ones only unless ``include_ended``."""
    q = select(Subscription).order_by(col(Subscription.email), col(Subscription.id))
    if email and email.strip().lower().startswith(("https://", "http://")):
        q = q.where(Subscription.webhook_url == email.strip())
    elif email and channels.channel_of(email.strip()) != channels.EMAIL:
        q = q.where(Subscription.email == email.strip())  # a channel's recipient, "teams:5ae8…"
    elif email:
        q = q.where(Subscription.email == normalise_email(email))
    if not include_ended:
        q = q.where(col(Subscription.unsubscribed_at).is_(None))
    return list(session.exec(q))


def remove(
    session: Session,
    email: str,
    *,
    scope: str | None = None,
    code: str | None = None,
) -> list[Subscription]:
    """End an address's (or a webhook URL's) active subscriptions (all, or those of one scope
    and code)."""
    now = utcnow()
    ended = []
    for sub in list_subscriptions(session, email=email):
        if scope and (sub.scope != scope or sub.code != (code or "").strip().upper()):
            continue
        sub.unsubscribed_at = now
        session.add(sub)
        ended.append(sub)
    return ended


def remove_one(session: Session, subscription_id: int) -> Subscription | None:
    """End one subscription by its id (the admin page's remove button).

    Returns the subscription ended, or None when it had already ended (removing twice changes
    nothing); InvalidSubscription when no subscription has that id.
    """
    sub = session.get(Subscription, subscription_id) if 0 < subscription_id < 2**63 else None
    if sub is None:
        raise InvalidSubscription(f"there is no subscription #{subscription_id}", "id")
    if sub.unsubscribed_at is not None:
        return None
    sub.unsubscribed_at = utcnow()
    session.add(sub)
    return sub


def as_dict(sub: Subscription) -> dict[str, Any]:
    """The fields `monitor subscribers list --json` prints (never the token)."""
    return {
        "id": sub.id,
        "email": sub.email,
        "scope": sub.scope,
        "code": sub.code,
        "trust_type": sub.trust_type,
        "min_severity": sub.min_severity,
        "rules": list(sub.rules or []),
        "digest_only": sub.digest_only,
        "board_pack": sub.board_pack,
        "confirmed": sub.confirmed_at is not None,
        "created_at": sub.created_at,
        "unsubscribed_at": sub.unsubscribed_at,
        "origin": sub.origin,
        "paused": sub.paused_at is not None,
        "channel": sub.channel,
        # A webhook URL is a credential: shown cut short, never whole.
        "webhook": channels.shown(sub.webhook_url) if sub.webhook_url else None,
    }


def state_of(sub: Subscription) -> str:
    """A subscription's state in words: ended, awaiting confirmation, paused or active."""
    if sub.unsubscribed_at is not None:
        return "ended"
    if sub.confirmed_at is None:
        return "awaiting confirmation"
    return "paused" if sub.paused_at is not None else "active"


def receiving(sub: Subscription) -> bool:
    """Whether ``sub`` is sent anything: confirmed, not ended and not paused."""
    return sub.confirmed_at is not None and sub.unsubscribed_at is None and sub.paused_at is None


def active(session: Session, ids: Sequence[int] | None = None) -> list[Subscription]:
    """Subscriptions that are sent alerts and digests: confirmed, not ended, not paused (all,
    or those of ``ids``)."""
    q = select(Subscription).where(
        col(Subscription.unsubscribed_at).is_(None),
        col(Subscription.confirmed_at).is_not(None),
        col(Subscription.paused_at).is_(None),
    )
    if ids is not None:
        q = q.where(col(Subscription.id).in_(ids))
    return list(session.exec(q.order_by(col(Subscription.id))))
