"""Read-only questions the CLI, the status page and the digest ask of the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor import orgs
from monitor.db import session_scope
from monitor.models import Observation, Organisation, Publication


def list_orgs(
    engine: Engine, *, kind: str | None = None, region: str | None = None
) -> list[dict[str, Any]]:
    q = select(Organisation).order_by(Organisation.kind, Organisation.code)
    if kind:
        q = q.where(Organisation.kind == kind)
    if region:
        q = q.where(Organisation.region == region.upper())
    with session_scope(engine) as s:
        return [orgs.as_dict(o) for o in s.exec(q)]


def observations(
    engine: Engine,
    org: str,
    *,
    metric: str | None = None,
    all_versions: bool = False,
) -> list[dict[str, Any]]:
    """An organisation's series, oldest period first, each figure with its provenance."""
    q = (
        select(Observation, Publication)
        .join(Publication, col(Observation.publication_id) == col(Publication.id))
        .where(Observation.org == org)
        .order_by(
            col(Observation.metric), col(Observation.period_start), col(Publication.published_at)
        )
    )
    if metric:
        q = q.where(Observation.metric == metric)
    if not all_versions:
        q = q.where(col(Observation.superseded_by).is_(None))
    with session_scope(engine) as s:
        return [observation_row(o, p) for o, p in s.exec(q)]


def observation_row(o: Observation, p: Publication) -> dict[str, Any]:
    return {
        "org": o.org,
        "metric": o.metric,
        "period_start": o.period_start.isoformat(),
        "period_end": o.period_end.isoformat(),
        "granularity": o.granularity,
        "value": o.value,
        "label": o.label,
        "numerator": o.numerator,
        "denominator": o.denominator,
        "derived": o.derived,
        "source": p.source,
        "publication_id": p.id,
        "publication_url": p.url,
        "publication_title": p.title,
        "published_at": p.published_at.isoformat(),
        "superseded_by": o.superseded_by,
    }
