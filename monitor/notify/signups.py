"""Self-service sign-ups (the status page's /subscribe): allowed domains, limits, double opt-in.

Anyone may ask for alerts, so a sign-up is held to more than an operator's ``add``:

1. the address's domain must be allowed (``[subscriptions] allowed_domains``; empty allows all);
2. limits per address (waiting confirmations, sign-ups a day) and per client (sign-ups an
   hour), counted in the database (``SignupAttempt``) so that they hold across processes;
3. the subscription always waits for confirmation by email, whatever ``[subscriptions]
   double_opt_in`` says, and nothing but that one confirmation email goes to the address
   until it is confirmed.

Whether the address already had the subscription is never told to the person asking: the
caller shows the same "check your email" page either way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, text
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.models import SignupAttempt, Subscription, utcnow
from monitor.notify import channels
from monitor.notify import subscriptions as subs

ORIGIN = "self-service"  # Subscription.origin of sign-ups from /subscribe
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
ATTEMPTS_KEPT = 2 * DAY  # longer than any window counted
UNKNOWN_CLIENT = "unknown"
# PostgreSQL: one transaction-scoped advisory lock serialises sign-ups, so two requests at the
# same moment cannot both pass a limit. ("signup" as a 64-bit integer; SQLite's BEGIN IMMEDIATE
# already serialises writers.)
_ADVISORY_KEY = int.from_bytes(b"signup\x00\x00", "big")


class TooManySignups(subs.InvalidSubscription):
    """A sign-up over one of the limits; the message says which and what to do."""


@dataclass(frozen=True)
class SignedUp:
    """What a sign-up did. ``created`` is False when the address already had it (waiting or
    confirmed): for tests and logs only, never for the person asking."""

    subscription: Subscription
    created: bool


def email_domain(address: str) -> str:
    """The domain of an address, lower case and in ASCII (IDNA), as allowed_domains holds it."""
    try:
        return validate_email(address, check_deliverability=False).ascii_domain.lower()
    except EmailNotValidError:
        return address.rpartition("@")[2].strip().lower()


def domain_allowed(domain: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``domain`` is one of ``allowed`` or a subdomain of one (empty allows all).

    Subdomains are allowed because NHS organisations' addresses live under them
    (``qehkl.nhs.uk`` under ``nhs.uk``); the match is on whole labels, so ``evilnhs.net`` is
    not under ``nhs.net``.
    """
    if not allowed:
        return True
    return any(domain == d or domain.endswith("." + d) for d in allowed)


def client_key(remote_addr: str | None) -> str:
    """What the per-client limit counts: the IP address, or an IPv6 address's /64 network
    (one household or office is given a whole /64, so single addresses are free to rotate)."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return UNKNOWN_CLIENT
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _check_domain(settings: Settings, email: str) -> None:
    allowed = settings.subscriptions.allowed_domains
    if not domain_allowed(email_domain(email), allowed):
        raise subs.InvalidSubscription(
            "Sign-ups here are open to email addresses at "
            + " or ".join(allowed)
            + " (and their subdomains) only",
            "email",
        )


def _check_limits(
    session: Session, settings: Settings, email: str, client: str, now: datetime
) -> None:
    """Refuse (TooManySignups) a sign-up over a limit of ``[subscriptions]``."""
    limits = settings.subscriptions
    attempts = select(func.count(col(SignupAttempt.id)))
    recent_client = attempts.where(SignupAttempt.client == client, SignupAttempt.at > now - HOUR)
    if session.exec(recent_client).one() >= limits.signups_per_client_per_hour:
        raise TooManySignups(
            "There have been too many sign-ups from your network in the last hour. "
            "Try again in an hour.",
            "email",
        )
    today = attempts.where(SignupAttempt.email == email, SignupAttempt.at > now - DAY)
    waiting = select(func.count(col(Subscription.id))).where(
        Subscription.email == email,
        Subscription.origin == ORIGIN,
        col(Subscription.confirmed_at).is_(None),
        col(Subscription.unsubscribed_at).is_(None),
        Subscription.created_at > now - subs.CONFIRM_WITHIN,
    )
    if (
        session.exec(today).one() >= limits.signups_per_address_per_day
        or session.exec(waiting).one() >= limits.pending_per_address
    ):
        # One message for both: it says nothing about what the address is subscribed to.
        raise TooManySignups(
            "There have been too many sign-ups for this email address. Confirm the ones "
            "already sent to it, or try again tomorrow.",
            "email",
        )


def _serialise(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})


def sign_up(
    session: Session,
    settings: Settings,
    req: subs.Request,
    *,
    client: str,
    now: datetime | None = None,
) -> SignedUp:
    """A self-service sign-up, in the caller's transaction (open it with ``write=True``).

    0. refuse a chat channel (self-service is email only);
    1. validate the request as ``subscriptions.add`` does (InvalidSubscription);
    2. refuse a domain ``allowed_domains`` does not allow (InvalidSubscription, field email);
    3. refuse a sign-up over a limit (TooManySignups);
    4. record the attempt (and forget those older than two days);
    5. add the subscription, waiting for confirmation, with its one confirmation email; an
       identical one the address already has is left as it is and nothing is sent.
    """
    now = now or utcnow()
    if req.channel != channels.EMAIL or req.webhook_url:
        # A chat channel cannot confirm by email, and its URL is a credential operators hold.
        raise subs.InvalidSubscription(
            "signing up yourself is by email only; ask an operator to add a chat channel",
            "channel",
        )
    req = subs.validate(session, settings, req)
    _check_domain(settings, req.email)
    _serialise(session)
    _check_limits(session, settings, req.email, client, now)
    session.execute(delete(SignupAttempt).where(col(SignupAttempt.at) < now - ATTEMPTS_KEPT))
    session.add(SignupAttempt(email=req.email, client=client, at=now))
    sub, created = subs.add(session, settings, req, origin=ORIGIN, double_opt_in=True)
    return SignedUp(sub, created)
