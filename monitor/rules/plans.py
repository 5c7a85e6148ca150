"""What the alert lifecycle plans, as plain values: the alert as it stands, and the alert rows
and events to write (rules/lifecycle.py plans them, rules/store.py writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from monitor.rules.findings import Finding, Persistence
from monitor.vocab import OPEN, AlertState, Episode, EventKind, Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertView:
    """The latest alert of one (rule, organisation), open or closed, as a plain value."""

    id: int
    rule: str
    org: str
    state: AlertState
    period_start: date | None  # the latest evaluated period
    first_period: date | None  # the episode's first breaching period
    consecutive_periods: int = 0
    value: float | None = None
    threshold: float | None = None
    acknowledged: bool = False
    silenced_until: date | None = None
    rule_version: str = ""
    previous_alert_id: int | None = None  # set when this episode is a re-breach
    # The publisher's date of the figure behind the alert's latest period, as last evaluated.
    published_on: date | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedEvent:
    """One AlertEvent to write; its evidence is built from ``finding`` (rules/evidence.py)."""

    kind: EventKind
    period_start: date
    value: float | None
    threshold: float | None
    consecutive_periods: int  # adjacent periods in breach (at the episode's last, once ended)
    first_period: date | None
    episode: Episode
    revised: bool  # caused by a revised publication of a period already evaluated
    notify: bool
    rule_version: str
    publication_id: int | None
    finding: Finding
    superseded_by: str | None = None
    note: str | None = None  # why, in words, when the event is not plain new data
    persistence: Persistence | None = None  # the episode, counted at its latest breach


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertChange:
    """An alert row to create (``alert_id`` None) or update, with the events it gets."""

    alert_id: int | None
    previous_alert_id: int | None
    rule: str
    org: str
    metric: str | None
    severity: Severity
    state: AlertState  # the alert's state after the events
    first_period: date | None
    period_start: date
    value: float | None
    threshold: float | None
    consecutive_periods: int
    rule_version: str
    events: tuple[PlannedEvent, ...]
    superseded_by: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything to write for one (rule, organisation); empty when nothing changed."""

    rule: str
    org: str
    changes: tuple[AlertChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def events(self) -> list[PlannedEvent]:
        return [e for c in self.changes for e in c.events]

    def as_json(self) -> list[dict[str, Any]]:
        """The events as JSON-ready rows (``monitor evaluate --dry-run --json``)."""
        return [
            {
                "rule": c.rule,
                "org": c.org,
                "alert_id": c.alert_id,
                "previous_alert_id": c.previous_alert_id,
                "state": c.state,
                "severity": c.severity,
                "event": e.kind,
                "episode": e.episode,
                "period_start": e.period_start.isoformat(),
                "value": e.value,
                "threshold": e.threshold,
                "consecutive_periods": e.consecutive_periods,
                "revised": e.revised,
                "notify": e.notify,
                "superseded_by": e.superseded_by,
                "note": e.note,
                "rule_version": e.rule_version,
            }
            for c in self.changes
            for e in c.events
        ]

    def lines(self) -> list[str]:
        """One line per event, for ``monitor evaluate --dry-run``."""
        out = []
        for row in self.as_json():
            how = "email" if row["notify"] else "quiet"
            if row["superseded_by"]:
                how += f", under {row['superseded_by']}"
            out.append(
                f"{row['event']:<9} {row['rule']:<32} {row['org']:<6} {row['period_start'][:7]} "
                f"value {row['value']} threshold {row['threshold']} ({how})"
            )
        return out
