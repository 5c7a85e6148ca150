"""The words of the rule pack that readers see name no organisation.

A rule's ``why`` is printed under every alert it raises, and its sources beside the threshold
on the alert page: a trust's name there would be printed on every other trust's alert.
"""

from __future__ import annotations

import re
from pathlib import Path

from monitor import orgs
from monitor.rules.load import load_rules
from monitor.rules.model import ThresholdRule

RULES = Path(__file__).resolve().parents[2] / "rules"
# The words every trust's name shares, which name none of them.
COMMON = {"nhs", "foundation", "trust", "the", "and", "of", "university", "hospitals", "hospital"}


def _distinctive(text: str) -> str:
    """Lower-case words without those every trust's name shares: "queen elizabeth king s lynn"."""
    return " ".join(w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in COMMON)


def test_no_rule_text_names_an_organisation() -> None:
    names = {
        d: row["code"]
        for row in orgs.reference_rows()
        if row["kind"] == "trust" and len((d := _distinctive(row["name"])).split()) >= 2
    }
    assert "queen elizabeth king s lynn" in names  # RCX, the trust the pack used to quote
    for rule in load_rules(RULES).rules.values():
        texts = [rule.why, rule.source]
        if isinstance(rule, ThresholdRule):
            texts += [level.source for level in rule.levels]
        for text in texts:
            said = f" {_distinctive(text)} "
            for name, code in names.items():
                assert f" {name} " not in said, f"{rule.id} names {code} ({name}): {text!r}"
