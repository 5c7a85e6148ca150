"""A board pack's month: parsed from ``YYYY-MM``, its bounds, the month before it, and the
month a pack produced at a given moment is for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from monitor.periods import period_label
from monitor.rules.conditions import shift_months
from monitor.sources.base import month_bounds
from monitor.vocab import LONDON

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BadMonth(ValueError):
    """A month that is not ``YYYY-MM``; the message says what was given."""


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month: the period a board pack reports on."""

    start: date

    @classmethod
    def parse(cls, text: str) -> Month:
        m = _MONTH.match(text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
            raise BadMonth(f"month: {text[:20]!r} is not a month as YYYY-MM (e.g. 2025-08)")
        return cls(date(int(m.group(1)), int(m.group(2)), 1))

    @classmethod
    def of(cls, d: date) -> Month:
        return cls(d.replace(day=1))

    @property
    def end(self) -> date:
        return month_bounds(self.start.year, self.start.month)[1]

    @property
    def previous(self) -> Month:
        return Month(shift_months(self.start, -1))

    @property
    def key(self) -> str:
        """``2025-08``: the month in links, file names and idempotency keys."""
        return f"{self.start:%Y-%m}"

    @property
    def label(self) -> str:
        """``August 2025``."""
        return period_label(self.start)


def due(now: datetime) -> Month:
    """The month whose pack is produced at ``now`` (London time): on a month's last day,
    after the last of its publications, that month; on any other day, the month before (a
    run missed at the month's end is made up the next time the job runs)."""
    local = now.astimezone(LONDON).date()
    month = Month.of(local)
    return month if local == month.end else month.previous
