"""Where the NHS stands on the context rules: how many trusts each fires for, and England.

Context rules (``role = "context"``) describe the NHS rather than a trust; the weekly digest
says them in one paragraph instead of listing an alert per trust. This module evaluates them
over the current figures (the pure evaluator, nothing written) and reports, per rule, the
trusts it fires for out of those it applies to and England's latest figure for its metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from monitor import orgs as orgs_ref
from monitor import periods
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History
from monitor.rules.model import Rule
from monitor.rules.run import read_orgs, read_points, read_ratings
from monitor.rules.states import FIRING


@dataclass(frozen=True, kw_only=True)
class Standing:
    """One context rule across the trusts it applies to."""

    rule: str
    title: str
    fires: int
    applies: int
    england: str  # England's latest figure in words, "" when none is held
    england_period: str  # "August 2025"

    def words(self) -> str:
        """ "A&E (type 1): under 78%: 114 of 122 trusts (England 61.7% in August 2025)"."""
        eng = f" (England {self.england} in {self.england_period})" if self.england else ""
        return f"{self.title}: {self.fires} of {self.applies} trusts{eng}"


def standings(session: Session, rules: dict[str, Rule], *, as_of: date) -> list[Standing]:
    """The context rules that fire for most of the trusts they apply to, most widespread first."""
    context = [r for r in rules.values() if r.role == "context" and not r.depends_on()]
    if not context:
        return []
    history = History.from_points(read_points(session, all_versions=False), read_ratings(session))
    found = evaluate(context, history, read_orgs(session), as_of=as_of)
    out = []
    for rule in context:
        findings = found.by_rule.get(rule.id, {})
        fires = sum(f.states[-1] == FIRING for f in findings.values())
        if not findings or fires * 2 <= len(findings):
            continue
        metric = rule.catalogue
        eng = history.series(rule.metric or "", orgs_ref.ENGLAND) if metric else None
        out.append(
            Standing(
                rule=rule.id,
                title=rule.title,
                fires=fires,
                applies=len(findings),
                england=periods.figure(eng.values[-1], metric.unit) if eng and metric else "",
                england_period=periods.period_label(eng.starts[-1], metric.granularity)
                if eng and metric
                else "",
            )
        )
    return sorted(out, key=lambda s: (-s.fires / s.applies, s.title))


def paragraph(items: list[Standing]) -> str:
    """The standings in one paragraph for the digest ("" when there are none)."""
    if not items:
        return ""
    return (
        "Most trusts miss these standards, so they are context rather than alerts: "
        + "; ".join(s.words() for s in items)
        + "."
    )
