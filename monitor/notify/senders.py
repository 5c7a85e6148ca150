"""Posting chat messages: one HTTPS POST per message to the subscription's webhook URL.

Teams, Slack and generic webhooks take a JSON body and answer with an HTTP status, so one
small sender serves all three (docs/notifications.md says why this is not Apprise). Outcomes
map onto the outbox's as the SMTP transport's do (:class:`SendFailure`):

- a 2xx answer: sent;
- 429 (too many requests), a 5xx answer, a timeout or a refused connection: try again later
  with backoff (after ``Retry-After`` when the service gives one);
- any other 4xx (a deleted webhook, a malformed card) or a redirect: failed for good, with
  the status and the start of the answer, shown to operators.

A generic webhook's body is signed: ``X-Monitor-Signature: sha256=<hex>``, the HMAC-SHA256
of ``<X-Monitor-Timestamp>.<body>`` with the secret in the environment variable ``[chat]
webhook_secret_env`` names. ``X-Monitor-Key`` carries the outbox key, the same on every
attempt, so a receiver can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

import requests

from monitor.config import Settings
from monitor.notify import channels
from monitor.notify.transports import SendFailure

SIGNATURE = "X-Monitor-Signature"
TIMESTAMP = "X-Monitor-Timestamp"
KEY = "X-Monitor-Key"
MAX_RETRY_AFTER = 3600.0  # seconds: a longer Retry-After is capped, as the backoff is


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After", "").strip()
    if raw.isdigit():
        return min(float(raw), MAX_RETRY_AFTER)
    return None


class ChatSender:
    """Posts chat messages for one delivery run (one HTTP session, connections reused)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "nhs-trust-monitor"

    def headers(self, channel: str, body: bytes, key: str) -> dict[str, str]:
        """The request's headers; a generic webhook's are signed. SendFailure (temporary)
        when the signing secret's variable is not set: every webhook would fail alike."""
        out = {"Content-Type": "application/json; charset=utf-8"}
        if channel != channels.WEBHOOK:
            return out
        name = self.settings.chat.webhook_secret_env
        secret = self.settings.env(name)
        if not secret:
            raise SendFailure(
                f"[chat] webhook_secret_env names {name} for signing webhooks, "
                "but the environment does not set it",
                permanent=False,
            )
        stamp = str(int(self.clock()))
        return out | {KEY: key, TIMESTAMP: stamp, SIGNATURE: sign(secret.encode(), stamp, body)}

    def post(self, channel: str, url: str, body: bytes, *, key: str) -> None:
        """Deliver one message; raises SendFailure."""
        what = channels.TITLES.get(channel, channel)
        try:
            r = self.http.post(
                url,
                data=body,
                headers=self.headers(channel, body, key),
                timeout=self.settings.chat.timeout_seconds,
                allow_redirects=False,  # a redirected POST would become a GET elsewhere
            )
        except requests.RequestException as e:
            # The URL is the channel's credential: the error names it cut short.
            text = str(e).replace(url, channels.shown(url))
            raise SendFailure(
                f"{what}: cannot reach the webhook: {type(e).__name__}: {text}"[:500],
                permanent=False,
            ) from None
        if 200 <= r.status_code < 300:
            return
        answer = " ".join(r.text.split())[:300]
        reason = f"{what} answered {r.status_code} {r.reason or ''}".rstrip()
        reason += f": {answer}" if answer else ""
        if r.status_code == 429 or r.status_code >= 500:
            raise SendFailure(reason, permanent=False, retry_after=_retry_after(r.headers))
        if 300 <= r.status_code < 400:
            reason += "; the webhook has moved: add the subscription again with its new URL"
        raise SendFailure(reason, permanent=True)

    def close(self) -> None:
        self.http.close()
