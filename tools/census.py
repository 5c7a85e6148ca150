"""A census of the rule pack against one database: does each alert say something about the trust?

    python -m tools.census --config config.toml [--json] [--profiles FILE]

Reports, from the database the config names:

1. per rule: its severity and role, how many organisations it applies to (in its scope, with a
   figure or rating to judge) and for how many it fires at their latest period;
2. open alerts by severity per region;
3. for acute trusts, the share of trusts with an open high or critical alert (from a rule that
   reads no Oversight Framework figure) that sit in Oversight Framework segment 4, beside the
   share of all acute trusts in segment 4 (the segments of ``--profiles``: NHS England's
   Q3 2025/26 positions, data/real/oversight/derived/trust_profiles.csv).

Evaluation here is a dry run of the pure evaluator over the current figures: nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from monitor import orgs as orgs_ref
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, Organisation
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History
from monitor.rules.model import Rule
from monitor.rules.run import load_pack, read_calendars, read_orgs, read_points, read_ratings
from monitor.vocab import OPEN, Severity

PROFILES = Path(__file__).resolve().parents[1] / "data/real/oversight/derived/trust_profiles.csv"
OVERSIGHT_PREFIX = "nof_"  # the Oversight Framework's metric ids
SEVERE = (Severity.HIGH, Severity.CRITICAL)
MEDIUM_UP = (Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


@dataclass
class RuleCount:
    rule: str
    severity: str
    role: str
    applies: int = 0
    fires: int = 0

    @property
    def share(self) -> float:
        return self.fires / self.applies if self.applies else 0.0


@dataclass
class Census:
    rules: list[RuleCount] = field(default_factory=list)
    open_by_region: dict[str, Counter[str]] = field(default_factory=dict)
    high_acute: list[str] = field(default_factory=list)  # acute trusts with a high alert
    segment4_of_high: tuple[int, int] = (0, 0)  # (in segment 4, with an OF position)
    segment4_of_all: tuple[int, int] = (0, 0)

    def medium_up_by_region(self) -> dict[str, int]:
        return {
            region: sum(n for sev, n in counts.items() if sev in MEDIUM_UP)
            for region, counts in self.open_by_region.items()
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "rules": [
                {**r.__dict__, "share": round(r.share, 3)}
                for r in sorted(self.rules, key=lambda r: -r.share)
            ],
            "open_alerts_by_region": {
                region: dict(counts) for region, counts in sorted(self.open_by_region.items())
            },
            "open_medium_up_by_region": self.medium_up_by_region(),
            "acute_high_alert_trusts": len(self.high_acute),
            "acute_high_alert_in_segment_4": _share(self.segment4_of_high),
            "acute_in_segment_4": _share(self.segment4_of_all),
        }


def _share(pair: tuple[int, int]) -> dict[str, Any]:
    n, of = pair
    return {"count": n, "of": of, "share": round(n / of, 3) if of else None}


def reads_oversight(rule: Rule, rules: dict[str, Rule]) -> bool:
    """True when the rule, or any rule it combines, reads an Oversight Framework figure."""
    if rule.metric and rule.metric.startswith(OVERSIGHT_PREFIX):
        return True
    return any(reads_oversight(rules[d], rules) for d in rule.depends_on() if d in rules)


def segments(path: Path) -> dict[str, int]:
    """Acute trusts' adjusted Oversight Framework segment, by ODS code."""
    out = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            seg = row.get("overall_adjusted_segment", "")
            if row.get("Trust_type") == "Acute trust" and seg:
                out[row["org_code"]] = int(float(seg))
    return out


def take(ctx: Context, profiles: Path = PROFILES) -> Census:
    """The census of the database ``ctx`` names (see the module docstring)."""
    pack = load_pack(ctx).rules
    out = Census()
    with session_scope(ctx.engine) as s:
        history = History.from_points(read_points(s, all_versions=False), read_ratings(s))
        known = read_orgs(s)
        found = evaluate(
            pack.values(),
            history,
            known,
            as_of=datetime.now(UTC).date(),
            calendars=read_calendars(ctx, s, datetime.now(UTC)),
        )
        alerts = s.exec(select(Alert).where(col(Alert.state).in_(OPEN))).all()
        regions = {o.code: o.region for o in s.exec(select(Organisation))}
    for rule in pack.values():
        findings = found.by_rule.get(rule.id, {})
        out.rules.append(
            RuleCount(
                rule=rule.id,
                severity=str(rule.severity),
                role=getattr(rule, "role", "alert"),
                applies=len(findings),
                fires=sum(f.states[-1] == "f" for f in findings.values()),
            )
        )
    for a in alerts:
        region = regions.get(a.org) or (a.org if orgs_ref.is_aggregate(a.org) else "none")
        out.open_by_region.setdefault(region or "none", Counter())[a.severity] += 1
    acute = {code for code, o in known.items() if (o.trust_type or "").lower() == "acute"}
    out.high_acute = sorted(
        {
            a.org
            for a in alerts
            if a.org in acute
            and a.severity in SEVERE
            and a.rule in pack
            and not reads_oversight(pack[a.rule], pack)
        }
    )
    seg = segments(profiles)
    positioned = [code for code in out.high_acute if code in seg]
    out.segment4_of_high = (sum(seg[c] == 4 for c in positioned), len(positioned))
    out.segment4_of_all = (sum(v == 4 for v in seg.values()), len(seg))
    return out


def report(c: Census) -> str:
    """The census as a plain-text report."""
    lines = ["rule                                  severity  role     applies  fires  share"]
    for r in sorted(c.rules, key=lambda r: -r.share):
        lines.append(
            f"{r.rule:<38}{r.severity:<10}{r.role:<9}{r.applies:>7}{r.fires:>7}{r.share:>7.0%}"
        )
    lines.append("")
    lines.append("open alerts by region: " + ", ".join(str(s) for s in Severity))
    medium = c.medium_up_by_region()
    for region, counts in sorted(c.open_by_region.items()):
        row = " ".join(f"{counts.get(s, 0):>4}" for s in Severity)
        name = orgs_ref.REGIONS.get(region, region)
        lines.append(f"  {region:<5} {name:<28} {row}   medium+ {medium[region]}")
    h, of = c.segment4_of_high
    a, all_ = c.segment4_of_all
    lines.append("")
    lines.append(
        f"acute trusts with a high alert (no Oversight Framework rule): {len(c.high_acute)}; "
        f"in segment 4: {h} of {of} with a position ({h / of:.0%})"
        if of
        else "acute trusts with a high alert: none with an Oversight Framework position"
    )
    if all_:
        lines.append(f"all acute trusts in segment 4: {a} of {all_} ({a / all_:.0%})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.census", description=__doc__.split("\n")[0])
    p.add_argument("--config", default="config.toml")
    p.add_argument("--profiles", type=Path, default=PROFILES)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    c = take(Context.load(args.config), args.profiles)
    print(json.dumps(c.as_json(), indent=2) if args.json else report(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
