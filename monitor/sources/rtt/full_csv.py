"""Streaming the RTT Full CSV data file into per-provider incomplete-pathway totals.

``read_full_csv`` reads the monthly Full CSV (~180k rows x 121 columns, usually inside a zip)
line by line and keeps only what the figures need; ``ProviderTotal``, ``cross_check`` and
``check_consistent`` are shared with the workbook reader (monitor.sources.rtt.workbook). Each
provider's figures come from the publisher's own ``C_999`` ("Total") rows, checked against the
sum of the specialty rows. monitor.sources.rtt turns the totals into figures.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import IO, Any

from monitor.orgs import REGIONS
from monitor.sources.base import ParseError, named_month

PERIOD = "Period"
PARENT = "Provider Parent Org Code"
PROVIDER = "Provider Org Code"
PROVIDER_NAME = "Provider Org Name"
PART = "RTT Part Type"
FUNCTION = "Treatment Function Code"
TOTAL_ALL = "Total All"
BANDS = tuple(f"Gt {i:02d} To {i + 1:02d} Weeks SUM 1" for i in range(104)) + (
    "Gt 104 Weeks SUM 1",
)
WITHIN_18 = BANDS[:18]  # "Gt 00 To 01" .. "Gt 17 To 18": waiting 18 weeks or less
OVER_52 = BANDS[52:]  # "Gt 52 To 53" .. "Gt 104": waiting more than 52 weeks
LABEL_COLUMNS = (PERIOD, PARENT, PROVIDER, PROVIDER_NAME, PART, FUNCTION)
CSV_REQUIRED = (*LABEL_COLUMNS, *BANDS, TOTAL_ALL)
INCOMPLETE = "Part_2"  # incomplete pathways: the waiting list
ROLLUP = "C_999"  # the "Total" treatment function: the sum of a group's specialty rows

# The rows that matter contain this text; every other line is skipped before it is split, which
# is most of the speed. Both spellings cover a quoted or unquoted RTT Part Type; "Part_2A" rows
# fail both tests.
_PART_2 = (INCOMPLETE.encode() + b",", INCOMPLETE.encode() + b'"')
_PERIOD = re.compile(r"^RTT-([A-Za-z]+)-(\d{4})$")
# What a damaged zip member raises while it is being read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


@dataclass(slots=True, kw_only=True)
class ProviderTotal:
    """One provider's incomplete pathways for one month, and where they were read."""

    period: tuple[date, date]
    code: str
    name: str
    row: int  # the first row it was read from (1-based, header = 1)
    region: str | None = None  # a region code the file itself gives, if any
    parent: str | None = None  # Provider Parent Org Code (an ICB code in current files)
    waiting: int = 0  # Total All: every incomplete pathway
    within_18: int = 0
    over_52: int = 0


def _header(line: bytes, file: str) -> tuple[dict[str, int], int]:
    """Column positions by name, and the number of columns."""
    if not line.strip():
        raise ParseError("the file is empty", file=file, row=1)
    names = [h.strip() for h in next(csv.reader([line.decode("utf-8-sig", "replace")]))]
    missing = [c for c in CSV_REQUIRED if c not in names]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(map(repr, missing[:5]))}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            + " (is this the RTT Full CSV data file?)",
            file=file,
            row=1,
            column=missing[0],
        )
    doubled = [c for c, n in Counter(names).items() if n > 1 and c in CSV_REQUIRED]
    if doubled:
        raise ParseError("column appears twice", file=file, row=1, column=doubled[0])
    return {name: i for i, name in enumerate(names)}, len(names)


