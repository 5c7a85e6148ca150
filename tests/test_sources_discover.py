"""Finding files on saved NHS England statistics pages (tests/data/pages, see SOURCES.md there)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from monitor.sources import ae, ambulance, cancer, oversight
from monitor.sources.discover import (
    Link,
    article_links,
    is_revised,
    month_period,
    newest_versions,
    published_date,
    quarter_period,
)

PAGES = Path(__file__).resolve().parent / "data" / "pages"

STATS = "https://www.england.nhs.uk/statistics/"
AE_AREA = STATS + "statistical-work-areas/ae-waiting-times-and-activity/"
UPLOADS = STATS + "wp-content/uploads/sites/2/"


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def test_only_links_inside_the_article_count():
    html = page("ae-attendances-and-emergency-admissions-2025-26.html")
    urls = [link.url for link in article_links(html, AE_AREA)]
    assert not any("December-2024" in u or "March-2025" in u for u in urls), "menu and footer"
    assert article_links("<p><a href='x.csv'>Monthly A&amp;E</a></p>", AE_AREA) == []


def test_ae_yearly_page_gives_one_csv_per_month_newest_version():
    base = AE_AREA + "ae-attendances-and-emergency-admissions-2025-26/"
    links = ae.discover(page("ae-attendances-and-emergency-admissions-2025-26.html"), base)
    assert [(link.period, link.url.rsplit("/", 1)[1]) for link in links] == [
        (date(2025, 7, 1), "July-2025-CSV-9jfy4.csv"),
        (date(2025, 6, 1), "Monthly-AE-June-2025-1-1.csv"),
        (date(2025, 5, 1), "Monthly-AE-May-2025.csv"),
        (date(2025, 4, 1), "Monthly-AE-April-2025.csv"),
        (date(2025, 8, 1), "August-2025-CSV-g5tyh-v2.0.csv"),  # the later version wins
    ]
    assert all(link.kind == "csv" and link.url.startswith(UPLOADS) for link in links)
    june = links[1]
    assert june.url == UPLOADS + "2025/07/Monthly-AE-June-2025-1-1.csv", "relative href resolved"
    assert june.text == "Monthly A&E June 2025 (CSV, 28KB)"
    assert [link.revised for link in links] == [False, False, False, False, True]
    assert all(link.published is None for link in links), "the page states no dates"


def test_ae_revised_files_replace_the_originals():
    base = AE_AREA + "ae-attendances-and-emergency-admissions-2024-25/"
    links = ae.discover(page("ae-attendances-and-emergency-admissions-2024-25.html"), base)
    by_month = {link.period: link.url.rsplit("/", 1)[1] for link in links}
    assert by_month[date(2024, 10, 1)] == "Monthly-AE-October-2024-revised.csv"
    assert by_month[date(2024, 11, 1)] == "Monthly-AE-November-2024-revised.csv"
    assert by_month[date(2025, 2, 1)] == "Monthly-AE-February-2025-revised.csv"
    assert by_month[date(2025, 3, 1)] == "Monthly-AE-March-2025.csv"
    assert len(links) == 7


def test_ae_landing_page_lists_the_yearly_pages():
    pages = ae.yearly_pages(page("ae-waiting-times-and-activity.html"), AE_AREA)
    assert [p.removeprefix(AE_AREA) for p in pages] == [
        "ae-attendances-and-emergency-admissions-2025-26/",
        "ae-attendances-and-emergency-admissions-2024-25/",
        "ae-attendances-and-emergency-admissions-2023-24/",
        "ae-attendances-and-emergency-admissions-2022-23/",
        "ae-attendances-and-emergency-admissions-2021-22/",
        "statistical-work-areasae-waiting-times-and-activityae-attendances-and-emergency"
        "-admissions-2016-17/",
        "statistical-work-areasae-waiting-times-and-activityae-attendances-and-emergency"
        "-admissions-2015-16-monthly-3/",
    ]


def test_cancer_page_gives_provider_extracts_and_the_national_series():
    base = STATS + "statistical-work-areas/cancer-waiting-times/"
    links = cancer.discover(page("cancer-waiting-times.html"), base)
    found = [(link.dataset, link.period, link.revised) for link in links]
    assert found == [
        ("national-time-series", date(2025, 3, 1), False),
        ("provider-extract", date(2025, 3, 1), False),
        ("provider-extract", date(2024, 9, 1), False),
        ("provider-extract", date(2024, 3, 1), False),
    ]
    assert links[0].url.endswith(
        "CWT-CRS-National-Time-Series-Oct-2009-Mar-2025-with-Revisions.xlsx"
    )
    assert {link.kind for link in links} == {"xlsx"}


def test_cancer_yearly_pages():
    base = STATS + "statistical-work-areas/cancer-waiting-times/"
    pages = cancer.yearly_pages(page("cancer-waiting-times.html"), base)
    assert [p.rsplit("/", 2)[1] for p in pages] == [
        "2025-26-monthly-cancer-waiting-times-statistics",
        "2024-25-monthly-cancer-waiting-times-statistics",
    ]


def test_ambulance_page_gives_ambsys_csv_and_workbook_with_publication_dates():
    base = STATS + "statistical-work-areas/ambulance-quality-indicators/"
    links = ambulance.discover(page("ambulance-quality-indicators.html"), base)
    assert [(link.kind, link.period, link.published) for link in links] == [
        ("xlsx", date(2024, 12, 1), date(2025, 1, 9)),
        ("csv", date(2024, 12, 1), date(2025, 1, 9)),
    ]
    assert links[1].url == UPLOADS + "2025/01/AmbSYS-to-Dec-2024-ZQ4a8.csv"
    pages = ambulance.yearly_pages(page("ambulance-quality-indicators.html"), base)
    assert len(pages) == 4 and pages[0].endswith("ambulance-quality-indicators-data-2024-25/")


def test_oversight_page_gives_each_dataset_and_quarter_newest_version():
    base = "https://www.england.nhs.uk/nhs-oversight-framework/segmentation-and-league-tables/"
    links = oversight.discover(page("segmentation-and-league-tables.html"), base)
    found = [(link.dataset, link.period, link.url.rsplit("/", 1)[1]) for link in links]
    assert found == [
        (
            "acute-trust-data",
            date(2025, 7, 1),
            "nhs-oversight-framework-acute-trust-data-q2-25-26.csv",
        ),
        (
            "acute-trust-league-table",
            date(2025, 7, 1),
            "nhs-oversight-framework-acute-trust-league-table-q2-25-26-v2.csv",
        ),
        (
            "mental-health-and-community-trust-league-table",
            date(2025, 7, 1),
            "nhs-oversight-framework-mental-health-and-community-trust-league-table-q2-25-26.csv",
        ),
        ("acute-trust-data", date(2025, 4, 1), "nhs-oversight-framework-acute-trust-data.csv"),
        (
            "ambulance-trust-data",
            date(2025, 4, 1),
            "nhs-oversight-framework-ambulance-trust-data.csv",
        ),
    ]
    assert [link.revised for link in links] == [False, True, False, False, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Monthly A&E July 2025 (CSV, 27KB)", date(2025, 7, 1)),
        (
            "AmbSYS August 2017 to December 2024 (csv, 1.1MB) (published on 9 January 2025)",
            date(2024, 12, 1),
        ),
        ("CWT CRS Oct 2024 to Mar 2025 Data Extract (Provider)", date(2025, 3, 1)),
        ("July 2025 CSV 9jfy4.csv", date(2025, 7, 1)),
        ("Statistical Note", None),
    ],
)
def test_month_period(text, expected):
    assert month_period(text) == expected


def test_quarter_period_and_published_date():
    assert quarter_period("Q3 2025/26") == date(2025, 10, 1)
    assert quarter_period("nhs oversight framework acute trust data q2 25 26") == date(2025, 7, 1)
    assert quarter_period("Q2 2025/27") is None
    assert quarter_period("league-table-q2-2025-26") == date(2025, 7, 1)
    assert published_date("(published on 9 January 2025)") == date(2025, 1, 9)
    assert published_date("(updated on 3 December 2024)") == date(2024, 12, 3)


@pytest.mark.parametrize(
    ("text", "url", "revised"),
    [
        ("Monthly A&E October 2024 revised (CSV)", "x/Monthly-AE-October-2024-revised.csv", True),
        ("Monthly A&E August 2025 (CSV)", "x/August-2025-CSV-g5tyh-v2.0.csv", True),
        ("Monthly A&E July 2025 (CSV)", "x/July-2025-CSV-9jfy4.csv", False),
    ],
)
def test_is_revised(text, url, revised):
    assert is_revised(text, url) is revised


def test_newest_versions_prefers_revised_then_later_on_the_page():
    def link(url: str, revised: bool) -> Link:
        return Link(
            url=url, text="", period=date(2025, 1, 1), revised=revised, published=None, kind="csv"
        )

    assert newest_versions([link("a", True), link("b", False)]) == [link("a", True)]
    assert newest_versions([link("a", False), link("b", False)]) == [link("b", False)]
