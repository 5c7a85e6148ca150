"""The derived real RTT files the embedded default seeds from give the published figures."""

from __future__ import annotations

import csv
import json

from monitor.sources import rtt
from monitor.sources.base import Parsed
from tests.conftest import REAL

CLEAN = REAL / "rtt" / "rtt_incomplete_provider_clean.csv"
SUMMARY = REAL / "rtt" / "rtt_summary.json"


def by_key(parsed: Parsed) -> dict[tuple[str, str], float]:
    return {(f.org, f.metric): f.value for f in parsed.figures if f.value is not None}


def test_the_clean_provider_sheet_gives_each_trusts_published_percentage() -> None:
    got = by_key(rtt.parse(CLEAN, region_of={}))
    with CLEAN.open(encoding="utf-8") as fh:
        totals = [r for r in csv.DictReader(fh) if r["treatment_function_code"] == "C_999"]
    assert len(totals) == 150
    for r in totals:
        code = r["provider_code"]
        assert got[code, "rtt_waiting_list"] == int(r["total_incomplete_pathways"])
        assert abs(got[code, "rtt_18wk_pct"] - 100 * float(r["pct_within_18_weeks"])) < 1e-9
        assert got[code, "rtt_52wk_count"] == int(r["total_52_plus"] or 0)
    # England and the regions are sums of the trusts, marked derived.
    eng = [f for f in rtt.parse(CLEAN).figures if f.org == "ENG"]
    assert eng and all(f.derived for f in eng)


def test_the_june_2026_summary_keeps_its_published_figures() -> None:
    parsed = rtt.parse(SUMMARY)
    got = by_key(parsed)
    data = json.loads(SUMMARY.read_text())
    for t in data["trusts"]:
        assert got[t["code"], "rtt_18wk_pct"] == t["pct_within_18wk"]
        assert got[t["code"], "rtt_waiting_list"] == t["waiting_list"]
    assert got["ENG", "rtt_18wk_pct"] == 65.8
    assert got["Y61", "rtt_waiting_list"] == 759209
    # Percentages published to one decimal place carry no made-up counts.
    pct = [f for f in parsed.figures if f.metric == "rtt_18wk_pct"]
    assert all(f.numerator is None for f in pct)
    assert {f.period_start.isoformat() for f in parsed.figures} == {"2026-06-01"}
