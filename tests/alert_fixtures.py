"""Alerts with real figures, inserted directly, for the notification tests.

The figures are NHS England's monthly A&E provider CSVs (August 2024 to July 2025; the July
2025 file is ``July-2025-CSV-9jfy4.csv``): type-1 % within 4 hours = 1 - (type-1 attendances
over 4 hours / type-1 attendances), for each trust, for the East of England (Y61, summed over
its providers) and for England (the file's TOTAL row, or the sum of providers where a file has
none). The evidence follows docs/evidence.md, as the rules lifecycle writes it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from monitor import config
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Publication
from monitor.rules.evidence import Evidence, stored_keys

ROOT = Path(__file__).resolve().parent.parent
MONTHS = [date(2024, m, 1) for m in range(8, 13)] + [date(2025, m, 1) for m in range(1, 8)]
# Type-1 A&E % within 4 hours, August 2024 ... July 2025.
AE_TYPE1 = {
    "ENG": [62.2, 59.5, 57.7, 56.7, 55.0, 57.3, 58.0, 60.6, 59.8, 60.8, 61.3, 62.7],
    "Y61": [63.3, 60.1, 57.6, 56.8, 53.3, 56.1, 57.1, 60.7, 61.1, 61.9, 63.4, 64.8],
    "RCX": [65.3, 59.0, 60.7, 57.3, 51.0, 53.6, 51.5, 52.8, 54.5, 55.6, 55.3, 52.1],
    "RDE": [58.8, 49.9, 48.7, 44.3, 42.7, 47.3, 46.0, 52.1, 51.7, 51.1, 48.3, 51.4],
    "RC9": [61.8, 62.4, 59.2, 59.2, 53.3, 53.4, 55.8, 56.1, 59.0, 63.0, 59.8, 59.4],
    "RWH": [52.2, 51.6, 44.0, 43.4, 41.1, 44.5, 44.3, 50.1, 47.3, 49.9, 56.5, 56.3],
}
# July 2025, type 1: attendances within 4 hours / attendances.
JULY_COUNTS = {
    "RCX": (3678, 7060),
    "RDE": (6519, 12692),
    "RC9": (10392, 17502),
    "RWH": (4993, 8871),
}
NAMES = {
    "RCX": "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust",
    "RDE": "East Suffolk and North Essex NHS Foundation Trust",
    "RC9": "Bedfordshire Hospitals NHS Foundation Trust",
    "RWH": "East and North Hertfordshire NHS Trust",
}
JULY_URL = (
    "https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2/2025/08/"
    "July-2025-CSV-9jfy4.csv"
)
RULE = "ae_type1_below_60"
RULE_TITLE = "A&E type 1: under 60% seen within 4 hours"
WHY = (
    "Fewer than six in ten patients at a major emergency department were seen within four "
    "hours: long waits in A&E are linked to worse outcomes and signal a hospital under "
    "pressure."
)
PUBLISHED = datetime(2025, 8, 14, 8, 30, tzinfo=UTC)  # 09:30 London, second Thursday


def settings(
    tmp_path: Path,
    engine: Engine | None = None,
    *,
    templates_override: Path | None = None,
    **sections: dict[str, Any],
) -> config.Settings:
    """Settings for a test: the repo's templates, var/ under tmp_path, and any overrides."""
    lines = [
        "[paths]",
        f"var = '{tmp_path / 'var'}'",
        f"templates = '{ROOT / 'templates'}'",
        f"rules = '{tmp_path / 'rules'}'",
    ]
    if templates_override is not None:
        lines.append(f"templates_override = '{templates_override}'")
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        lines += ["[database]", f"url = '{url}'"]
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for k, v in values.items():
            if isinstance(v, bool):
                lines.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, int | float):
                lines.append(f"{k} = {v}")
            elif isinstance(v, list | tuple):
                lines.append(f"{k} = [{', '.join(repr(str(x)) for x in v)}]")
            else:
                lines.append(f"{k} = '{v}'")
    path = tmp_path / "config.toml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return config.load(path)


def publication(engine: Engine, *, url: str = JULY_URL, quiet: bool = False) -> int:
    """The July 2025 A&E publication, fetched by a running poll."""
    with session_scope(engine, write=True) as s:
        pub = Publication(
            source="ae",
            url=url,
            title="Monthly A&E July 2025 (CSV, 27KB)",
            filename=url.rsplit("/", 1)[-1],
            sha256=hashlib.sha256(url.encode()).hexdigest(),
            published_at=PUBLISHED,
            fetched_at=PUBLISHED,
            trigger="poll",
            quiet=quiet,
            periods=["2025-07-01/2025-07-31"],
        )
        s.add(pub)
        s.flush()
        assert pub.id is not None
        return pub.id


def _consecutive(values: list[float], threshold: float) -> int:
    n = 0
    for v in reversed(values):
        if v >= threshold:
            break
        n += 1
    return n


