"""Where a subscription's messages go: email, or a chat channel reached by a webhook URL.

A chat subscription's recipient (``subscription.email`` and ``outbox.recipient``) is not its
URL but ``<channel>:<first 16 hex digits of the URL's SHA-256>``: webhook URLs carry their own
credentials (anyone holding a Slack or Teams webhook URL can post to the channel), so they stay
in ``subscription.webhook_url`` and never appear in outbox keys, logs or operator emails. Two
subscriptions posting to the same URL share a recipient, so the channel gets one message per
publication, as an address gets one email.
"""

from __future__ import annotations

import hashlib
import ipaddress
from urllib.parse import urlsplit

EMAIL = "email"
TEAMS = "teams"
SLACK = "slack"
WEBHOOK = "webhook"
CHANNELS = (EMAIL, TEAMS, SLACK, WEBHOOK)
CHAT = (TEAMS, SLACK, WEBHOOK)
TITLES = {
    EMAIL: "Email",
    TEAMS: "Microsoft Teams",
    SLACK: "Slack",
    WEBHOOK: "Webhook (signed JSON)",
}
# Plain http is allowed only to this machine: a local relay, or a test's stand-in server.
_LOOPBACK_NAMES = {"localhost"}


class InvalidWebhook(ValueError):
    """A webhook URL that cannot be used; the message says why."""


def recipient_for(channel: str, url: str) -> str:
    """The recipient a chat subscription's messages are queued for (see the module)."""
    return f"{channel}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def channel_of(recipient: str) -> str:
    """The channel an outbox recipient belongs to (an email address: ``email``)."""
    head, sep, _ = recipient.partition(":")
    return head if sep and head in CHAT else EMAIL


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_url(url: str) -> str:
    """The webhook URL, stripped, or InvalidWebhook.

    It must be https (the message and the URL's own credentials travel in it), except to a
    loopback address (127.0.0.1, ::1, localhost), where nothing leaves the machine.
    """
    url = url.strip()
    if not url:
        raise InvalidWebhook("a chat channel needs its webhook URL")
    if any(c.isspace() for c in url) or len(url) > 2000:
        raise InvalidWebhook(f"{url[:80]!r} is not a webhook URL")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise InvalidWebhook(f"{url[:80]!r} is not a webhook URL: it has no host")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _loopback(host):
        return url
    if parts.scheme == "http":
        raise InvalidWebhook(
            "a webhook URL must start with https:// (plain http only to 127.0.0.1)"
        )
    raise InvalidWebhook(f"a webhook URL must start with https://, not {parts.scheme or '(none)'}")


def shown(url: str) -> str:
    """A webhook URL as pages and listings show it: its scheme and host only, because its
    path and query are the channel's credential ("https://hooks.slack.com/…")."""
    parts = urlsplit(url)
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{rest}"
