"""Links to the status page, built in one place from ``[web] base_url`` and DESIGN.md's routes.

Emails, feeds, the CSV export and the API document link to the status page through
:class:`Urls`; inside the web app's own templates, Flask's ``url_for`` builds relative links
to the same routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


def _part(value: object) -> str:
    """One path segment, escaped (codes and tokens are URL-safe already; this keeps it so)."""
    return quote(str(value), safe="")


@dataclass(frozen=True, slots=True)
class Urls:
    """The status page's absolute URLs under ``base`` (an http(s) URL without a final slash)."""

    base: str

    def home(self) -> str:
        """The front page: open alerts by region and trust."""
        return f"{self.base}/"

    def org(self, code: str) -> str:
        """An organisation's page."""
        return f"{self.base}/orgs/{_part(code)}"

    def alert(self, alert_id: int | None) -> str:
        """One alert: its evidence and timeline."""
        return f"{self.base}/alerts/{_part(alert_id)}"

    def sources(self) -> str:
        """Where the figures come from and each publisher's health."""
        return f"{self.base}/sources"

    def unsubscribe(self, token: str) -> str:
        """The one-click unsubscribe link of a signed token (RFC 8058)."""
        return f"{self.base}/unsubscribe/{_part(token)}"

    def confirm(self, token: str) -> str:
        """The double opt-in confirmation link of a signed token."""
        return f"{self.base}/confirm/{_part(token)}"

    def manage(self, token: str) -> str:
        """A subscriber's page for changing, pausing or ending their subscriptions."""
        return f"{self.base}/subscriptions/{_part(token)}"

    def region_feed(self, code: str) -> str:
        """The Atom feed of a region's alert events."""
        return f"{self.base}/feeds/regions/{_part(code)}.atom"

    def org_feed(self, code: str) -> str:
        """The Atom feed of an organisation's alert events."""
        return f"{self.base}/feeds/orgs/{_part(code)}.atom"

    def api(self) -> str:
        """The JSON API's root (the OpenAPI document's server)."""
        return f"{self.base}/api/v1"
