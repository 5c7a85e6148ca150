"""What the evaluator finds for one (rule, organisation): the state per period and its evidence.

A finding is a plain value. States are kept as a string, one letter per period (``o`` ok,
``p`` pending, ``f`` firing), because a pack over thousands of organisations builds hundreds of
thousands of them; ``state_names`` and ``evidence`` spell them out when someone asks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from monitor import orgs as orgs_ref
from monitor.rules import conditions as cond
from monitor.rules.inputs import History, Point, RatingRecord, Series
from monitor.rules.model import ChangeRule, RankRule, Rule, ThresholdRule, TrendRule
from monitor.rules.states import FIRING, OK, PENDING

STATE_NAMES = {OK: "ok", PENDING: "pending", FIRING: "firing"}
LAST_N = 12
_EPISODES = re.compile(r"[pf]+")


@dataclass(frozen=True, slots=True)
class Episode:
    """A run of pending/firing periods in a finding's history."""

    first: date
    last: date
    periods: int
    fired: bool


@dataclass(slots=True, eq=False)
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
    extra: Mapping[str, Any] | None = None  # kind-specific evidence (components, calendar ...)
    ratings: Sequence[RatingRecord] | None = None  # per period, the rating that decided it

    @property
    def state(self) -> str:
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

    def state_names(self) -> list[str]:
        return [STATE_NAMES[s] for s in self.states]

    def index(self, start: date) -> int | None:
        for i in range(len(self.periods) - 1, -1, -1):
            if self.periods[i] == start:
                return i
            if self.periods[i] < start:
                return None
        return None

    def state_at(self, start: date) -> str | None:
        """The state at the period starting ``start`` (None if it was not evaluated)."""
        i = self.index(start)
        return None if i is None else STATE_NAMES[self.states[i]]

    def open_between(self, first: date, last: date) -> bool:
        """True when any period from ``first`` to ``last`` is pending or firing."""
        return any(
            s != OK for p, s in zip(self.periods, self.states, strict=True) if first <= p <= last
        )

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

    def evidence(self) -> dict[str, Any]:
        """Everything an alert shows about its latest period, as JSON-ready values."""
        rule, i = self.rule, len(self.periods) - 1
        metric = rule.catalogue
        point = self.point
        threshold, clear = self.threshold_at(i)
        episodes = self.episodes()
        earlier = [e for e in episodes if not (self.first >= 0 and e.first == self.first_period)]
        out: dict[str, Any] = {
            "rule": rule.id,
            "rule_version": rule.version,
            "kind": rule.kind,
            "metric": rule.metric,
            "direction": metric.direction.value if metric else None,
            "unit": metric.unit if metric else None,
            "state": self.state,
            "period_start": self.period_start.isoformat(),
            "period_end": point.period_end.isoformat() if point else None,
            "value": self.value,
            "label": point.label if point else None,
            "numerator": point.numerator if point else None,
            "denominator": point.denominator if point else None,
            "threshold": threshold,
            "clear": clear,
            "consecutive_periods": self.consecutive,
            "first_period": self.first_period.isoformat() if self.first_period else None,
            "previous_episodes": len(earlier),
            "previous_episode_end": earlier[-1].last.isoformat() if earlier else None,
            "publication_id": self.publication_id,
            "revised": self.revised,
            "last_12": [
                {"period": p.isoformat(), "value": v}
                for p, v in zip(self.periods[-LAST_N:], self.values[-LAST_N:], strict=True)
            ],
        }
        if isinstance(rule, ThresholdRule):
            level = cond.threshold_at(rule, self.period_start)
            sources = [lv.source for lv in rule.effective_levels() if lv.value == level[0]]
            out["threshold_source"] = sources[-1] if sources else rule.source
        out.update(self._benchmarks())
        if self.ratings:
            r = self.ratings[-1]
            out.update(
                label=r.rating,
                subject=r.subject,
                subject_type=r.subject_type,
                service=r.service,
                domain=r.domain,
                inherited=r.inherited,
                report_date=r.report_date.isoformat(),
                publication_id=r.publication_id,
            )
        if self.extra:
            out.update(self.extra)
        return out

    def _benchmarks(self) -> dict[str, Any]:
        if self.history is None or self.rule.metric is None:
            return {"england": None, "region": None}
        start = self.period_start
        eng = self.history.series(self.rule.metric, orgs_ref.ENGLAND)
        region = None
        if self.region:
            s = self.history.series(self.rule.metric, self.region)
            region = {"code": self.region, "value": s.value_at(start) if s else None}
        return {"england": eng.value_at(start) if eng else None, "region": region}
