"""The evaluator's inputs as plain values: observations, organisations, ratings, calendars.

``History.from_points`` groups observations into one ``Series`` per (metric, organisation) and
resolves versions: given every version of every figure, it keeps for each period the latest one
published on or before ``as_of``. The live path passes current figures only and no ``as_of``;
``monitor evaluate --as-of`` passes all versions and the date. Either way the evaluator sees one
figure per period, as it was known.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from operator import attrgetter, lt

from monitor import orgs as orgs_ref


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One published figure (one version of an Observation row)."""

    org: str
    metric: str
    period_start: date
    period_end: date
    value: float
    numerator: float | None = None
    denominator: float | None = None
    label: str | None = None
    publication_id: int | None = None
    published_at: date | None = None  # the publication's date (a date, not a datetime)
    # Set when the organisation had no figure for the period and the rule's ``absent`` key
    # made one from the companion metric published for it (the companion's publication).
    inferred_from: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgContext:
    """What a rule's scope looks at: the organisation's code, kind, type and region."""

    code: str
    kind: str = "trust"  # trust | other | icb | region | england
    trust_type: str | None = None
    region: str | None = None  # Y56..Y63
    name: str = ""
    closed: date | None = None  # no figures are expected for periods after it closed


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingRecord:
    """One CQC rating (as the Rating table holds it)."""

    org: str  # the trust the rated subject belongs to
    subject: str  # CQC provider or location id
    report_date: date
    rating: str
    ordinal: int | None  # 1 Outstanding .. 4 Inadequate; None when not on the scale
    subject_type: str = "provider"  # provider | location
    service: str = ""  # "" = the whole organisation
    domain: str = "Overall"
    inherited: bool = False  # carried over after a merger: never a change of rating
    published_at: date | None = None
    publication_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceCalendar:
    """Where a publisher stands against its calendar, as monitor.sources.timetable decides.

    The caller computes it from config.toml, the database and its clock (rules/run.py), so the
    late-publisher rules agree with the sources page and the operators' emails; the evaluator
    only reads it.
    """

    source: str
    # The publication awaited: the earliest one not yet received (it stays on a missed date
    # until that publication arrives, so that one late publication is one episode).
    expected_next: date | None
    late: bool = False
    days_late: int = 0  # whole days since the grace days ended
    grace_days: int = 0
    latest_period: date | None = None  # the latest period it has published


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while grouping or evaluating.

    Both build hundreds of thousands of small objects that live until the evaluation ends;
    each full collection would walk every one of them (and every figure held), several times
    per evaluation, and find nothing: these objects hold no reference cycles, and reference
    counting frees them. Collection resumes afterwards (unless it was already off).
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _day(d: date) -> date:
    return d.date() if isinstance(d, datetime) else d


@dataclass(slots=True, eq=False, kw_only=True)
class Series:
    """One organisation's figures for one metric, oldest period first, one per period."""

    org: str
    metric: str
    points: list[Point]
    starts: list[date]
    values: list[float]
    revised: frozenset[int] = frozenset()  # indexes of figures that replaced an earlier version

    @classmethod
    def of(cls, points: list[Point], revised: frozenset[int] = frozenset()) -> Series:
        """A series from points already in period order, one per period."""
        p0 = points[0]
        return cls(
            org=p0.org,
            metric=p0.metric,
            points=points,
            starts=[p.period_start for p in points],
            values=[p.value for p in points],
            revised=revised,
        )

    def index(self, start: date) -> int | None:
        """The position of the figure for the period starting ``start``, if there is one."""
        i = bisect_left(self.starts, start)
        return i if i < len(self.starts) and self.starts[i] == start else None

    def value_at(self, start: date) -> float | None:
        i = self.index(start)
        return None if i is None else self.values[i]


_START = attrgetter("period_start")
_SERIES = attrgetter("metric", "org")
_VALUE = attrgetter("value")


def _version_order(p: Point) -> tuple[date, date]:
    return (p.period_start, date.min if p.published_at is None else _day(p.published_at))


def _resolve(points: list[Point], as_of: date | None) -> Series | None:
    """One figure per period: the latest version known on ``as_of`` (all, when None)."""
    if as_of is not None:
        points = [p for p in points if p.published_at is None or _day(p.published_at) <= as_of]
        if not points:
            return None
    starts = list(map(_START, points))
    # The common case, one current figure per period in order, needs no sorting.
    if all(map(lt, starts, starts[1:])):
        return Series(
            org=points[0].org,
            metric=points[0].metric,
            points=points,
            starts=starts,
            values=list(map(_VALUE, points)),
        )
    points = sorted(points, key=_version_order)
    kept: list[Point] = []
    revised: set[int] = set()
    for p in points:
        if kept and kept[-1].period_start == p.period_start:
            if kept[-1].value != p.value:
                revised.add(len(kept) - 1)
            kept[-1] = p
        else:
            kept.append(p)
    return Series.of(kept, frozenset(revised))


