"""Finding data files on NHS England statistics pages, from the links' text and addresses.

NHS England's file names are not predictable (``July-2025-CSV-9jfy4.csv``,
``Monthly-AE-October-2024-revised.csv``), so nothing here builds a URL: each publisher module
picks its files out of the links inside the page's ``<article>``, using the link text ("Monthly
A&E July 2025 (CSV, 27KB)") and the file name, and keeps the newest version of each period.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

from monitor.sources.base import MONTHS, financial_quarter_bounds


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """One published file found on a page.

    ``period`` is the first day of the month (or financial quarter) the file covers; for a
    cumulative file, its latest month. ``published`` is set only where the page states it.
    ``dataset`` tells apart different files for the same period on one page (e.g. the provider
    extract and the national time series); versions of one dataset share it.
    """

    url: str
    text: str
    period: date | None
    revised: bool
    published: date | None
    kind: str
    dataset: str = ""


@dataclass(slots=True)
class PageLink:
    """A raw ``<a href>`` inside the article: absolute URL, its text and the text just after it."""

    url: str
    text: str
    tail: str
    position: int


_BLOCKS = {"p", "li", "td", "th", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table"}


class _ArticleLinks(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.depth = 0  # nesting depth of <article> elements
        self.links: list[PageLink] = []
        self._open: PageLink | None = None  # the <a> being read
        self._tail: PageLink | None = None  # the last closed <a>, collecting the text after it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "article":
            self.depth += 1
            return
        if not self.depth:
            return
        if tag == "a":
            self._tail = None
            href = dict(attrs).get("href")
            if href and not href.startswith(("#", "mailto:", "javascript:")):
                url = urljoin(self.base_url, href.strip())
                self._open = PageLink(url, "", "", len(self.links))
        elif tag == "br" or tag in _BLOCKS:
            self._tail = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "article" and self.depth:
            self.depth -= 1
        elif tag == "a" and self._open is not None:
            self._open.text = " ".join(self._open.text.split())
            self.links.append(self._open)
            self._tail, self._open = self._open, None
        elif tag in _BLOCKS:
            self._tail = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.text += data
        elif self._tail is not None:
            self._tail.tail = " ".join((self._tail.tail + data).split())


def article_links(html: str, base_url: str) -> list[PageLink]:
    """Every link inside the page's ``<article>`` elements, in page order, with absolute URLs.

    Pages without an ``<article>`` yield nothing: links in menus, footers and sidebars are never
    data files of the page.
    """
    parser = _ArticleLinks(base_url)
    parser.feed(html)
    parser.close()
    return parser.links


def file_kind(url: str) -> str:
    """The file's extension in lower case (``csv``, ``xlsx``, ``zip``...), or '' for pages."""
    return PurePosixPath(urlsplit(url).path).suffix.lower().lstrip(".")


def file_name(url: str) -> str:
    """The last path segment of a URL, unquoted."""
    return unquote(PurePosixPath(urlsplit(url).path).name)


