"""The league tables of every trust type, and one trust's league position, from the database.

The league page shows each league's latest quarter (acute, ambulance, mental health and
community), filtered by region and trust type, with where its positions come from: NHS
England's file, or a third party's derived one (monitor/sources/league_derived.py). Trust
pages and the JSON API show a trust's latest position the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from werkzeug.datastructures import MultiDict

from monitor import orgs
from monitor.config import REGION_CODES
from monitor.db import session_scope
from monitor.models import Observation, Organisation, Publication
from monitor.sources.league_derived import PROVENANCE
from monitor.web.filters import BadFilter
from monitor.web.league_model import (
    TABLE_OF_TYPE,
    TABLES,
    Movement,
    Override,
    Position,
    Row,
    Source,
    Table,
    latest_quarters,
    movement,
    override,
    previous_quarter,
    quarter,
)

POSITION_METRICS = (
    "nof_segment",
    "nof_rank",
    "nof_average_score",
    "nof_deficit_flag",
    "nof_unadjusted_segment",
    "nof_financial_override_flag",
)
Key = tuple[str, date]


@dataclass(frozen=True)
class LeagueFilter:
    """Which league tables and trusts to show: a region and a trust type, each optional."""

    region: str | None = None
    type: str | None = None

    def query_args(self) -> dict[str, str]:
        return {k: v for k, v in (("region", self.region), ("type", self.type)) if v}


def parse_filter(args: MultiDict[str, str]) -> LeagueFilter:
    """The league page's filters from its query arguments; BadFilter names a bad one."""
    region = (args.get("region") or "").strip().upper() or None
    if region is not None and region not in REGION_CODES:
        raise BadFilter(f"region: unknown {region[:16]!r}; use {', '.join(REGION_CODES)}")
    kind = (args.get("type") or "").strip().lower() or None
    if kind is not None and kind not in TABLES:
        raise BadFilter(f"type: unknown {kind[:40]!r}; use {', '.join(TABLES)}")
    return LeagueFilter(region=region, type=kind)


def league(engine: Engine, f: LeagueFilter = LeagueFilter()) -> dict[str, Any]:
    """The league page: every league's latest table, the filters, and what is not held."""
    with session_scope(engine) as s:
        positions = _positions(s)
        pubs = _publications(s, (p.publication_id for p in positions.values()))
    tables = build_tables(positions, pubs, region=f.region)
    return {
        "tables": [t for t in tables if f.type in (None, t.key)],
        "all_tables": tables,
        "filter": f,
        "types": TABLES,
        "regions": orgs.REGIONS,
    }


def build_tables(
    positions: Mapping[Key, Position],
    pubs: Mapping[int, Publication],
    *,
    region: str | None = None,
) -> list[Table]:
    """Each league's latest quarter, its rows (movement, override), sources and gaps."""
    latest = latest_quarters(positions.values())
    tables = []
    for key, title in TABLES.items():
        t = Table(key=key, title=title, period_start=latest.get(key))
        t.not_held = sorted(
            {q for q in latest.values() if t.period_start is None or q > t.period_start}
        )
        if t.period_start is not None:
            ranked = [
                p
                for p in positions.values()
                if p.table == key and p.period_start == t.period_start and p.rank is not None
            ]
            ranked.sort(key=lambda p: (p.rank or 0, p.name))
            t.rows = [_row(p, positions, ranked) for p in ranked]
            t.peers = max((p.peers or 0 for p in ranked), default=None) or None
            t.shown = [r for r in t.rows if region in (None, r.position.region)]
            t.sources = _sources(ranked, pubs)
        tables.append(t)
    return tables


def _row(p: Position, positions: Mapping[Key, Position], table: list[Position]) -> Row:
    return Row(
        position=p,
        region_name=orgs.REGIONS.get(p.region or ""),
        movement=movement(p, positions.get((p.org, previous_quarter(p.period_start)))),
        override=override(p, table),
    )


def _sources(ranked: list[Position], pubs: Mapping[int, Publication]) -> list[Source]:
    counts = Counter(p.publication_id for p in ranked if p.publication_id is not None)
    return [source_of(pubs[i], ranked) for i, _ in counts.most_common() if i in pubs]


