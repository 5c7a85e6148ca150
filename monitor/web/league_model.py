"""League positions as a reader sees them: pure values and their words, no database.

A ``Position`` is one trust's Oversight Framework position in one quarter as stored (segment,
rank of N, likely ranges, deficit flag, the data CSV's unadjusted segment and override flag).
Movement since the previous quarter and the financial override are worked out here from
stored positions, never stored twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from monitor import periods
from monitor.metrics import Granularity
from monitor.rules.conditions import shift_months
from monitor.sources.league import likely_range

# The financial override: a trust in financial deficit is placed no higher than this segment
# (NHS Oversight Framework 2025/26; every OF5004 row of the real data CSV agrees: OF5000 is
# max(OF5003, 3) where OF5004 is 1).
OVERRIDE_CAP = 3.0

# In the order the league page shows them: acute and mental health side by side, then ambulance.
TABLES: dict[str, str] = {
    "acute": "Acute trusts",
    "mental-health-and-community": "Mental health and community trusts",
    "ambulance": "Ambulance trusts",
}
# The reference list's trust types -> the league NHS England ranks them in.
TABLE_OF_TYPE = {
    "acute": "acute",
    "ambulance": "ambulance",
    "mental health": "mental-health-and-community",
    "community": "mental-health-and-community",
}


def quarter(start: date | None) -> str:
    """A quarter by its first day: "Q3 2025/26"."""
    return periods.period_label(start, Granularity.QUARTER)


@dataclass(kw_only=True)
class Position:
    """One trust's stored position in one quarter."""

    org: str
    name: str
    region: str | None
    trust_type: str | None
    period_start: date
    segment: float | None = None
    rank: float | None = None
    peers: float | None = None
    rank_label: str | None = None
    score: float | None = None
    score_label: str | None = None
    deficit: float | None = None
    unadjusted: float | None = None
    override_flag: float | None = None
    derived: bool = False
    publication_id: int | None = None
    table: str | None = None  # the league: TABLE_OF_TYPE of its trust type

    @property
    def rank_range(self) -> tuple[float, float] | None:
        return likely_range(self.rank_label)

    @property
    def score_range(self) -> tuple[float, float] | None:
        return likely_range(self.score_label)

    def take(self, metric: str, value: float, label: str | None, denominator: float | None) -> None:
        """Fill in one stored figure of this position."""
        if metric == "nof_segment":
            self.segment = value
        elif metric == "nof_rank":
            self.rank, self.peers, self.rank_label = value, denominator, label
        elif metric == "nof_average_score":
            self.score, self.score_label = value, label
        elif metric == "nof_deficit_flag":
            self.deficit = value
        elif metric == "nof_unadjusted_segment":
            self.unadjusted = value
        elif metric == "nof_financial_override_flag":
            self.override_flag = value


@dataclass(frozen=True)
class Movement:
    """How a trust's rank and segment changed since the previous quarter."""

    previous_quarter: date
    previous_rank: float | None
    previous_peers: float | None
    previous_segment: float | None
    places: int | None  # positive: up (a better rank)

    @property
    def arrow(self) -> str:
        if self.places is None:
            return "–"
        return "↑" if self.places > 0 else "↓" if self.places < 0 else "="

    @property
    def words(self) -> str:
        """ "Up 8 places since Q3 2025/26 (then 19 of 61, segment 2)"."""
        since = quarter(self.previous_quarter)
        if self.places is None:
            return f"No rank held for {since}"
        of = f" of {self.previous_peers:g}" if self.previous_peers else ""
        was = [f"{self.previous_rank:g}{of}"]
        if self.previous_segment is not None:
            was.append(f"segment {self.previous_segment:g}")
        then = f" (then {', '.join(was)})"
        if self.places == 0:
            return f"Same rank as in {since}{then}"
        n = abs(self.places)
        way = "Up" if self.places > 0 else "Down"
        return f"{way} {n} place{'s' if n != 1 else ''} since {since}{then}"

    def as_json(self) -> dict[str, Any]:
        return {
            "previous_period_start": self.previous_quarter.isoformat(),
            "previous_rank": self.previous_rank,
            "previous_peers": self.previous_peers,
            "previous_segment": self.previous_segment,
            "places": self.places,
            "words": self.words,
        }


def previous_quarter(start: date) -> date:
    """The first day of the quarter before the one starting ``start``."""
    return shift_months(start, -3)


def movement(p: Position, before: Position | None) -> Movement:
    """``p``'s movement since the previous quarter's position ``before`` (None: not held)."""
    prev = previous_quarter(p.period_start)
    if before is None or before.rank is None or p.rank is None:
        return Movement(prev, None, None, before.segment if before else None, None)
    return Movement(prev, before.rank, before.peers, before.segment, int(before.rank - p.rank))


