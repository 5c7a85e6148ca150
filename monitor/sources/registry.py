"""The publishers: the one list of sources, each entry declaring what its publisher has.

Everything that names a source takes it from here: config.toml's ``[sources.<name>]`` tables,
`monitor ingest SOURCE`, `monitor poll` and `monitor backfill`, the scheduler, seeding and the
sources page. Adding a publisher is one module beside this file and one entry in PUBLISHERS.

There are two kinds of publisher, and an entry's class says which ingest path it takes:

- ``Statistics``: NHS England statistics pages. ``discover`` picks a page's data files out of
  its links, ``yearly_pages`` (for a landing page that lists one page per financial year)
  names those pages, and ``parse`` turns one file into figures, which monitor.sources.ingest
  stores. ``streams`` says ``parse`` reads a path: the file is saved to disk rather than held
  in memory.
  ``download`` marks a publication that is one file at a fixed address (the DSPT's CSV
  download), fetched conditionally on every poll instead of discovered.
- ``RatingsFeed``: the CQC, polled through its Syndication API's changes feed; its API bodies
  and its bulk ratings file become ratings through monitor.sources.cqc.

An entry's metrics are the catalogue's (monitor/metrics.py): those whose publisher it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor import metrics
from monitor.sources import ae, ambulance, cancer, dspt, oversight, rtt
from monitor.sources.discover import Link
from monitor.sources.ingest import Parser

Discover = Callable[[str, str], list[Link]]  # (page html, page url) -> the data files it links
YearlyPages = Callable[[str, str], list[str]]  # (landing page html, its url) -> year pages


def _metrics_of(name: str) -> tuple[str, ...]:
    return tuple(m.id for m in metrics.METRICS.values() if m.publisher == name)


@dataclass(frozen=True, kw_only=True)
class Statistics:
    """A publisher of NHS England statistics pages: discover -> fetch -> parse -> ingest."""

    name: str
    title: str  # the publication and its publisher, for the sources page
    short: str  # a few words, for notices and email subjects
    parse: Parser
    discover: Discover | None = None  # None only for a ``download``: nothing to discover
    yearly_pages: YearlyPages | None = None  # None: the landing page links the files itself
    streams: bool = False  # parse() reads a path, so a file is saved to disk, never held whole
    # Set when the publication is one file at a fixed address that changes in place (the DSPT
    # download): ``index_url`` is the file itself, fetched conditionally; nothing to discover.
    download: Callable[[str], Link] | None = None

    def __post_init__(self) -> None:
        if (self.discover is None) == (self.download is None):
            raise ValueError(f"{self.name}: give exactly one of discover and download")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The ids of the catalogue's metrics this publisher's files carry."""
        return _metrics_of(self.name)


@dataclass(frozen=True, kw_only=True)
class RatingsFeed:
    """The CQC: a changes feed of API bodies and a bulk ratings file (monitor.sources.cqc)."""

    name: str
    title: str
    short: str

    @property
    def metrics(self) -> tuple[str, ...]:
        """The ids of the catalogue's metrics this publisher's ratings carry."""
        return _metrics_of(self.name)


Publisher = Statistics | RatingsFeed

PUBLISHERS: tuple[Publisher, ...] = (
    Statistics(
        name=ae.SOURCE,
        title="A&E attendances and emergency admissions (NHS England)",
        short="A&E statistics",
        parse=ae.parse,
        discover=ae.discover,
        yearly_pages=ae.yearly_pages,
    ),
    Statistics(
        name=cancer.SOURCE,
        title="Cancer waiting times (NHS England)",
        short="Cancer waiting times",
        parse=cancer.parse,
        discover=cancer.discover,
        yearly_pages=cancer.yearly_pages,
    ),
    Statistics(
        name=rtt.SOURCE,
        title="Referral to treatment waiting times (NHS England)",
        short="Referral to treatment waiting times",
        parse=rtt.parse,
        discover=rtt.discover,
        yearly_pages=rtt.yearly_pages,
        streams=True,  # the Full CSV zip: ~80 MB of CSV, read line by line from the zip
    ),
    Statistics(
        name=ambulance.SOURCE,
        title="Ambulance quality indicators (NHS England)",
        short="Ambulance response times",
        parse=ambulance.parse,
        discover=ambulance.discover,
        yearly_pages=ambulance.yearly_pages,
    ),
    Statistics(
        name=oversight.SOURCE,
        title="NHS Oversight Framework segmentation and league tables (NHS England)",
        short="NHS Oversight Framework",
        parse=oversight.parse,
        discover=oversight.discover,
    ),
    Statistics(
        name=dspt.SOURCE,
        title="Data Security and Protection Toolkit statuses (NHS England)",
        short="Data Security and Protection Toolkit",
        parse=dspt.parse,
        download=dspt.download_link,
    ),
    RatingsFeed(
        name="cqc",
        title="CQC inspection ratings (Care Quality Commission)",
        short="CQC ratings",
    ),
)

NAMES: tuple[str, ...] = tuple(p.name for p in PUBLISHERS)
STATISTICS_NAMES: tuple[str, ...] = tuple(p.name for p in PUBLISHERS if isinstance(p, Statistics))
_BY_NAME: dict[str, Publisher] = {p.name: p for p in PUBLISHERS}


def get(name: str) -> Publisher:
    """The publisher called ``name``; ValueError naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; use one of {', '.join(NAMES)}") from None


def statistics(name: str) -> Statistics:
    """The statistics-page publisher ``name``; ValueError for the CQC or an unknown name."""
    publisher = get(name)
    if not isinstance(publisher, Statistics):
        raise ValueError(
            f"{name} is not published on statistics pages; use one of {', '.join(STATISTICS_NAMES)}"
        )
    return publisher
