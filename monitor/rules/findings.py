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
from typing import TYPE_CHECKING, Any, TypedDict

from monitor.metrics import Granularity
from monitor.rules import conditions as cond
from monitor.rules.inputs import History, OrgContext, Point, RatingRecord, Series
from monitor.rules.model import (
    ChangeRule,
    RankRule,
    Rule,
    SpcRule,
    StaleRule,
    ThresholdRule,
    TrendRule,
)
from monitor.rules.states import FIRING, OK, PENDING, run_states
from monitor.vocab import FindingState

if TYPE_CHECKING:
    from monitor.rules.peers import Peers

STATE_NAMES = {OK: FindingState.OK, PENDING: FindingState.PENDING, FIRING: FindingState.FIRING}
# A combined rule's part for one period, in words: firing, not firing, or no figure published.
PART_STATES: dict[bool | None, str] = {
    True: FindingState.FIRING,
    False: "not firing",
    None: "no figure",
}
LAST_N = 12
_EPISODES = re.compile(r"[pf]+")


@dataclass(frozen=True, slots=True)
class Episode:
    """A run of pending/firing periods in a finding's history."""

    first: date
    last: date
    periods: int
    fired: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Persistence:
    """How long an episode has lasted, counted at one of its breaching periods.

    A period without a figure neither counts nor ends an episode (missing data never resolves
    an alert), but it does end a run of ``consecutive`` periods: "in breach for 14 months" over
    a year with 10 unpublished months is 14 of 24, not 14 in a row.
    """

    first: date  # the episode's first breaching period
    last: date  # the breaching period it is counted at
    periods: int  # breaching periods in the episode up to ``last``
    consecutive: int  # adjacent breaching periods ending with ``last``
    span: int  # the metric's periods from ``first`` to ``last``, with or without a figure


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
    parts: tuple[Finding, ...]  # all_of / any_of: the findings of the rules combined
    publication_id: int  # the publication behind the finding when no figure of its own is


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
    peers: Peers | None = None  # the trusts of the same type, for the peer position
    trust_type: str | None = None

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
        """The publication behind the latest figure (see :meth:`publication_at`)."""
        return self.publication_at(-1)

    def publication_at(self, i: int) -> int | None:
        """The publication behind period ``i``'s figure (or rating); for a combined rule, the
        latest-published one of its parts' figures for the period; for a missing figure, the
        publication that published the latest period for others."""
        i %= len(self.periods)
        point = self.points[i] if self.points else None
        if point is not None:
            return point.publication_id
        if self.extra and "publication_id" in self.extra:
            return self.extra["publication_id"]
        if self.ratings:
            return self.ratings[i].publication_id
        figures = [p for p in self.parts_at(self.periods[i]) if p is not None]
        if figures:
            latest = max(figures, key=lambda p: (p.published_at or date.min, p.publication_id or 0))
            return latest.publication_id
        return None

    @property
    def parts(self) -> tuple[Finding, ...]:
        """The findings a combined rule combines (empty for other kinds)."""
        return self.extra.get("parts", ()) if self.extra else ()

    def parts_at(self, start: date) -> list[Point | None]:
        """Each part's figure for the period starting ``start`` (None: no figure)."""
        out: list[Point | None] = []
        for part in self.parts:
            k = part.index(start)
            out.append(part.points[k] if k is not None and part.points else None)
        return out

    @property
    def granularity(self) -> Granularity:
        """The length of the finding's periods: its metric's, its parts' for a combined rule,
        a day for a late publisher (a month when none says)."""
        if isinstance(self.rule, StaleRule) and self.rule.mode == "late":
            return Granularity.POINT  # the day the awaited publication was due
        metric = self.rule.catalogue or next((p.rule.catalogue for p in self.parts), None)
        return metric.granularity if metric else Granularity.MONTH

    def persistence(self, i: int = -1) -> Persistence | None:
        """The episode that period ``i`` belongs to, counted up to ``i``; None when ok."""
        i %= len(self.periods)
        if self.states[i] == OK:
            return None
        start = i
        while start > 0 and self.states[start - 1] != OK:
            start -= 1
        periods = i - start + 1
        if i == len(self.periods) - 1 and self.consecutive:
            # The state machine's own count: held-over periods with no assessable figure
            # (too small a denominator) carry the state but do not count.
            periods = min(periods, self.consecutive)
        step = cond.months_of(self.granularity)
        run = 1
        while (
            step
            and run < periods
            and cond.shift_months(self.periods[i - run], step) == self.periods[i - run + 1]
        ):
            run += 1
        first, last = self.periods[start], self.periods[i]
        months = (last.year - first.year) * 12 + last.month - first.month
        return Persistence(
            first=first,
            last=last,
            periods=periods,
            consecutive=run if step else periods,
            span=months // step + 1 if step else periods,
        )

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

    def firing_at(self, start: date) -> bool | None:
        """Whether the finding fires for the period starting ``start``; None without a figure."""
        i = self.index(start)
        return None if i is None else self.states[i] == FIRING

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
        if isinstance(rule, SpcRule):
            return rule.worse_than, None
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


def found(
    rule: Rule,
    org: str,
    periods: Sequence[date],
    codes: str,
    values: Sequence[float | None],
    **context: Any,
) -> Finding:
    """The finding of ``rule`` for ``org`` from one condition code per period; ``context``
    holds the finding's other fields (points, series, history, region, extra, ratings)."""
    states, run, first = run_states(codes, rule.for_periods)
    return Finding(
        rule=rule,
        org=org,
        periods=periods,
        states=states,
        consecutive=run,
        first=first,
        values=values,
        **context,
    )


def series_finding(
    rule: Rule,
    ctx: OrgContext,
    history: History,
    series: Series,
    codes: str,
    peers: Peers | None = None,
    extra: KindFacts | None = None,
) -> Finding:
    """The finding of a rule over one organisation's series of figures."""
    return found(
        rule,
        ctx.code,
        series.starts,
        codes,
        series.values,
        points=series.points,
        series=series,
        history=history,
        region=ctx.region,
        peers=peers,
        trust_type=ctx.trust_type,
        extra=extra,
    )