@dataclass(frozen=True)
class Override:
    """A segment capped by the financial override: what the score alone gives, and why."""

    segment: float
    alone: str  # "segment 2", "segment 1 or 2"
    score: float | None
    evidence: str = ""  # how a league table alone shows it

    @property
    def short(self) -> str:
        """ "Capped by its finances: segment 2 on its score alone"."""
        return f"Capped by its finances: {self.alone} on its score alone"

    @property
    def words(self) -> str:
        scored = f" ({self.score:g})" if self.score is not None else ""
        why = f" ({self.evidence})" if self.evidence else ""
        return (
            f"Segment {self.segment:g} because of its finances: its average score{scored} alone "
            f"would place it in {self.alone}{why}, but the financial override places a trust in "
            f"financial deficit no higher than segment {OVERRIDE_CAP:g}."
        )


def override(p: Position, table: Sequence[Position]) -> Override | None:
    """The financial override where it capped ``p``'s segment, or None.

    The data CSV says it outright (unadjusted segment OF5003, override flag OF5004). A league
    table alone says it through its trusts: those not in deficit show which scores each
    segment holds, and a trust in deficit scoring within a better segment's scores was capped.
    """
    if p.segment is None:
        return None
    if p.unadjusted is not None and p.override_flag and p.unadjusted < p.segment:
        return Override(p.segment, f"segment {p.unadjusted:g}", p.score)
    if not p.deficit or p.score is None or p.segment != OVERRIDE_CAP:
        return None
    scores: dict[float, list[float]] = {}
    for t in table:
        if t.deficit == 0 and t.segment is not None and t.score is not None:
            scores.setdefault(t.segment, []).append(t.score)
    # Segments follow the score: a trust scoring no worse than some segment-s trust would be
    # in s or better on its score alone; one scoring no better than some, in s or worse.
    best = min((s for s, v in scores.items() if p.score <= max(v)), default=None)
    worst = max((s for s, v in scores.items() if p.score >= min(v)), default=None)
    if best is None or best >= p.segment:
        return None
    if worst == best:
        alone = f"segment {best:g}"
    elif worst is None:
        alone = f"segment {best:g} or better"
    else:
        alone = (
            f"segment {worst:g} or {best:g}"
            if best - worst == 1
            else f"segments {worst:g} to {best:g}"
        )
    low, high = min(scores[best]), max(scores[best])
    evidence = f"trusts not in deficit scoring {low:g} to {high:g} are in segment {best:g}"
    return Override(p.segment, alone, p.score, evidence)


@dataclass(frozen=True)
class Source:
    """A publication a league table's positions come from."""

    publication_id: int
    title: str
    url: str | None
    published_at: datetime
    derived: bool
    positions: int
    provenance: str | None = None  # a derived file's maker, in words

    @property
    def words(self) -> str:
        """ "Derived from trustpulse's trust_profiles.csv (...), not NHS England's own file"."""
        if self.derived:
            return f"Derived from {self.provenance or self.title}, not NHS England's own file"
        return f"NHS England's own file: {self.title}"

    def as_json(self) -> dict[str, Any]:
        return {
            "publication_id": self.publication_id,
            "title": self.title,
            "url": self.url,
            "published_at": self.published_at.isoformat(),
            "derived": self.derived,
            "words": self.words,
        }


@dataclass(kw_only=True)
class Row:
    """A position with what the page says about it."""

    position: Position
    region_name: str | None
    movement: Movement
    override: Override | None


@dataclass(kw_only=True)
class Table:
    """One league (trust type) in one quarter."""

    key: str
    title: str
    period_start: date | None = None
    peers: float | None = None
    rows: list[Row] = field(default_factory=list)
    shown: list[Row] = field(default_factory=list)  # the rows the filters keep
    sources: list[Source] = field(default_factory=list)
    not_held: list[date] = field(default_factory=list)  # later quarters of other leagues

    @property
    def quarter(self) -> str:
        return quarter(self.period_start)

    @property
    def derived(self) -> bool:
        return any(s.derived for s in self.sources)

    @property
    def not_held_words(self) -> str | None:
        """ "The ambulance league tables for Q3 2025/26 and Q4 2025/26 are not held here yet."."""
        if not self.not_held:
            return None
        name = self.title.removesuffix(" trusts").lower()
        names = [quarter(q) for q in self.not_held]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        if len(names) == 1:
            return f"The {name} league table for {listed} is not held here yet."
        return f"The {name} league tables for {listed} are not held here yet."


def latest_quarters(positions: Iterable[Position]) -> dict[str, date]:
    """Each league's latest quarter with ranks."""
    out: dict[str, date] = {}
    for p in positions:
        if p.rank is not None and p.table is not None:
            out[p.table] = max(out.get(p.table, p.period_start), p.period_start)
    return out
