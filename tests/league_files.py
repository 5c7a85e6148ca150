"""Oversight Framework files in NHS England's league-table layout, for the tests.

NHS England's acute and ambulance league tables are not in the project (data/real/SOURCES.md).
These are built in their layout (the mental-health table's columns, BOM and CRLF; their own
``Trust_type``):

- ``acute_league_table()``: every value is real, taken from the Q3 2025/26 acute league
  columns of trustpulse's trust_profiles.csv (data/real/oversight/derived/): segment, rank,
  average score, deficit flag, region and subtype of its 129 trusts. The five ranked trusts
  missing from that file are missing here too, and the likely ranges are left blank, because
  no file in the project gives them.
- ``ambulance_league_table()``: the ten ambulance trusts (codes, names and regions from the
  reference list) with South Western's real Q3 2025/26 segment (4, from the same derived
  file); every other segment, score, rank and range is made up for the test.
"""

from __future__ import annotations

import csv
import io

from monitor import orgs
from tests.conftest import REAL

HEADER = [
    "Quarter",
    "Region",
    "Trust_type",
    "Trust_subtype",
    "Trust_code",
    "Trust_name",
    "Average_score",
    "Likely_range_of_average_score",
    "Segment",
    "Trust_in_financial_deficit",
    "Rank",
    "Likely_range_of_rank",
]
PROFILES = REAL / "oversight" / "derived" / "trust_profiles.csv"
MH_LEAGUE = (
    REAL
    / "oversight"
    / "nhs-oversight-framework-mental-health-and-community-trust-league-table.csv"
)
ACUTE_Q3_NAME = "nhs-oversight-framework-acute-trust-league-table-q3-25-26-v2.csv"
AMBULANCE_Q3_NAME = "nhs-oversight-framework-ambulance-trust-league-table-q3-25-26.csv"


def as_csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    """A CSV as NHS England writes it: UTF-8 with a BOM, CRLF line ends."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return b"\xef\xbb\xbf" + out.getvalue().encode()


def reference_names() -> dict[str, str]:
    return {r["code"]: r["name"] for r in orgs.reference_rows()}


def acute_league_table() -> bytes:
    """The Q3 2025/26 acute league table, from the real values trustpulse's file holds."""
    names = reference_names()
    with PROFILES.open(encoding="utf-8-sig", newline="") as f:
        profiles = [r for r in csv.DictReader(f) if r["lt_rank"]]
    rows = [
        [
            "Q3 2025/26",
            r["Region"],
            "Acute trust",
            r["Trust_subtype"],
            r["org_code"],
            names.get(r["org_code"], r["org_name"]),
            r["lt_avg_score"],
            "",
            r["lt_segment"],
            "Yes" if float(r["lt_in_deficit"]) else "No",
            r["lt_rank"],
            "",
        ]
        for r in sorted(profiles, key=lambda r: float(r["lt_rank"]))
    ]
    return as_csv(rows)


# code, region, segment, score, deficit, rank, likely rank: made up but for RYF's segment.
_AMBULANCE = [
    ("RX6", "North East and Yorkshire", 2, "2.05", "No", 1, "1 to 3"),
    ("RYE", "South East", 2, "2.11", "No", 2, "1 to 4"),
    ("RX9", "Midlands", 2, "2.20", "No", 3, "1 to 6"),
    ("RYA", "Midlands", 3, "2.30", "No", 4, "2 to 7"),
    ("RX8", "North East and Yorkshire", 3, "2.36", "Yes", 5, "3 to 8"),
    ("RRU", "London", 3, "2.41", "Yes", 6, "3 to 9"),
    ("RYD", "South East", 3, "2.41", "Yes", 6, "4 to 9"),
    ("RX7", "North West", 3, "2.55", "Yes", 8, "5 to 10"),
    ("RYC", "East", 4, "2.62", "Yes", 9, "7 to 10"),
    ("RYF", "South West", 4, "2.80", "No", 10, "8 to 10"),
]


def ambulance_league_table() -> bytes:
    """A Q3 2025/26 ambulance league table of the ten ambulance trusts (made-up positions)."""
    names = reference_names()
    rows = [
        [
            "Q3 2025/26",
            region,
            "Ambulance trust",
            "Ambulance",
            code,
            names[code],
            score,
            "",
            f"{segment:.1f}",
            deficit,
            f"{rank:.1f}",
            likely,
        ]
        for code, region, segment, score, deficit, rank, likely in _AMBULANCE
    ]
    return as_csv(rows)


def mh_league_rows() -> list[list[str]]:
    """The real Q4 2025/26 mental health and community league table's rows."""
    with MH_LEAGUE.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))[1:]