class _Layout:
    """Where a row's labels and counts are, by column name.

    ``split`` gives a row as (labels, counts): the labels indexed by ``at``, and the counts as
    one string, the 105 bands first and Total All last, so that one ``isdigit`` checks every
    count and only roll-up rows need splitting further. In the documented column order
    (labels, bands, Total, unknown clock start, Total All) that string is the row's tail,
    split off at the first band; other orders are rearranged into it.
    """

    def __init__(self, idx: dict[str, int], width: int) -> None:
        self.width = width
        k = idx[BANDS[0]]
        self.documented = (
            all(idx[b] == k + i for i, b in enumerate(BANDS))
            and idx[TOTAL_ALL] == width - 1
            and all(idx[c] < k for c in LABEL_COLUMNS)
        )
        if self.documented:
            self.k, self.at = k, {c: idx[c] for c in LABEL_COLUMNS}
            names = sorted(idx, key=idx.__getitem__)
            self.count_columns = names[k:]
        else:
            self.k, self.at = len(LABEL_COLUMNS), {c: i for i, c in enumerate(LABEL_COLUMNS)}
            self._labels = itemgetter(*(idx[c] for c in LABEL_COLUMNS))
            self.count_columns = [*BANDS, TOTAL_ALL]
            self._counts = itemgetter(*(idx[c] for c in self.count_columns))

    def split(self, text: str) -> tuple[list[str], str] | int:
        """(labels, counts) of one line, or the number of fields when it has the wrong number."""
        if self.documented and '"' not in text:
            head = text.split(",", self.k)
            if len(head) <= self.k or head[-1].count(",") != self.width - self.k - 1:
                return text.count(",") + 1
            return head, head[-1]
        fields = next(csv.reader([text])) if '"' in text else text.split(",")
        if len(fields) != self.width:
            return len(fields)
        if self.documented:
            return fields[: self.k], ",".join(fields[self.k :])
        return list(self._labels(fields)), ",".join(self._counts(fields))

    def bad_count(self, counts: str, *, file: str, row: int) -> ParseError:
        """The error for the first count cell of a row that is not a count."""
        for column, value in zip(self.count_columns, counts.split(","), strict=True):
            if value and not (value.isascii() and value.isdigit()):
                return ParseError(
                    f"expected a count, found {value!r}", file=file, row=row, column=column
                )
        raise AssertionError("called for a row whose counts are all valid")


def read_full_csv(stream: IO[bytes], *, file: str) -> tuple[list[ProviderTotal], int]:
    """Per-provider Part_2 totals from a Full CSV stream, and the number of data rows read.

    1. Check the header names every column needed (found by name).
    2. Skip lines that cannot be Part_2 rows by a byte test; split the rest (``csv`` only for
       lines with quotes; a quoted field may even span lines).
    3. From each provider's C_999 rows take Total All, the bands up to 18 weeks and the bands
       over 52 weeks; the bands must add up to Total All.
    4. Check the file ended whole and held Part_2 rows, and that each provider's specialty rows
       add up to its C_999 rows (the roll-up is what it says), so neither a missing roll-up nor
       a new kind of roll-up row goes unnoticed.
    """
    lines = _Lines(stream, file)
    try:
        tally = _Tally(_Layout(*_header(stream.readline(), file)), file)
        for row, text in lines:
            tally.add(text, row)
    except _DAMAGED as exc:
        # Reading runs ahead of parsing, so the damage may lie a little after this row.
        raise ParseError(
            f"the file is damaged or cut short ({exc})", file=file, row=lines.row + 1
        ) from None
    lines.check_whole()
    if not tally.totals and not tally.specialties:
        raise ParseError(
            "no incomplete-pathway (Part_2) rows: is this the RTT Full CSV data file?",
            file=file,
            column=PART,
        )
    cross_check(tally.totals, tally.specialties, file=file, column=TOTAL_ALL)
    return list(tally.totals.values()), lines.row - 1


class _Lines:
    """The data lines of a Full CSV that may be Part_2 rows, decoded, with their row numbers.

    A line with an odd number of quotes goes on over the line break and is joined with the
    next. Every other line is skipped by a byte test before it is decoded or split, which is
    most of the speed.
    """

    def __init__(self, stream: IO[bytes], file: str) -> None:
        self.stream, self.file = stream, file
        self.row = 1  # the header
        self.pending = b""
        self.last = b"\n"

    def __iter__(self) -> Iterator[tuple[int, str]]:
        # Locals in the loop, the attributes set once at the end (or when reading fails): this
        # loop sees every line of the file.
        row, pending, last = self.row, b"", self.last
        try:
            for last in self.stream:
                line = pending + last if pending else last
                if b'"' in line and line.count(b'"') % 2:
                    pending = line
                    continue
                pending = b""
                row += 1
                if b"Part_2" not in line or (_PART_2[0] not in line and _PART_2[1] not in line):
                    continue
                yield row, line.decode("utf-8", "replace").rstrip("\r\n")
        finally:
            self.row, self.pending, self.last = row, pending, last

    def check_whole(self) -> None:
        """A file that stops inside a quoted field or in the middle of a row is cut short."""
        if self.pending:
            raise ParseError(
                "a quoted field is never closed (truncated file?)", file=self.file, row=self.row + 1
            )
        if not self.last.endswith(b"\n"):
            raise ParseError(
                "the last row is cut short (truncated file?)", file=self.file, row=self.row
            )


