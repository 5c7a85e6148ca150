"""The alert filters shared by the home page, the JSON API and the CSV export."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import col
from werkzeug.datastructures import MultiDict

from monitor.config import REGION_CODES
from monitor.metrics import METRICS
from monitor.models import Alert, Organisation
from monitor.vocab import SEVERITIES, STATE_FILTERS, AlertState

PER_PAGE = 100
MAX_PAGE = 10_000
_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# Around the values of one argument, separated by commas: spaces and tabs (what the API
# document's patterns allow: monitor/web/openapi.py).
SPACES = " \t"
CODE_PATTERN = "[A-Za-z0-9_.\\-]{1,64}"


class BadFilter(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True, kw_only=True)
class AlertFilter:
    """Which alerts to show. Several values of one filter match any of them."""

    region: tuple[str, ...] = ()
    icb: tuple[str, ...] = ()
    trust: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    rule: tuple[str, ...] = ()
    metric: tuple[str, ...] = ()
    state: str = "open"
    page: int = 1

    @property
    def states(self) -> tuple[AlertState, ...]:
        return STATE_FILTERS[self.state]

    def without_region(self) -> AlertFilter:
        return replace(self, region=())

    def apply(self, q: Any) -> Any:
        """Add the WHERE clauses to a query over Alert joined to Organisation."""
        q = q.where(col(Alert.state).in_(self.states))
        if self.region:
            q = q.where(col(Organisation.region).in_(self.region))
        if self.icb:
            q = q.where(col(Organisation.icb).in_(self.icb))
        if self.trust:
            q = q.where(col(Alert.org).in_(self.trust))
        if self.severity:
            q = q.where(col(Alert.severity).in_(self.severity))
        if self.rule:
            q = q.where(col(Alert.rule).in_(self.rule))
        if self.metric:
            q = q.where(col(Alert.metric).in_(self.metric))
        return q

    def query_args(self, **change: Any) -> dict[str, Any]:
        """The filters as URL query arguments (for links to other pages of the same list)."""
        args: dict[str, Any] = {
            k: list(getattr(self, k))
            for k in ("region", "icb", "trust", "severity", "rule", "metric")
            if getattr(self, k)
        }
        if self.state != "open":
            args["state"] = self.state
        if self.page != 1:
            args["page"] = self.page
        args.update(change)
        if args.get("page") == 1:
            del args["page"]
        return {k: v for k, v in args.items() if v not in (None, "", [])}

    @property
    def active(self) -> bool:
        return any((self.region, self.icb, self.trust, self.severity, self.rule, self.metric))


def _values(args: MultiDict[str, str], name: str, *, upper: bool = False) -> tuple[str, ...]:
    out: list[str] = []
    for raw in args.getlist(name):
        for v in raw.split(","):
            v = v.strip(SPACES)
            if not v:
                continue  # an empty <select> choice means "any"
            if not _CODE.match(v):
                raise BadFilter(f"{name}: {v[:40]!r} is not a code")
            out.append(v.upper() if upper else v)
    return tuple(dict.fromkeys(out))


def parse(
    args: MultiDict[str, str], *, allow_state: bool = True, blank_page: bool = True
) -> AlertFilter:
    """Filters from query arguments; raises BadFilter naming the argument. ``blank_page``:
    an empty ``page`` (as a form sends it) means the first; the API, whose document says a
    page is an integer, refuses it."""
    region = _values(args, "region", upper=True)
    bad = [r for r in region if r not in REGION_CODES]
    if bad:
        raise BadFilter(f"region: unknown {', '.join(bad)}; use {', '.join(REGION_CODES)}")
    severity = tuple(s.lower() for s in _values(args, "severity"))
    bad = [s for s in severity if s not in SEVERITIES]
    if bad:
        raise BadFilter(f"severity: unknown {', '.join(bad)}; use {', '.join(SEVERITIES)}")
    state = args.get("state", "open") if allow_state else "open"
    if state not in STATE_FILTERS:
        raise BadFilter(f"state: use {', '.join(STATE_FILTERS)}")
    metric = _values(args, "metric")
    bad = [m for m in metric if m not in METRICS]
    if bad:
        raise BadFilter(f"metric: unknown {', '.join(b[:40] for b in bad)}; see the metric ids")
    page_raw = args.get("page", "1")
    if not page_raw and not blank_page:
        raise BadFilter("page: empty; give a page number from 1, or leave page out")
    page_raw = page_raw or "1"
    if not page_raw.isascii() or not page_raw.isdigit():
        raise BadFilter(f"page: {page_raw[:20]!r} is not a number")
    page = int(page_raw) if len(page_raw) <= 9 else MAX_PAGE + 1
    if not 1 <= page <= MAX_PAGE:
        raise BadFilter(f"page: must be between 1 and {MAX_PAGE}")
    return AlertFilter(
        region=region,
        icb=_values(args, "icb", upper=True),
        trust=_values(args, "trust", upper=True),
        severity=severity,
        rule=_values(args, "rule"),
        metric=metric,
        state=state,
        page=page,
    )
