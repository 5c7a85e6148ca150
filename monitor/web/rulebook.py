"""The rule pack as the pages read it: each rule's title, and the levels in force per metric.

Readers see a rule by its title ("A&E (type 1): under 60% seen within 4 hours"), never by its
id. The pack is read once per change of the rules folder (the files' names and modification
times) and day, not on every page.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Rulebook:
    """Titles by rule id; (rule id, level in force) by metric, for threshold rules."""

    titles: dict[str, str] = field(default_factory=dict)
    levels: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def has_level(self, rule_id: str) -> bool:
        """True unless the pack holds ``rule_id`` as a rule without a fixed level (a change
        or trend rule, whose threshold is worked out per period and is no line on a chart)."""
        fixed = {r for pairs in self.levels.values() for r, _ in pairs}
        return rule_id in fixed or rule_id not in self.titles

    def title(self, rule_id: str, fallback: str | None = None) -> str:
        """The rule's title; ``fallback`` (e.g. the title its evidence recorded) for a rule
        no longer in the pack, and a neutral phrase rather than the id when there is none."""
        return self.titles.get(rule_id) or fallback or "A rule no longer in the rule pack"


def fingerprint(folder: Path) -> tuple[tuple[str, int], ...]:
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.toml")))
    except OSError:
        return ()


@functools.lru_cache(maxsize=4)
def _load(folder: Path, fingerprint: tuple[tuple[str, int], ...], today: date) -> Rulebook:
    from monitor.rules.conditions import threshold_at
    from monitor.rules.load import load_rules
    from monitor.rules.model import ThresholdRule

    pack = load_rules(folder, today=today)
    levels: dict[str, list[tuple[str, float]]] = {}
    for rule_id, rule in pack.rules.items():
        if isinstance(rule, ThresholdRule) and rule.metric:
            level, _clear = threshold_at(rule, today)  # the level in force now
            if level is not None:
                levels.setdefault(str(rule.metric), []).append((rule_id, level))
    return Rulebook({rule_id: r.title for rule_id, r in pack.rules.items()}, levels)


def rulebook(folder: Path | None, today: date | None = None) -> Rulebook:
    """The pack in ``folder`` (empty when there is none), re-read when a file changes."""
    if folder is None:
        return Rulebook()
    return _load(Path(folder), fingerprint(Path(folder)), today or date.today())
