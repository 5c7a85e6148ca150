"""Alert evidence: one type, documented key by key, stored and read back unchanged."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from rulekit import evidence_of, rule, run, series

from monitor.rules import evidence
from monitor.rules.evidence import Evidence, TrendValue

A4 = "ae_4hr_type1_pct"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def documented_keys(table: int = 0) -> list[str]:
    """The keys in the first column of one of docs/evidence.md's tables, in order."""
    text = (DOCS / "evidence.md").read_text(encoding="utf-8")
    tables = re.split(r"\n(?=\| [a-z ]*key \| meaning \|)", text)[1:]
    return re.findall(r"^\| `([a-z0-9_]+)` \|", tables[table], flags=re.M)


def test_the_document_lists_exactly_the_keys_of_the_type() -> None:
    for table, keys in ((0, evidence.stored_keys()), (1, evidence.part_keys())):
        documented = documented_keys(table)
        assert len(documented) == len(set(documented)), "a key is listed twice"
        missing = [k for k in keys if k not in documented]
        extra = [k for k in documented if k not in keys]
        assert missing == [], f"keys that docs/evidence.md table {table} does not list: {missing}"
        assert extra == [], f"keys docs/evidence.md table {table} lists that are not: {extra}"


def test_evidence_is_stored_as_json_and_read_back_unchanged() -> None:
    points = [
        *series("RCX", A4, "2024-08", [59] * 13, publication_id=4),
        *series("ENG", A4, "2025-08", [70.1]),
        *series("Y61", A4, "2025-08", [68.4]),
    ]
    f = run([rule(metric=A4, kind="threshold", when="below", value=60)], points).get("r", "RCX")
    assert f is not None
    built = evidence_of(f)
    stored = json.loads(json.dumps(built.as_json()))  # what the JSON column holds
    assert list(stored) == evidence.stored_keys()
    assert stored["period_start"] == "2025-08-01" and stored["comparison"] == "below"
    assert stored["last12"][-1] == {"period_start": "2025-08-01", "value": 59, "label": None}
    assert (stored["region"], stored["region_value"], stored["england"]) == ("Y61", 68.4, 70.1)
    assert Evidence.from_json(stored) == built


def test_old_rows_and_unknown_keys_read_back_with_defaults() -> None:
    ev = Evidence.from_json(
        {
            "rule": "r",
            "value": 52.1,
            "first_period": "2024-11-01",
            "last12": [{"period_start": "2025-07-01", "value": 52.1}],
            "not_a_key": 1,  # ignored
        }
    )
    assert (ev.rule, ev.value, ev.first_period) == ("r", 52.1, date(2024, 11, 1))
    assert ev.last12 == (TrendValue(period_start=date(2025, 7, 1), value=52.1),)
    assert (ev.comparison, ev.superseded_by, ev.consecutive_periods) == (None, None, 0)
    assert Evidence.from_json(None) == Evidence()
