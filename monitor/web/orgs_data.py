"""Read a trust's ratings and latest Oversight Framework figures (the league tables and full
league positions are monitor/web/league_data.py's)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor import orgs
from monitor.db import session_scope
from monitor.models import Observation, Organisation
from monitor.sources.cqc.store import trust_ratings

log = logging.getLogger(__name__)

LEAGUE_METRICS = ("nof_segment", "nof_rank", "nof_average_score")


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
        # The trust's own ratings only: a location's (even one inherited) is not the trust's.
        ratings = trust_ratings(s, code)
    return {
        "org": orgs.as_dict(org),
        "segment": league.get("nof_segment"),
        "rank": league.get("nof_rank"),
        "score": league.get("nof_average_score"),
        "ratings": ratings,
    }
