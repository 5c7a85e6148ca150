"""What the evaluator finds for one (rule, organisation): the state per period and its evidence.

A finding is a plain value. States are kept as a string, one letter per period (``o`` ok,
``p`` pending, ``f`` firing), because a pack over thousands of organisations builds hundreds of
thousands of them; ``state`` and ``state_names`` spell them out when someone asks. The evidence
an alert event records is built from a finding by rules/evidence.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypedDict

from monitor.rules import conditions as cond
from monitor.rules.inputs import History, Point, RatingRecord, Series
from monitor.rules.model import ChangeRule, RankRule, Rule, ThresholdRule, TrendRule
from monitor.rules.states import FIRING, OK, PENDING
from monitor.vocab import FindingState

STATE_NAMES = {OK: FindingState.OK, PENDING: FindingState.PENDING, FIRING: FindingState.FIRING}
LAST_N = 12
_EPISODES = re.compile(r"[pf]+")


@dataclass(frozen=True, slots=True)
class Episode:
    """A run of pending/firing periods in a finding's history."""

    first: date
    last: date
    periods: int
    fired: bool


class KindFacts(TypedDict, total=False):
    """What only some rule kinds find, for the evidence (docs/evidence.md)."""

    last_figure_period: date  # stale, mode "missing": the organisation's latest figure
    missing_periods: int
    publisher: str  # stale, mode "late": the publisher and its calendar
    expected_next: date
    grace_days: int
    latest_period: date | None
    days_late: int
    components: dict[str, str]  # all_of / any_of: each part's state


@dataclass(slots=True, eq=False, kw_only=True)
class Finding:
    """The evaluated state of one rule for one organisation, period by period.

    Read-only by convention: not a frozen dataclass, because a frozen dataclass sets each field
    through object.__setattr__, and an evaluation builds hundreds of thousands of findings.
    """

    rule: Rule
    org: str
    periods: Sequence[date]  # period starts, oldest first
    states: str  # one of o/p/f per period
    consecutive: int  # periods in the current episode (0 when ok)
    first: int  # index of the current episode's first period (-1 when ok)
    values: Sequence[float | None]  # the figure per period (None: no figure, or combined)
    points: Sequence[Point | None] | None = None  # the observation behind each figure
    series: Series | None = None
    history: History | None = None  # for England and regional figures in the evidence
    region: str | None = None
    extra: KindFacts | None = None  # kind-specific evidence (components, calendar ...)
    ratings: Sequence[RatingRecord] | None = None  # per period, the rating that decided it

    @property
    def state(self) -> FindingState:
        """ok, pending or firing at the latest period."""
        return STATE_NAMES[self.states[-1]]

    @property
    def period_start(self) -> date:
        return self.periods[-1]

    @property
    def first_period(self) -> date | None:
        return self.periods[self.first] if self.first >= 0 else None

    @property
    def value(self) -> float | None:
        return self.values[-1]

    @property
    def point(self) -> Point | None:
        return self.points[-1] if self.points else None

    @property
    def publication_id(self) -> int | None:
        """The publication behind the latest figure (or rating)."""
        if self.points:
            p = self.points[-1]
            return p.publication_id if p else None
        if self.ratings:
            return self.ratings[-1].publication_id
        return None

    @property
    def revised(self) -> bool:
        """True when the latest figure replaced an earlier published version."""
        return self.series is not None and (len(self.series.starts) - 1) in self.series.revised

    def state_names(self) -> list[FindingState]:
        return [STATE_NAMES[s] for s in self.states]

    def index(self, start: date) -> int | None:
        for i in range(len(self.periods) - 1, -1, -1):
            if self.periods[i] == start:
                return i
            if self.periods[i] < start:
                return None
        return None

    def first_clear_after(self, start: date) -> date | None:
        """The first ok period after ``start``: the data that cleared an episode."""
        for p, s in zip(self.periods, self.states, strict=True):
            if p > start and s == OK:
                return p
        return None

    def episodes(self) -> list[Episode]:
        """Every run of pending/firing periods, oldest first (the last may still be open)."""
        return [
            Episode(
                self.periods[m.start()],
                self.periods[m.end() - 1],
                m.end() - m.start(),
                FIRING in m.group(),
            )
            for m in _EPISODES.finditer(self.states)
        ]

    def threshold_at(self, i: int) -> tuple[float | None, float | None]:
        """(threshold, hysteresis level) in force for period ``i``."""
        rule = self.rule
        metric = rule.catalogue
        if isinstance(rule, ThresholdRule):
            return cond.threshold_at(rule, self.periods[i])
        if metric is None or self.series is None:
            return None, None
        if isinstance(rule, RankRule):
            if rule.at_or_beyond is not None:
                return float(rule.at_or_beyond), rule.clear
            if rule.bottom is not None:
                p = self.series.points[i]
                return cond.bottom_cutoff(rule, metric, p.denominator), None
            return None, None
        if isinstance(rule, ChangeRule):
            earlier = cond.comparator(rule, metric, self.series, i)
            return (None if earlier is None else cond.change_level(rule, metric, earlier)), None
        if isinstance(rule, TrendRule) and i > 0:
            return self.series.values[i - 1], None
        return None, None

    @property
    def threshold(self) -> float | None:
        """The threshold in force at the latest period."""
        return self.threshold_at(len(self.periods) - 1)[0]