@dataclass(slots=True)
class History:
    """Every series the rules may read, the CQC ratings, and the date they were known on."""

    by_metric: dict[str, dict[str, Series]] = field(default_factory=dict)
    ratings: dict[str, list[RatingRecord]] = field(default_factory=dict)
    as_of: date | None = None

    @classmethod
    def from_points(
        cls,
        points: Iterable[Point],
        ratings: Iterable[RatingRecord] = (),
        *,
        as_of: date | None = None,
    ) -> History:
        """Group figures into series, keeping per period the latest version known on ``as_of``.

        Ratings reported or published after ``as_of`` are left out too.
        """
        with no_cycle_collection():
            return cls._grouped(points, ratings, as_of)

    @classmethod
    def _grouped(
        cls, points: Iterable[Point], ratings: Iterable[RatingRecord], as_of: date | None
    ) -> History:
        groups: dict[tuple[str, str], list[Point]] = {}
        # Figures mostly come a series at a time (the database reads them in that order):
        # each run of one series is gathered in C, and runs of a series seen before join it.
        for key, run in groupby(points, _SERIES):
            found = groups.get(key)
            if found is None:
                groups[key] = list(run)
            else:
                found.extend(run)
        by_metric: dict[str, dict[str, Series]] = {}
        for (metric, org), group in groups.items():
            series = _resolve(group, as_of)
            if series is not None:
                by_metric.setdefault(metric, {})[org] = series
        return cls(by_metric, _group_ratings(ratings, as_of), as_of)

    def series(self, metric: str, org: str) -> Series | None:
        return self.by_metric.get(metric, {}).get(org)

    def updated(
        self, points: Iterable[Point], ratings: Iterable[RatingRecord] = ()
    ) -> tuple[History, frozenset[tuple[str, str]]]:
        """A new history with ``points`` (a new publication) merged in, and the changed pairs.

        The pairs are (metric, organisation); ratings change the pair (``cqc_overall``, org).
        Only the changed series are rebuilt; the rest are shared with this history.
        """
        fresh = History.from_points(points, ratings, as_of=self.as_of)
        by_metric = dict(self.by_metric)
        changed: set[tuple[str, str]] = set()
        for metric, series_by_org in fresh.by_metric.items():
            merged = dict(by_metric.get(metric, {}))
            for org, new in series_by_org.items():
                old = merged.get(org)
                merged[org] = new if old is None else _merge(old, new, self.as_of)
                changed.add((metric, org))
            by_metric[metric] = merged
        all_ratings = dict(self.ratings)
        for org, records in fresh.ratings.items():
            all_ratings[org] = sorted([*all_ratings.get(org, []), *records], key=_rating_order)
            changed.add(("cqc_overall", org))
        return History(by_metric, all_ratings, self.as_of), frozenset(changed)


def same_periods(
    many: Iterable[Series],
) -> tuple[list[tuple[list[date], list[Series]]], list[Series]]:
    """The series of ``many`` in groups publishing the same periods (each group's period starts
    and its series, in order), for judging a group as one array; and the rest, to judge one
    by one: each series whose periods differ from those of the first series seen with the
    same first period and length."""
    groups: dict[tuple[date, int], tuple[list[date], list[Series]]] = {}
    odd: list[Series] = []
    for series in many:
        starts = series.starts
        key = (starts[0], len(starts))
        group = groups.get(key)
        if group is None:
            group = groups[key] = (starts, [])
        if group[0] == starts:
            group[1].append(series)
        else:
            odd.append(series)
    return list(groups.values()), odd


def _merge(old: Series, new: Series, as_of: date | None) -> Series:
    """``old`` with the figures of ``new`` laid over it (a later publication wins)."""
    merged = _resolve([*old.points, *new.points], as_of)
    assert merged is not None
    revised = set(merged.revised)
    for j in old.revised:
        i = merged.index(old.starts[j])
        if i is not None:
            revised.add(i)
    merged.revised = frozenset(revised)
    return merged


def _rating_order(r: RatingRecord) -> tuple[date, date]:
    return (r.report_date, date.min if r.published_at is None else _day(r.published_at))


def _group_ratings(
    ratings: Iterable[RatingRecord], as_of: date | None
) -> dict[str, list[RatingRecord]]:
    out: dict[str, list[RatingRecord]] = {}
    for r in ratings:
        known = r.report_date if r.published_at is None else _day(r.published_at)
        if as_of is not None and (r.report_date > as_of or known > as_of):
            continue
        out.setdefault(r.org, []).append(r)
    for records in out.values():
        if len(records) > 1:
            records.sort(key=_rating_order)
    return out


def context_for(code: str, known: dict[str, OrgContext] | None) -> OrgContext:
    """The context of ``code``: from ``known``, else England/a region, else kind ``other``."""
    if known is not None:
        ctx = known.get(code)
        if ctx is not None:
            return ctx
    if code == orgs_ref.ENGLAND:
        return OrgContext(code=code, kind="england")
    if orgs_ref.is_aggregate(code):
        return OrgContext(code=code, kind="region", region=code)
    return OrgContext(code=code, kind="other")