_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_MONTH_YEAR = re.compile(rf"\b({_MONTH_NAMES})[\s\-_.]*((?:19|20)\d\d)\b", re.IGNORECASE)
_PUBLISHED = re.compile(
    rf"\b(?:published|updated)(?:\s+on)?\s+(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_NAMES})"
    r"\s+((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_QUARTER = re.compile(r"\bQ([1-4])[\s\-_]+(20\d\d|\d\d)[\s\-_/]+(\d\d)\b", re.IGNORECASE)
_REVISED = re.compile(r"revis|(?:^|[\s\-_(])v\d+(?:\.\d+)?(?:$|[\s\-_)])", re.IGNORECASE)


def published_date(text: str) -> date | None:
    """The date in "published on 9 January 2025" / "updated on 3 December 2024", if any."""
    m = _PUBLISHED.search(text)
    if not m:
        return None
    try:
        return date(int(m.group(3)), MONTHS[m.group(2).upper()], int(m.group(1)))
    except (KeyError, ValueError):
        return None


def month_period(*texts: str) -> date | None:
    """The first day of the latest "<Month> <YYYY>" named in the first text that names one.

    A cumulative file ("AmbSYS August 2017 to December 2024") covers up to its latest month.
    Publication dates ("published on 9 January 2025") are not periods and are left out.
    """
    for text in texts:
        text = _PUBLISHED.sub(" ", text)
        found = [
            date(int(y), MONTHS[m.upper()], 1)
            for m, y in _MONTH_YEAR.findall(text)
            if m.upper() in MONTHS
        ]
        if found:
            return max(found)
    return None


def quarter_period(*texts: str) -> date | None:
    """The first day of the financial quarter in "Q3 2025/26", "q3-2025-26" or "q3-25-26"."""
    for text in texts:
        m = _QUARTER.search(text)
        if m:
            start_year = int(m.group(2)) % 100 + 2000  # "25-26" in file names is 2025/26
            if (start_year + 1) % 100 == int(m.group(3)):
                return financial_quarter_bounds(start_year, int(m.group(1)))[0]
    return None


def is_revised(text: str, url: str) -> bool:
    """True when the link text or file name marks a revised version ("revised", "-v2")."""
    stem = PurePosixPath(file_name(url)).stem
    return bool(_REVISED.search(text) or _REVISED.search(stem))


def make_link(
    raw: PageLink,
    *,
    dataset: str = "",
    period: Callable[[str, str], date | None] | None = None,
) -> Link:
    """A Link from a raw page link: period from its text, else its file name."""
    name = file_name(raw.url).replace("-", " ").replace("_", " ")
    find = period or (lambda text, fname: month_period(text, fname))
    return Link(
        url=raw.url,
        text=raw.text,
        period=find(raw.text, name),
        revised=is_revised(raw.text, raw.url),
        published=published_date(raw.tail) or published_date(raw.text),
        kind=file_kind(raw.url),
        dataset=dataset,
    )


def newest_versions(links: Iterable[Link]) -> list[Link]:
    """One link per (dataset, kind, period): the newest version.

    A revised file beats an unrevised one; between equals, the one later on the page wins (NHS
    England adds revisions below the original). The result keeps page order of the winners.
    """
    ordered = list(links)
    best: dict[tuple[str, str, date | None], int] = {}
    for i, link in enumerate(ordered):
        key = (link.dataset, link.kind, link.period)
        j = best.get(key)
        if j is None or (link.revised, i) >= (ordered[j].revised, j):
            best[key] = i
    return [ordered[i] for i in sorted(best.values())]


def dated_links(
    html: str,
    base_url: str,
    dataset_of: Callable[[PageLink], str | None],
    *,
    period: Callable[[str, str], date | None] | None = None,
    revised: Callable[[PageLink], bool] | None = None,
) -> list[Link]:
    """The newest version of each data file of a page whose period can be read.

    ``dataset_of`` names the dataset of an article link, or None to leave it out; ``period``
    reads the period as :func:`make_link` does, ``revised`` tells a revised file where the
    usual words (:func:`is_revised`) would mislead.
    """
    found = []
    for raw in article_links(html, base_url):
        dataset = dataset_of(raw)
        if dataset is None:
            continue
        link = make_link(raw, dataset=dataset, period=period)
        if revised is not None:
            link = replace(link, revised=revised(raw))
        if link.period is not None:
            found.append(link)
    return newest_versions(found)


def page_links(html: str, base_url: str, pattern: re.Pattern[str]) -> list[str]:
    """Absolute URLs of article links whose address matches ``pattern``, once each, in order."""
    seen: dict[str, None] = {}
    for raw in article_links(html, base_url):
        url = raw.url.split("#", 1)[0]
        if pattern.search(url) and url.rstrip("/") != base_url.rstrip("/"):
            seen.setdefault(url, None)
    return list(seen)
