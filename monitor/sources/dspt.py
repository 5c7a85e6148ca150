"""Data Security and Protection Toolkit (DSPT): each organisation's status, one point per edition.

Three real layouts, told apart by their header (docs/dspt.md describes them):

- the organisation search's **download** (``Code, Organisation Name, Status, Date Of
  Publication, Primary Sector, ...``): each organisation's latest status, ``22/23 Standards Met``;
- NHSX's **2020/21 metric file**: ``Latest.Status`` is the organisation's own status (NHSX's
  ``Final.Status`` gives a closed organisation its successor's, so it is not read);
- an organisation's **history** page (``Status, Date Published``): ``2024-25 (version 7) -
  Standards met``; the page names no code, so the file's name must carry it.

An edition is a point at its deadline, 30 June after its financial year, so every publication
within an edition is a version of one figure. Baselines are interim submissions, skipped. The
monitor follows NHS trusts and ICBs; other sectors are passed over, counted per sector.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from monitor.metrics import Granularity
from monitor.sources.base import MONTHS, Figure, Parsed, ParseError, Skipped
from monitor.sources.discover import Link
from monitor.sources.tabular import csv_rows, reject_html

SOURCE = "dspt"
METRIC = "dspt_status"
DOWNLOAD_TITLE = "DSPT organisation search: every organisation's latest status (CSV)"

# Status words, lower case with single spaces -> (value, label as the monitor writes it).
STATUSES: dict[str, tuple[int, str]] = {
    "standards exceeded": (1, "Standards Exceeded"),
    "standards met": (2, "Standards Met"),
    "approaching standards": (3, "Approaching Standards"),
    "standards not met": (4, "Standards Not Met"),
    "not published": (4, "Not Published"),
}
BASELINE = "baseline"
NOT_PUBLISHED = "not published"
DEADLINE = (6, 30)  # month, day: an edition's status is due by 30 June after its year

_SHORT_EDITION = re.compile(r"^(\d{2})/(\d{2})\s+(\S.*)$")  # 22/23 Standards Met
_LONG_EDITION = re.compile(  # 2024-25 (version 7) - Standards met
    r"^(\d{4})-(\d{2})\s*(?:\(\s*version\s+\d+\s*\))?\s*-\s*(\S.*)$", re.IGNORECASE
)
_ICB = re.compile(r"^Q[A-Z0-9]{2}$")
_TRUST_OR_ICB = re.compile(r"^[RTQ][A-Z0-9]{2}$")
_LONG_DATE = re.compile(r"^(\d{1,2})\s+([A-Za-z]+)\s+(\d{4})$")


@dataclass(frozen=True, slots=True)
class Status:
    """A status cell read: its edition (first year of the financial year, 2022 for 2022/23;
    None for an undated "Not Published"), its value (None for a baseline) and its label."""

    edition: int | None
    value: int | None
    label: str


def edition_point(edition: int) -> date:
    """The point an edition's status is stored at: 30 June after its financial year."""
    return date(edition + 1, *DEADLINE)


def edition_label(point: date) -> str:
    """The edition a stored point stands for, as the DSPT writes it: 2023-06-30 -> '2022/23'."""
    first = point.year - 1
    return f"{first}/{(first + 1) % 100:02d}"


def read_status(text: str, *, file: str, row: int, column: str) -> Status | None:
    """A status cell in either wording; None when empty, a ParseError naming it when unknown."""
    text = " ".join(text.split())
    if not text:
        return None
    edition, words = None, text
    m = _SHORT_EDITION.match(text) or _LONG_EDITION.match(text)
    if m:
        first, second, words = m.groups()
        edition = int(first) + (2000 if len(first) == 2 else 0)
        if (edition + 1) % 100 != int(second):
            raise ParseError(
                f"edition {first}/{second} in {text!r} is not a financial year",
                file=file,
                row=row,
                column=column,
            )
    key = words.lower()
    if key != BASELINE and key not in STATUSES:
        raise ParseError(
            f"unknown DSPT status {text!r}; expected one of "
            f"{', '.join(label for _, label in STATUSES.values())} or Baseline, "
            "after an edition such as '22/23' or '2024-25 (version 7) -'",
            file=file,
            row=row,
            column=column,
        )
    if edition is None and key != NOT_PUBLISHED:
        raise ParseError(
            f"status {text!r} names no edition (expected e.g. '22/23 Standards Met')",
            file=file,
            row=row,
            column=column,
        )
    if key == BASELINE:
        return Status(edition, None, "Baseline")
    value, label = STATUSES[key]
    return Status(edition, value, label)


