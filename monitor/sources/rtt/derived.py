"""The two third-party files derived from real RTT publications that the project ships.

NHS England's raw RTT files are not in the project; these derived copies of real figures are
(provenance in data/real/rtt/SOURCES.md), so the embedded default can show real RTT figures:

- ``rtt_incomplete_provider_clean.csv``: a cleaned copy of the ``Provider`` sheet of
  ``Incomplete-Provider-Mar26`` (one row per trust x treatment function; ``C_999`` = the
  trust's total). Trusts only, so England and the regions are summed from them (derived).
- ``rtt_summary.json``: per-trust totals built from the June 2026 Full CSV (Part_2, C_999
  excluded), with the regions and England as that file computed them.

Both become the same figures as the raw files do (``ProviderTotal`` values), so nothing
downstream can tell a derived figure from a parsed one except by its publication.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import IO, Any

from monitor.orgs import ENGLAND, code_for
from monitor.sources.base import Parsed, ParseError, month_bounds, month_figure
from monitor.sources.rtt.full_csv import ProviderTotal

CLEAN_HEADER = b"region_code,provider_code,provider_name,treatment_function_code"


def is_clean_csv(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(CLEAN_HEADER)


def is_summary(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _int(value: str, *, name: str, row: int, column: str) -> int:
    try:
        n = round(float(value)) if value.strip() else 0
    except (ValueError, OverflowError):
        raise ParseError(f"{value!r} is not a count", file=name, row=row, column=column) from None
    if n < 0:
        raise ParseError(f"a count cannot be negative, found {value!r}", file=name, row=row,
                         column=column)  # fmt: skip
    return n


def clean_csv_totals(fh: IO[bytes], name: str) -> tuple[list[ProviderTotal], int]:
    """Each trust's C_999 (total) row. The file is whole only when it ends with a line break
    and every trust listed has its C_999 row, which closes the trust's rows."""
    fh.seek(0, io.SEEK_END)
    ends_whole = False
    if fh.tell():
        fh.seek(-1, io.SEEK_END)
        ends_whole = fh.read(1) == b"\n"
    fh.seek(0)
    reader = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8-sig", newline=""))
    need = {
        "region_code",
        "provider_code",
        "provider_name",
        "treatment_function_code",
        "total_incomplete_pathways",
        "total_within_18_weeks",
        "total_52_plus",
        "reporting_month",
    }
    missing = need - set(reader.fieldnames or ())
    if missing:
        raise ParseError(f"missing column(s) {', '.join(sorted(missing))}", file=name, row=1)
    totals: list[ProviderTotal] = []
    rows = 0
    open_trust: tuple[str, int] | None = None  # a trust whose C_999 row has not come yet
    for rows, r in enumerate(reader, start=1):
        if r["treatment_function_code"] != "C_999":
            code = (r["provider_code"] or "").strip().upper()
            if open_trust is not None and open_trust[0] != code:
                raise ParseError(
                    f"trust {open_trust[0]} has no C_999 (total) row",
                    file=name,
                    row=open_trust[1],
                    column="treatment_function_code",
                )
            open_trust = open_trust or (code, rows + 1)
            continue
        open_trust = None
        row = rows + 1
        try:
            month = date.fromisoformat(r["reporting_month"])
        except ValueError:
            raise ParseError(
                f"{r['reporting_month']!r} is not a date",
                file=name,
                row=row,
                column="reporting_month",
            ) from None
        totals.append(
            ProviderTotal(
                period=month_bounds(month.year, month.month),
                code=r["provider_code"].strip().upper(),
                name=r["provider_name"].strip(),
                row=row,
                region=r["region_code"].strip() or None,
                waiting=_int(
                    r["total_incomplete_pathways"],
                    name=name,
                    row=row,
                    column="total_incomplete_pathways",
                ),
                within_18=_int(
                    r["total_within_18_weeks"], name=name, row=row, column="total_within_18_weeks"
                ),
                over_52=_int(r["total_52_plus"], name=name, row=row, column="total_52_plus"),
            )
        )
    if rows and not ends_whole:
        raise ParseError("the last row is cut short (truncated file?)", file=name, row=rows + 1)
    if open_trust is not None:
        raise ParseError(
            f"trust {open_trust[0]} has no C_999 (total) row: the file stops before it "
            "(truncated?)",
            file=name,
            row=open_trust[1],
            column="treatment_function_code",
        )
    return totals, rows


def summary_figures(fh: IO[bytes], name: str) -> Parsed:
    """Figures of ``rtt_summary.json``: its percentages as published (to 1 decimal place), so
    no within-18-weeks count is made up from them."""
    try:
        data: dict[str, Any] = json.load(fh)
        year, month = (int(x) for x in str(data["period"]).split("-"))
        bounds = month_bounds(year, month)
    except (ValueError, KeyError) as e:
        raise ParseError(f"not an RTT summary: {e}", file=name) from None
    parsed = Parsed(layout="RTT summary JSON")

    def add(code: str, nm: str, item: dict[str, Any], row: int, derived: bool) -> None:
        try:
            waiting = int(item["waiting_list"])
            pct = float(item["pct_within_18wk"])
            over = int(item["over_52wk"])
        except (KeyError, TypeError, ValueError) as e:
            raise ParseError(f"{code}: bad figure ({e})", file=name, row=row) from None
        parsed.rows_read += 1
        for metric, value, num in (
            ("rtt_waiting_list", float(waiting), None),
            ("rtt_52wk_count", float(over), None),
            ("rtt_18wk_pct", pct, None),
            ("rtt_52wk_pct", 100.0 * over / waiting if waiting else None, over),
        ):
            if value is None:
                continue
            parsed.figures.append(
                month_figure(
                    code,
                    metric,
                    bounds,
                    value,
                    numerator=num,
                    denominator=waiting if num is not None else None,
                    org_name=nm,
                    derived=derived,
                )
            )

    for i, t in enumerate(data.get("trusts", []), start=1):
        add(str(t["code"]).upper(), str(t.get("name", "")), t, i, False)
    for i, r in enumerate(data.get("regions", []), start=1):
        code = code_for(str(r.get("region", "")))
        if code is None:
            raise ParseError(
                f"unknown region {r.get('region')!r}", file=name, row=i, column="regions"
            )
        # The summary's regions cover acute trusts only: a derived figure, not the publisher's.
        add(code, str(r["region"]), r, i, True)
    add(ENGLAND, "England", data["national_all_providers"], 0, False)
    return parsed