def evidence(
    org: str,
    pub_id: int | None,
    *,
    threshold: float = 60.0,
    severity: str = "high",
    superseded_by: int | None = None,
    figures_of: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """What the lifecycle records for ``org``'s type-1 A&E figure in July 2025."""
    values = AE_TYPE1[figures_of or org]
    n = _consecutive(values, threshold)
    within, total = JULY_COUNTS.get(figures_of or org, (None, None))
    return stored(
        {
            "rule": RULE,
            "rule_title": RULE_TITLE,
            "why": WHY,
            "severity": severity,
            "rule_version": "3f1c0de",
            "kind": "threshold",
            "metric": "ae_4hr_type1_pct",
            "metric_title": "A&E: seen within 4 hours (type 1)",
            "unit": "%",
            "direction": "higher",
            "org": org,
            "org_name": name or NAMES.get(org, org),
            "region": "Y61",
            "region_name": "East of England",
            "period_start": "2025-07-01",
            "period_end": "2025-07-31",
            "period_label": "July 2025",
            "value": values[-1],
            "label": None,
            "numerator": within,
            "denominator": total,
            "threshold": threshold,
            "threshold_source": "rules/ae_type1_below_60.toml",
            "comparison": "below",
            "england": AE_TYPE1["ENG"][-1],
            "region_value": AE_TYPE1["Y61"][-1],
            "last12": [
                {"period_start": m.isoformat(), "value": v}
                for m, v in zip(MONTHS, values, strict=True)
            ],
            "granularity": "month",
            "counted": "attendances",
            "consecutive_periods": n,
            "first_period": MONTHS[len(values) - n].isoformat() if n else None,
            "last_breach_period": "2025-07-01" if n else None,
            "episode_periods": n,
            "episode_span": n,
            "episode": "first" if n <= 1 else "persistent",
            "publication_id": pub_id,
            "publication_url": JULY_URL,
            "publication_title": "Monthly A&E July 2025 (CSV, 27KB)",
            "published_at": PUBLISHED.isoformat(),
            "evaluated_on": PUBLISHED.date().isoformat(),
            "superseded_by": superseded_by,
        }
    )


def stored(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence as the lifecycle stores it: only keys of the Evidence type, every key there."""
    unknown = set(evidence) - set(stored_keys())
    assert not unknown, f"not keys of the evidence (docs/evidence.md): {unknown}"
    return Evidence.from_json(evidence).as_json()


def alert(
    engine: Engine,
    org: str,
    pub_id: int | None,
    *,
    kind: str = "fired",
    notify: bool = True,
    severity: str = "high",
    rule: str = RULE,
    superseded_by: int | None = None,
    fired_at: datetime = PUBLISHED,
    ended_at: datetime | None = None,
    figures_of: str | None = None,
    name: str | None = None,
) -> tuple[int, int]:
    """Insert an alert and one event of ``kind``; returns (alert id, event id).

    ``figures_of`` lends another trust's figures (and ``name`` a name) to an organisation the
    fixtures have no figures for."""
    ev = evidence(
        org,
        pub_id,
        severity=severity,
        superseded_by=superseded_by,
        figures_of=figures_of,
        name=name,
    )
    ev["rule"] = rule
    ev["revised"] = kind == "withdrawn"  # a revised publication withdrew it
    state = {"fired": "firing", "resolved": "resolved", "withdrawn": "withdrawn"}.get(
        kind, "firing"
    )
    with session_scope(engine, write=True) as s:
        a = Alert(
            rule=rule,
            org=org,
            metric="ae_4hr_type1_pct",
            state=state,
            severity=severity,
            opened_at=fired_at,
            fired_at=fired_at,
            ended_at=ended_at if ended_at else (fired_at if state != "firing" else None),
            value=ev["value"],
            period_start=date(2025, 7, 1),
            period_end=date(2025, 7, 31),
            first_period=date.fromisoformat(ev["first_period"]) if ev["first_period"] else None,
            consecutive_periods=ev["consecutive_periods"],
            threshold=ev["threshold"],
            rule_version=ev["rule_version"],
        )
        s.add(a)
        s.flush()
        e = AlertEvent(
            alert_id=a.id or 0,
            kind=kind,
            at=fired_at,
            period_start=date(2025, 7, 1),
            value=ev["value"],
            threshold=ev["threshold"],
            rule_version=ev["rule_version"],
            publication_id=pub_id,
            evidence=ev,
            notify=notify,
        )
        s.add(e)
        s.flush()
        assert a.id is not None and e.id is not None
        return a.id, e.id


def route(engine: Engine, settings: config.Settings, event_ids: list[int]) -> list[str]:
    """Route these events as the lifecycle does, in one transaction; returns the keys added."""
    from monitor.notify.routing import route as route_events

    with session_scope(engine, write=True) as s:
        evs = [s.get_one(AlertEvent, i) for i in event_ids]
        return [row.key for row in route_events(s, evs, settings=settings)]


def unsaved(org: str, *, kind: str = "fired", alert_id: int = 42) -> tuple[AlertEvent, Alert]:
    """An event and its alert as plain objects, for rendering without a database."""
    ev = evidence(org, 7)
    ev["revised"] = kind == "withdrawn"  # a revised publication withdrew it
    a = Alert(
        id=alert_id,
        rule=RULE,
        org=org,
        metric="ae_4hr_type1_pct",
        state="firing" if kind == "fired" else "resolved",
        severity="high",
    )
    e = AlertEvent(id=alert_id * 10, alert_id=alert_id, kind=kind, evidence=ev, notify=True)
    return e, a