def _slash_date(text: str) -> date:
    return datetime.strptime(text, "%d/%m/%Y").date()


def _long_date(text: str) -> date:
    m = _LONG_DATE.match(text)
    if not m or m.group(2).upper() not in MONTHS:
        raise ValueError(text)
    return date(int(m.group(3)), MONTHS[m.group(2).upper()], int(m.group(1)))


def _download_scope(sector: str, code: str) -> str | None:
    """None for the rows the monitor keeps (trusts, ICBs); otherwise what the row is."""
    if sector.lower() == "nhs trust":
        return None
    if "integrated care board" in sector.lower():
        return None if _ICB.match(code) else "CCGs and sub-ICB locations"
    return f"sector {sector or '(none)'!r}"


def _metric_file_scope(sector: str, code: str) -> str | None:
    if sector.lower() == "trust":
        return None
    if sector.upper() == "CCG":
        return "CCGs (closed in July 2022)"
    return f"sector {sector or '(none)'!r}"


@dataclass(frozen=True, slots=True)
class Layout:
    """Which columns of one of the three layouts hold what."""

    status: str
    published: str
    parse_date: Callable[[str], date]
    date_example: str
    code: str | None = None
    org_name: str | None = None
    sector: str | None = None
    scope: Callable[[str, str], str | None] | None = None

    @property
    def required(self) -> tuple[str, ...]:
        cols = (self.code, self.org_name, self.sector, self.status, self.published)
        return tuple(c for c in cols if c)


DOWNLOAD = Layout(
    "Status",
    "Date Of Publication",
    _slash_date,
    "30/06/2023",
    "Code",
    "Organisation Name",
    "Primary Sector",
    _download_scope,
)
METRIC_FILE = Layout(
    "Latest.Status",
    "Date.Of.Publication",
    _slash_date,
    "30/06/2021",
    "Code",
    "Name",
    "Sector",
    _metric_file_scope,
)
HISTORY = Layout("Status", "Date Published", _long_date, "30 June 2025")


def layout_of(data: bytes, filename: str) -> Layout:
    """The layout a file's header shows; anything else is a ParseError at row 1."""
    reject_html(data, filename, "CSV")
    first = data[:8192].decode("utf-8-sig", errors="replace").splitlines()[:1]
    header = {h.strip() for h in next(csv.reader(io.StringIO(first[0])), [])} if first else set()
    if METRIC_FILE.status in header:
        return METRIC_FILE
    if HISTORY.published in header:
        return HISTORY
    if DOWNLOAD.status in header:
        return DOWNLOAD
    raise ParseError(
        "not a DSPT file: expected a 'Status' column (the download, or an organisation's "
        "history with 'Date Published') or 'Latest.Status' (the 2020/21 metric file)",
        file=filename,
        row=1,
        column="Status",
    )


def org_of_history(filename: str) -> str:
    """The ODS code in a history file's name: 'dspt_RDY_assessment_history.csv' -> RDY."""
    words = re.split(r"[^A-Za-z0-9]+", Path(filename).stem)
    codes = {w.upper() for w in words if _TRUST_OR_ICB.match(w.upper())}
    if len(codes) != 1:
        raise ParseError(
            "an organisation's DSPT history names no organisation: put its ODS code in the "
            "file name, e.g. dspt_RDY_assessment_history.csv "
            f"(found {', '.join(sorted(codes)) or 'none'})",
            file=filename,
        )
    return codes.pop()


@dataclass(frozen=True, slots=True)
class _Row:
    row: int
    org: str
    name: str | None
    edition: int | None
    value: int
    label: str
    published: date | None


