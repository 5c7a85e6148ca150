"""League tables of every trust type: the league-table parser on NHS England's layout, the
derived acute positions of Q3 2025/26, peer groups, likely ranges and the financial override."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from functools import cache

import pytest

from monitor import orgs
from monitor.sources import oversight
from monitor.sources.base import Figure, Parsed, ParseError
from monitor.sources.league import likely_range, peer_group_size
from tests.league_files import (
    HEADER,
    PROFILES,
    acute_league_table,
    ambulance_league_table,
    as_csv,
    mh_league_rows,
)

Q1, Q2, Q3, Q4 = date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1), date(2026, 1, 1)
DATA = PROFILES.parent.parent / "nhs-oversight-framework-mental-health-and-community-trust-data.csv"


@cache
def derived() -> Parsed:
    return oversight.parse(PROFILES.read_bytes(), filename="trust_profiles.csv")


def by(parsed: Parsed, metric: str, quarter: date) -> dict[str, Figure]:
    return {f.org: f for f in parsed.figures if f.metric == metric and f.period_start == quarter}


def test_the_derived_file_gives_q3_acute_positions_marked_derived() -> None:
    parsed = derived()
    assert parsed.rows_read == 221 and parsed.periods == [(Q3, date(2025, 12, 31))]
    counts = Counter(f.metric for f in parsed.figures)
    # 129 acute trusts in the league columns; 20 mental-health and community trusts and one
    # ambulance trust carry the data CSV's adjusted segment (OF5000) only.
    assert counts == {
        "nof_rank": 129,
        "nof_average_score": 129,
        "nof_deficit_flag": 129,
        "nof_segment": 150,
        "fin_planned_deficit_pct": 150,
        "fin_variance_to_plan_pct": 150,
    }
    assert all(f.derived for f in parsed.figures)
    rcx = by(parsed, "nof_rank", Q3)["RCX"]
    assert (rcx.value, rcx.denominator, rcx.label) == (133, 134, None)
    assert by(parsed, "nof_segment", Q3)["RCX"].label == "Segment 4"
    assert by(parsed, "nof_deficit_flag", Q3)["RCX"].label == "Yes"
    assert by(parsed, "fin_planned_deficit_pct", Q3)["RCX"].value == -7.26
    assert by(parsed, "nof_segment", Q3)["RYF"].value == 4
    assert {f.denominator for f in by(parsed, "nof_rank", Q3).values()} == {134}
    # The rows that are not trusts in any league (walk-in centres, closed trusts) are skipped.
    assert len(parsed.skipped) == 71
    assert "no Oversight Framework position" in parsed.skipped[0].reason


def test_134_is_the_leagues_last_rank_and_five_ranked_trusts_are_not_in_the_file() -> None:
    ranks = Counter(f.value for f in by(derived(), "nof_rank", Q3).values())
    assert sum(ranks.values()) == 129 and max(ranks) == 134 and ranks[134] == 1
    # In a competition ranking a rank shared by n trusts is followed by rank + n; gaps the
    # ties do not explain are trusts missing from the file.
    missing, expected = [], 1.0
    for rank in sorted(ranks):
        missing += [int(r) for r in range(int(expected), int(rank))]
        expected = rank + ranks[rank]
    assert missing == [1, 2, 7, 12, 53]
    # Of the reference list's open acute trusts, six have no position in the file: five
    # specialist trusts without an A&E department (the file's trust list came from A&E returns)
    # and North Middlesex (RAP), which the file lists without league values.
    acute = {
        r["code"]
        for r in orgs.reference_rows()
        if r.get("trust_type") == "acute" and not r.get("closed")
    }
    positioned = set(by(derived(), "nof_rank", Q3))
    assert acute - positioned == {"REN", "RGM", "RP4", "RPY", "RRJ", "RAP"}
    with PROFILES.open(encoding="utf-8-sig", newline="") as f:
        in_file = {r["org_code"] for r in csv.DictReader(f)}
    assert {c for c in acute - positioned if c not in in_file} == {
        "REN",
        "RGM",
        "RP4",
        "RPY",
        "RRJ",
    }


@pytest.mark.parametrize(
    ("ranks", "size"),
    [
        ([1, 2, 3], 3),
        ([1, 1, 3], 3),
        ([1, 2, 2], 3),  # two tied last: ranks 2 and 3 both taken
        ([3, 4, 133, 134], 134),  # a third party's extract: the last rank says how many
        ([5, 5], 6),
        ([], 0),
    ],
)
def test_the_size_of_a_league_from_its_ranks(ranks: list[float], size: int) -> None:
    assert peer_group_size(ranks) == size


def test_the_derived_files_quarter_is_read_from_its_data_month_and_never_guessed() -> None:
    data = PROFILES.read_bytes().replace(b",2026-03,", b",2026-06,", 1)
    with pytest.raises(ParseError) as caught:
        oversight.parse(data, filename="trust_profiles.csv")
    assert caught.value.column == "data_month" and caught.value.row == 2
    assert "known only for 2026-03" in caught.value.reason


def test_an_acute_league_table_in_nhs_englands_layout() -> None:
    parsed = oversight.parse(acute_league_table(), filename="acute.csv")
    assert parsed.rows_read == 129 and parsed.periods == [(Q3, date(2025, 12, 31))]
    rank = by(parsed, "nof_rank", Q3)
    assert len(rank) == 129 and {f.denominator for f in rank.values()} == {134}
    assert (rank["RCX"].value, rank["RCX"].derived) == (133, False)
    assert by(parsed, "nof_deficit_flag", Q3)["RCX"].label == "Yes"
    assert by(parsed, "nof_segment", Q3)["RBV"].value == 1


def test_an_ambulance_league_table_in_nhs_englands_layout() -> None:
    parsed = oversight.parse(ambulance_league_table(), filename="ambulance.csv")
    rank = by(parsed, "nof_rank", Q3)
    assert len(rank) == 10 and {f.denominator for f in rank.values()} == {10}
    assert (rank["RYD"].value, rank["RRU"].value) == (6, 6)  # tied
    assert (rank["RYF"].value, rank["RYF"].label) == (10, "8 to 10")
    assert by(parsed, "nof_segment", Q3)["RYF"].value == 4


def test_each_trust_type_is_ranked_within_its_own_league_in_one_file() -> None:
    acute = list(csv.reader(io.StringIO(acute_league_table().decode("utf-8-sig"))))[1:]
    parsed = oversight.parse(as_csv(acute + mh_league_rows()), filename="both.csv")
    q3, q4 = by(parsed, "nof_rank", Q3), by(parsed, "nof_rank", Q4)
    assert {f.denominator for f in q3.values()} == {134}
    assert {f.denominator for f in q4.values()} == {61}


def test_likely_ranges_are_kept_as_published_and_read_as_numbers() -> None:
    parsed = oversight.parse(as_csv(mh_league_rows()), filename="mh.csv")
    rw1 = by(parsed, "nof_rank", Q4)["RW1"]
    assert rw1.label == "4 to 37" and likely_range(rw1.label) == (4, 37)
    assert likely_range(by(parsed, "nof_average_score", Q4)["RW1"].label) == (1.64, 2.39)
    assert likely_range("1.2 to 1.89") == (1.2, 1.89)
    assert likely_range("60 to 14") is None and likely_range(None) is None


def test_a_likely_range_that_is_not_one_names_its_row_and_column() -> None:
    rows = mh_league_rows()
    rows[0][HEADER.index("Likely_range_of_rank")] = "about eleven"
    with pytest.raises(ParseError) as caught:
        oversight.parse(as_csv(rows), filename="mh.csv")
    err = caught.value
    assert (err.file, err.row, err.column) == ("mh.csv", 2, "Likely_range_of_rank")
    assert "expected a likely range like '14 to 60'" in err.reason


def test_the_data_csv_gives_what_explains_a_financial_override() -> None:
    parsed = oversight.parse(DATA.read_bytes(), filename=DATA.name)
    for quarter in (Q1, Q2, Q3):
        assert len(by(parsed, "nof_unadjusted_segment", quarter)) == 61
        assert len(by(parsed, "nof_financial_override_flag", quarter)) == 61
    # Hertfordshire Partnership (RWR) in Q3: segment 1 on its score, capped at 3.
    assert by(parsed, "nof_unadjusted_segment", Q3)["RWR"].value == 1
    assert by(parsed, "nof_financial_override_flag", Q3)["RWR"].value == 1
    assert by(parsed, "nof_segment", Q3)["RWR"].value == 3


def without_zero_rsp_rows(data: bytes) -> bytes:
    """The real data CSV as if OF5007 were given only for the trusts in the programme."""
    lines = data.split(b"\r\n")
    kept = [ln for ln in lines if not (b",OF5007," in ln and ln.split(b",")[-5] == b"0.0")]
    assert len(lines) - len(kept) == 117  # the real file's 0 flags, Q1 and Q2
    return b"\r\n".join(kept)


def test_a_trust_a_quarter_positions_without_listing_it_is_not_in_the_programme() -> None:
    parsed = oversight.parse(without_zero_rsp_rows(DATA.read_bytes()), filename=DATA.name)
    q1, q2 = by(parsed, "nof_rsp_flag", Q1), by(parsed, "nof_rsp_flag", Q2)
    assert len(q1) == len(q2) == 61
    assert {o for o, f in q1.items() if f.value} == {"RHA", "RW1", "RXV"}
    assert {o for o, f in q2.items() if f.value} == {"RHA", "RW1"}
    assert q2["RXV"].value == 0  # listed in Q1, not in Q2: left the programme
    # Q3 lists no trust at all: the file says nothing about the programme, so nothing is made up.
    assert by(parsed, "nof_rsp_flag", Q3) == {}
