"""Combined rules (``all_of``, ``any_of``): the parts' states, period by period.

Each period is judged on the parts' own states for that period; a part without a figure for a
period is not carried over from an earlier one, so a quarter's flag and another quarter's trend
never make one breach. A period that cannot be judged is not a period of the finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.rules import conditions as cond
from monitor.rules.findings import PART_STATES, Finding, KindFacts, found
from monitor.rules.model import AllOfRule, AnyOfRule

if TYPE_CHECKING:
    from monitor.rules.evaluate import Evaluation, _Scopes


def combine(
    rule: AllOfRule | AnyOfRule, ev: Evaluation, scopes: _Scopes, target: set[str] | None
) -> None:
    """Firing while all (or any) of the named rules are firing, period by period.

    Each period is judged on the parts' own states for that period: a part without a figure
    for it is not carried over from an earlier period. A period that cannot be judged (all_of
    with a part unknown and none known clear) is not a period of the finding.
    """
    parts_by_org: dict[str, list[Finding]] = {}
    for part in rule.rules:
        for org, f in ev.by_rule.get(part, {}).items():
            if target is None or org in target:
                parts_by_org.setdefault(org, []).append(f)
    for org, parts in parts_by_org.items():
        ctx = scopes.context(rule.scope, org)
        if ctx is None:
            continue
        # A part with no finding at all for the organisation (no figures ever) is not firing.
        never = len(rule.rules) - len(parts)
        periods, codes = [], []
        for p in sorted(set().union(*(f.periods for f in parts))):
            code = _combined_code(rule, [f.firing_at(p) for f in parts] + [False] * never)
            if code is not None:
                periods.append(p)
                codes.append(code)
        if not periods:
            continue
        words = {f.rule.id: PART_STATES[f.firing_at(periods[-1])] for f in parts}
        extra = KindFacts(components=words, parts=tuple(parts))
        values = [None] * len(periods)
        ev.add(found(rule, org, periods, "".join(codes), values, region=ctx.region, extra=extra))


def _combined_code(rule: AllOfRule | AnyOfRule, firing: list[bool | None]) -> str | None:
    """Breach or clear for one period from the parts' states (None: a part has no figure);
    None when the period cannot be judged."""
    if rule.kind == "all_of":
        if False in firing:
            return cond.CLEAR
        return cond.BREACH if None not in firing else None
    if True in firing:
        return cond.BREACH
    return cond.CLEAR if None not in firing else None