class _PassedOver:
    """Rows outside the monitor's organisations, counted per kind (the download lists ~30,000)."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.first: dict[str, int] = {}

    def add(self, what: str, row: int) -> None:
        self.count[what] += 1
        self.first.setdefault(what, row)

    def skipped(self) -> list[Skipped]:
        return [
            Skipped(self.first[what], f"{n} row(s) of {what} passed over (first at this row): "
                    "the monitor follows NHS trusts and ICBs")
            for what, n in self.count.items()
        ]  # fmt: skip


def parse(data: bytes, *, filename: str, region_of: Mapping[str, str] | None = None) -> Parsed:
    """``dspt_status`` figures from any of the three layouts (see the module docstring).

    1. Tell the layout from the header; read each row's organisation, status and date.
    2. Pass over organisations the monitor does not follow; skip rows without a status and
       baselines, each with its reason.
    3. An undated "Not Published" belongs to the newest edition the file names.
    4. One figure per organisation and edition: the status published last.
    """
    layout = layout_of(data, filename)
    org = org_of_history(filename) if layout is HISTORY else None
    parsed = Parsed()
    passed = _PassedOver()
    found: list[_Row] = []
    for row, rec in csv_rows(data, filename=filename, required=layout.required):
        parsed.rows_read += 1
        read = _read_row(layout, rec, row, filename, org, passed, parsed.skipped)
        if read is not None:
            found.append(read)
    if not parsed.rows_read:
        raise ParseError("no data rows", file=filename, row=2)
    found = _dated(found, layout, filename)
    parsed.figures = _one_per_edition(found, layout, filename, parsed.skipped)
    parsed.skipped += passed.skipped()
    parsed.skipped.sort(key=lambda s: s.row)
    return parsed


def _read_row(
    layout: Layout,
    rec: dict[str, str],
    row: int,
    filename: str,
    org: str | None,
    passed: _PassedOver,
    skipped: list[Skipped],
) -> _Row | None:
    if layout.code is not None:
        org = rec[layout.code].upper()
        if not org:
            raise ParseError("no organisation code", file=filename, row=row, column=layout.code)
    assert org is not None
    if layout.scope is not None and layout.sector is not None:
        outside = layout.scope(rec[layout.sector], org)
        if outside:
            passed.add(outside, row)
            return None
    status = read_status(rec[layout.status], file=filename, row=row, column=layout.status)
    if status is None:
        skipped.append(Skipped(row, f"{org}: no status published{_successor_note(rec)}"))
        return None
    if status.value is None:
        skipped.append(
            Skipped(row, f"{org}: a baseline (interim) submission, not the edition's status")
        )
        return None
    published = None
    if rec[layout.published]:
        try:
            published = layout.parse_date(rec[layout.published])
        except ValueError:
            raise ParseError(
                f"expected a date like {layout.date_example!r}, found {rec[layout.published]!r}",
                file=filename,
                row=row,
                column=layout.published,
            ) from None
    name = rec[layout.org_name] or None if layout.org_name else None
    return _Row(row, org, name, status.edition, status.value, status.label, published)


def _successor_note(rec: dict[str, str]) -> str:
    final, successor = rec.get("Final.Status"), rec.get("Successor.Code")
    if final and successor:
        return f" of its own (NHSX's Final.Status {final!r} is its successor {successor}'s)"
    return ""


def _dated(rows: list[_Row], layout: Layout, filename: str) -> list[_Row]:
    """Rows with an edition: an undated "Not Published" takes the newest edition in the file."""
    newest = max((r.edition for r in rows if r.edition is not None), default=None)
    out = []
    for r in rows:
        if r.edition is None:
            if newest is None:
                raise ParseError(
                    "'Not Published' without an edition, in a file that names no edition",
                    file=filename,
                    row=r.row,
                    column=layout.status,
                )
            r = replace(r, edition=newest)
        out.append(r)
    return out


def _one_per_edition(
    rows: list[_Row], layout: Layout, filename: str, skipped: list[Skipped]
) -> list[Figure]:
    """The status published last in each (organisation, edition); earlier ones are skipped."""
    best: dict[tuple[str, int], _Row] = {}
    for r in rows:
        assert r.edition is not None  # every row has its edition by now
        key = (r.org, r.edition)
        held = best.get(key)
        if held is None:
            best[key] = r
            continue
        same_day = (held.published or date.min) == (r.published or date.min)
        if same_day and (held.value, held.label) != (r.value, r.label):
            raise ParseError(
                f"{r.org} has two statuses for edition {edition_label(edition_point(key[1]))} "
                f"published on the same day: {held.label!r} (row {held.row}) and {r.label!r}",
                file=filename,
                row=r.row,
                column=layout.status,
            )
        newer = (r.published or date.min) > (held.published or date.min)
        keep, drop = (r, held) if newer else (held, r)
        best[key] = keep
        skipped.append(
            Skipped(drop.row, f"{drop.org}: superseded within the edition by row {keep.row}")
        )
    return [
        Figure(
            org=r.org,
            metric=METRIC,
            period_start=edition_point(edition),
            period_end=edition_point(edition),
            granularity=Granularity.POINT,
            value=float(r.value),
            label=r.label,
            org_name=r.name,
            row=r.row,
        )
        for (_, edition), r in sorted(best.items())
    ]


def download_link(url: str) -> Link:
    """The download as the poller's one link: the configured address is the file itself, so
    there is nothing to discover (monitor/sources/poll.py fetches it conditionally)."""
    return Link(
        url=url,
        text=DOWNLOAD_TITLE,
        period=None,
        revised=False,
        published=None,
        kind="csv",
        dataset="dspt-download",
    )