class _Tally:
    """The running totals: each provider's C_999 rows, and its specialty rows' sum."""

    def __init__(self, layout: _Layout, file: str) -> None:
        self.layout, self.file = layout, file
        self.totals: dict[tuple[tuple[date, date], str], ProviderTotal] = {}
        self.specialties: Counter[tuple[tuple[date, date], str]] = Counter()
        self.months: dict[str, tuple[date, date]] = {}

    def add(self, text: str, row: int) -> None:
        """Count one row: a specialty row into its provider's sum, a C_999 row into its total."""
        split = self.layout.split(text)
        if isinstance(split, int):
            raise ParseError(
                f"row has {split} fields but the header names {self.layout.width}",
                file=self.file,
                row=row,
            )
        labels, counts = split
        at = self.layout.at
        if labels[at[PART]].strip() != INCOMPLETE:
            return
        code = labels[at[PROVIDER]].strip()
        if not code:
            raise ParseError("no provider code", file=self.file, row=row, column=PROVIDER)
        label = labels[at[PERIOD]]
        period = self.months.get(label)
        if period is None:
            period = self.months[label] = named_month(
                _PERIOD, label, "RTT-June-2026", file=self.file, row=row, column=PERIOD
            )
        # Blank cells are none; anything but digits is an error, in specialty rows too.
        digits = counts.replace(",", "")
        if digits and not (digits.isascii() and digits.isdigit()):
            raise self.layout.bad_count(counts, file=self.file, row=row)
        waiting = int(counts[counts.rfind(",") + 1 :] or 0)
        if labels[at[FUNCTION]].strip() != ROLLUP:
            self.specialties[period, code] += waiting
            return
        self._add_rollup(period, code, labels, counts, waiting, row)

    def _add_rollup(
        self,
        period: tuple[date, date],
        code: str,
        labels: list[str],
        counts: str,
        waiting: int,
        row: int,
    ) -> None:
        cells = counts.split(",", len(BANDS))[: len(BANDS)]
        bands = list(map(int, [v or "0" for v in cells] if "" in cells else cells))
        if sum(bands) != waiting:
            raise ParseError(
                f"the week bands add up to {sum(bands)}, not to Total All ({waiting})",
                file=self.file,
                row=row,
                column=TOTAL_ALL,
            )
        t = self.totals.get((period, code))
        if t is None:
            at = self.layout.at
            parent = labels[at[PARENT]].strip()
            t = self.totals[period, code] = ProviderTotal(
                period=period,
                code=code,
                name=labels[at[PROVIDER_NAME]].strip(),
                row=row,
                region=parent if parent in REGIONS else None,
                parent=parent or None,
            )
        t.waiting += waiting
        t.within_18 += sum(bands[: len(WITHIN_18)])
        t.over_52 += sum(bands[-len(OVER_52) :])


def cross_check(
    totals: dict[Any, ProviderTotal], specialties: Counter[Any], *, file: str, column: str
) -> None:
    for key in totals.keys() | specialties.keys():
        t = totals.get(key)
        if t is None:
            raise ParseError(
                f"provider {key[1]} has specialty rows but no {ROLLUP} (Total) row",
                file=file,
                column=column,
            )
        if key in specialties and specialties[key] != t.waiting:
            raise ParseError(
                f"provider {t.code}: its specialty rows add up to {specialties[key]} "
                f"incomplete pathways but its {ROLLUP} (Total) rows to {t.waiting}",
                file=file,
                row=t.row,
                column=column,
            )


def check_consistent(totals: Iterable[ProviderTotal], *, file: str) -> None:
    """Within 18 weeks and over 52 weeks are disjoint parts of the list: they cannot exceed it."""
    for t in totals:
        if t.within_18 + t.over_52 > t.waiting:
            raise ParseError(
                f"provider {t.code}: {t.within_18} within 18 weeks and {t.over_52} over 52 "
                f"weeks exceed its {t.waiting} incomplete pathways",
                file=file,
                row=t.row,
            )