@dataclass(frozen=True)
class TrustPosition:
    """A trust's latest league position, with its words, for its page and the API."""

    position: Position
    table_title: str | None
    movement: Movement
    override: Override | None
    source: Source | None

    @property
    def quarter(self) -> str:
        return quarter(self.position.period_start)

    def as_json(self) -> dict[str, Any]:
        p = self.position
        return {
            "period_start": p.period_start.isoformat(),
            "quarter": self.quarter,
            "league": p.table,
            "league_title": self.table_title,
            "segment": p.segment,
            "rank": p.rank,
            "peers": p.peers,
            "rank_likely_range": list(p.rank_range) if p.rank_range else None,
            "average_score": p.score,
            "score_likely_range": list(p.score_range) if p.score_range else None,
            "in_financial_deficit": None if p.deficit is None else bool(p.deficit),
            "override": self.override.words if self.override else None,
            "movement": self.movement.as_json(),
            "derived": p.derived,
            "source": self.source.as_json() if self.source else None,
        }


def position(engine: Engine, code: str, *, until: date | None = None) -> TrustPosition | None:
    """``code``'s latest Oversight Framework position (segment, rank of N, ...), or None; with
    ``until``, the latest of a quarter starting on or before it (a board pack's month)."""
    with session_scope(engine) as s:
        own = _positions(s, org=code)
        if until is not None:
            own = {k: p for k, p in own.items() if p.period_start <= until}
        if not own:
            return None
        latest = max(own.values(), key=lambda p: p.period_start)
        table = [
            p
            for p in _positions(s, period=latest.period_start).values()
            if p.table == latest.table and p.rank is not None
        ]
        pubs = _publications(s, [latest.publication_id])
    pub = pubs.get(latest.publication_id or -1)
    return TrustPosition(
        position=latest,
        table_title=TABLES.get(latest.table or ""),
        movement=movement(latest, own.get((code, previous_quarter(latest.period_start)))),
        override=override(latest, table),
        source=source_of(pub, [latest]) if pub is not None else None,
    )


def _positions(
    s: Session, *, org: str | None = None, period: date | None = None
) -> dict[Key, Position]:
    """Current positions by (trust, quarter): every figure of POSITION_METRICS gathered."""
    q = (
        select(Observation, Organisation)
        .join(Organisation, col(Organisation.code) == col(Observation.org))
        .where(
            col(Observation.superseded_by).is_(None),
            col(Observation.metric).in_(POSITION_METRICS),
            col(Organisation.kind).in_(("trust", "other")),
        )
    )
    if org is not None:
        q = q.where(col(Observation.org) == org)
    if period is not None:
        q = q.where(col(Observation.period_start) == period)
    out: dict[Key, Position] = {}
    for o, org_row in s.exec(q):
        p = out.get((o.org, o.period_start))
        if p is None:
            p = out[(o.org, o.period_start)] = Position(
                org=o.org,
                name=org_row.name,
                region=org_row.region,
                trust_type=org_row.trust_type,
                period_start=o.period_start,
                table=TABLE_OF_TYPE.get(org_row.trust_type or ""),
            )
        p.take(o.metric, o.value, o.label, o.denominator)
        # Where the position comes from: its rank's publication, else its segment's.
        if o.metric == "nof_rank" or (o.metric == "nof_segment" and p.publication_id is None):
            p.publication_id, p.derived = o.publication_id, o.derived
    _untyped_into_leagues(out.values())
    return out


def _untyped_into_leagues(positions: Iterable[Position]) -> None:
    """A trust the reference list gives no type (a new code a file names) joins the league
    ranked in the same quarter with the same number of trusts."""
    positions = list(positions)
    size = {(p.period_start, p.peers): p.table for p in positions if p.table and p.peers}
    for p in positions:
        if p.table is None and p.peers:
            p.table = size.get((p.period_start, p.peers))


def _publications(s: Session, ids: Iterable[int | None]) -> dict[int, Publication]:
    """The publications positions come from, by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    q = select(Publication).where(col(Publication.id).in_(wanted))
    return {pub.id: pub for pub in s.exec(q) if pub.id is not None}


def source_of(pub: Publication, positions: Iterable[Position]) -> Source:
    """A publication as a league table's or a trust's source: derived when its positions are."""
    held = [p for p in positions if p.publication_id == pub.id]
    assert pub.id is not None
    return Source(
        publication_id=pub.id,
        title=pub.title or pub.filename,
        url=pub.url,
        published_at=pub.published_at,
        derived=any(p.derived for p in held),
        positions=len(held),
        provenance=PROVENANCE,
    )
