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


@dataclass(frozen=True, kw_only=True)
class Missed:
    """A context rule firing for one trust at its latest period."""

    rule: str
    title: str
    figure: str  # the trust's latest figure in words, "52.1%"
    period: str  # "August 2025"
    standing: Standing  # the rule across the trusts it applies to


@dataclass(frozen=True, kw_only=True)
class Picture:
    """Every context rule across the trusts, and per trust the ones it fires for."""

    standings: list[Standing]  # every context rule that applies to some trust
    missed: dict[str, list[Missed]]  # organisation -> its firing context rules

    def widespread(self) -> list[Standing]:
        """The rules that fire for most of the trusts they apply to, most widespread first."""
        return [s for s in self.standings if s.fires * 2 > s.applies]


def picture(session: Session, rules: dict[str, Rule], *, as_of: date) -> Picture:
    """Evaluate the context rules over the current figures of their metrics (nothing is
    written) and say where the NHS and each trust stand on them."""
    context = [r for r in rules.values() if r.role == "context" and not r.depends_on()]
    if not context:
        return Picture(standings=[], missed={})
    wanted = {r.metric for r in context if r.metric}
    history = History.from_points(
        read_points(session, all_versions=False, metrics=wanted), read_ratings(session)
    )
    found = evaluate(context, history, read_orgs(session), as_of=as_of)
    standings: list[Standing] = []
    missed: dict[str, list[Missed]] = {}
    for rule in context:
        findings = found.by_rule.get(rule.id, {})
        if not findings:
            continue
        firing = [f for f in findings.values() if f.states[-1] == FIRING]
        metric = rule.catalogue
        eng = history.series(rule.metric or "", orgs_ref.ENGLAND) if metric else None
        st = Standing(
            rule=rule.id,
            title=rule.title,
            fires=len(firing),
            applies=len(findings),
            england=periods.figure(eng.values[-1], metric.unit) if eng and metric else "",
            england_period=periods.period_label(eng.starts[-1], metric.granularity)
            if eng and metric
            else "",
        )
        standings.append(st)
        for f in firing:
            value = f.values[-1]
            missed.setdefault(f.org, []).append(
                Missed(
                    rule=rule.id,
                    title=rule.title,
                    figure=periods.figure(value, metric.unit)
                    if metric and value is not None
                    else "",
                    period=periods.period_label(f.periods[-1], metric.granularity)
                    if metric
                    else "",
                    standing=st,
                )
            )
    standings.sort(key=lambda s: (-s.fires / s.applies, s.title))
    for lines in missed.values():
        lines.sort(key=lambda m: m.title)
    return Picture(standings=standings, missed=missed)


def standings(session: Session, rules: dict[str, Rule], *, as_of: date) -> list[Standing]:
    """The context rules that fire for most of the trusts they apply to, most widespread first."""
    return picture(session, rules, as_of=as_of).widespread()


def paragraph(items: list[Standing]) -> str:
    """The standings in one paragraph for the digest ("" when there are none)."""
    if not items:
        return ""
    return (
        "Most trusts miss these standards, so they are context rather than alerts: "
        + "; ".join(s.words() for s in items)
        + "."
    )
