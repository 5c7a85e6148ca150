"""Read a trust's ratings and league position, and the league tables."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor import orgs
from monitor.db import session_scope
from monitor.models import Observation, Organisation, Rating

log = logging.getLogger(__name__)

LEAGUE_METRICS = ("nof_segment", "nof_rank", "nof_average_score")
LEAGUE_GROUPS = {"acute": "Acute trusts", "ambulance": "Ambulance trusts"}
NON_ACUTE = "Non-acute trusts"


def _current(q: Any) -> Any:
    return q.where(col(Observation.superseded_by).is_(None))


def org_facts(engine: Engine, code: str) -> dict[str, Any] | None:
    """An organisation with its latest Oversight Framework position and CQC ratings."""
    with session_scope(engine) as s:
        org = s.get(Organisation, code)
        if org is None:
            return None
        league: dict[str, Observation] = {}
        for mid in LEAGUE_METRICS:
            o = s.execute(
                _current(select(Observation))
                .where(col(Observation.org) == code, col(Observation.metric) == mid)
                .order_by(col(Observation.period_start).desc())
                .limit(1)
            ).scalar_one_or_none()
            if o is not None:
                league[mid] = o
        ratings = list(
            s.execute(
                select(Rating)
                .where(
                    col(Rating.org) == code,
                    col(Rating.current).is_(True),
                    col(Rating.service) == "",
                )
                .order_by(col(Rating.subject_type).desc(), col(Rating.report_date).desc())
            ).scalars()
        )
    latest: dict[str, Rating] = {}
    for r in ratings:  # providers before locations, newest first: keep the first per domain
        latest.setdefault(r.domain, r)
    order = ["Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led"]
    return {
        "org": orgs.as_dict(org),
        "segment": league.get("nof_segment"),
        "rank": league.get("nof_rank"),
        "score": league.get("nof_average_score"),
        "ratings": sorted(
            latest.values(), key=lambda r: order.index(r.domain) if r.domain in order else 99
        ),
    }


def league(engine: Engine) -> dict[str, Any]:
    """The latest quarter's league tables: trusts by peer group, rank and segment."""
    with session_scope(engine) as s:
        latest = s.execute(
            _current(select(func.max(Observation.period_start))).where(
                col(Observation.metric) == "nof_rank"
            )
        ).scalar_one_or_none()
        if latest is None:
            return {"period_start": None, "groups": []}
        q = (
            _current(select(Observation, Organisation))
            .join(Organisation, col(Organisation.code) == col(Observation.org))
            .where(
                col(Observation.metric).in_(LEAGUE_METRICS),
                col(Observation.period_start) == latest,
                col(Organisation.kind).in_(("trust", "other")),
            )
        )
        rows: dict[str, dict[str, Any]] = {}
        for o, org in s.execute(q):
            row = rows.setdefault(
                org.code,
                {
                    "org": org.code,
                    "org_name": org.name,
                    "region": org.region,
                    "region_name": orgs.REGIONS.get(org.region or ""),
                    "trust_type": org.trust_type,
                },
            )
            row[o.metric] = o.value
            if o.metric == "nof_rank":
                row["peers"] = o.denominator
            if o.metric == "nof_segment":
                row["segment_label"] = o.label
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows.values():
        if row.get("nof_rank") is None:
            continue
        name = LEAGUE_GROUPS.get(row["trust_type"] or "", NON_ACUTE)
        groups.setdefault(name, []).append(row)
    order = [*LEAGUE_GROUPS.values(), NON_ACUTE]
    return {
        "period_start": latest,
        "groups": [
            {"name": g, "rows": sorted(groups[g], key=lambda r: (r["nof_rank"], r["org_name"]))}
            for g in order
            if g in groups
        ],
    }
