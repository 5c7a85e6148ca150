"""Complete evidence in alert emails and on the alert page, from real published files.

NHS England's real files are ingested through the ingest path, the shipped rules evaluate them
through ``evaluate_db``, a live publication's events are routed to subscribers and rendered as
the sender renders them (both parts), and the alert page is fetched from the status page. Each
says what an analyst needs: the publisher's link and date, the counts behind the figure, the
threshold and the level that clears it, when the breach began, periods counted as consecutive
only where no period lacks a figure, how old the figure is, quarters as quarters, a rule text
that names no trust, and words true for a figure between the threshold and the clear level.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor import config, periods
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Outbox
from monitor.notify import compose
from monitor.notify import subscriptions as subs
from monitor.notify.mime import Rendered
from monitor.notify.routing import route
from monitor.rules.evidence import Evidence
from monitor.rules.run import evaluate_db, list_alerts
from monitor.rules.store import latest_alerts
from monitor.sources import registry, seed
from monitor.sources.base import Parsed
from monitor.sources.ingest import FileInput, Parser, ingest_file
from monitor.sources.league import quarter_bounds, quarter_figure, trust_code
from monitor.sources.oversight import DATA_METRICS, DATA_REQUIRED
from monitor.sources.tabular import csv_rows, number
from monitor.web import create_app
from tests.conftest import REAL, ROOT

BASE = "https://alerts.example.nhs.uk"
STATISTICS = "https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2"
AE = [(f.path, f.published) for f in seed.manifest(REAL) if f.source == "ae"]  # oldest first
OVERSIGHT = REAL / "oversight"
DATA_CSV = OVERSIGHT / "nhs-oversight-framework-mental-health-and-community-trust-data.csv"
LEAGUE_CSV = (
    OVERSIGHT / "nhs-oversight-framework-mental-health-and-community-trust-league-table.csv"
)
Q4_OF0081 = ROOT / "tests" / "data" / "oversight" / "nof-data-q4-2025-26-of0081-excerpt.csv"


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    p.write_text(
        f'[paths]\nvar = "var"\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
        f'[web]\nbase_url = "{BASE}"\n[security]\nsecret_env = "MONITOR_TEST_SECRET"\n'
    )
    return Context(config.load(p), engine)


def excerpt_parser(data: bytes, *, filename: str, **_: Any) -> Parsed:
    """The rows of an excerpt of a NOF data CSV as figures, read with the oversight parser's
    own pieces (its metric ids, required columns, quarter bounds and trust codes).

    The parser itself rightly refuses an excerpt: a quarter that lists trusts without their
    segmentation rows is an incomplete file. The whole published file is too big to ship, so
    its rows are read here as the excerpt they are, and stored by the real ingest path."""
    parsed = Parsed()
    for row, rec in csv_rows(data, filename=filename, required=DATA_REQUIRED):
        parsed.rows_read += 1
        parsed.figures.append(
            quarter_figure(
                trust_code(rec["Trust_code"], file=filename, row=row),
                quarter_bounds(rec["Quarter"], file=filename, row=row),
                rec["Trust_name"],
                metric=DATA_METRICS[rec["Metric_ID"].upper()],
                value=number(rec["Value"], file=filename, row=row, column="Value"),
                row=row,
                column="Value",
            )
        )
    return parsed


def ingest(
    ctx: Context,
    source: str,
    path: Path,
    published: date,
    trigger: str,
    parser: Parser | None = None,
) -> int:
    """One real file, as a poll (live) or a seed (quiet) fetches it from the publisher."""
    r = ingest_file(
        ctx.engine,
        FileInput(
            source=source,
            data=path.read_bytes(),
            filename=path.name,
            url=f"{STATISTICS}/{published:%Y/%m}/{path.name}",
            title=f"{path.stem} (CSV)",
            trigger=trigger,
            published_at=datetime(
                published.year, published.month, published.day, 8, 30, tzinfo=UTC
            ),
        ),
        parser or registry.statistics(source).parse,
    )
    assert r.status == "ingested" and r.publication_id, r.error
    return r.publication_id


def subscribe(ctx: Context, address: str, scope: str, code: str) -> None:
    with session_scope(ctx.engine, write=True) as s:
        subs.add(s, ctx.settings, subs.Request(address, scope, code))


def evaluate_live(ctx: Context, publication: int) -> None:
    """Evaluate after a live publication and route its events, as the poll chain does."""
    evaluate_db(ctx, publications=[publication], router=partial(route, settings=ctx.settings))


def emails_to(ctx: Context, address: str) -> list[Rendered]:
    """The messages waiting for ``address``, rendered as the sender renders them."""
    with session_scope(ctx.engine) as s:
        rows = list(s.exec(select(Outbox).where(Outbox.recipient == address)))
        batch = compose.load(s, rows)
    composer = compose.Composer.for_settings(ctx.settings)
    return [composer.message(row, batch)[1] for row in rows]


def words(text: str) -> str:
    """Visible words, whitespace collapsed (the plain-text part wraps long lines)."""
    no_tags = re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(style|script)\b.*?</\1>", "", text))
    return " ".join(html.unescape(no_tags).split())


def assert_both(r: Rendered, *fragments: str) -> None:
    text, visible = words(r.text), words(r.html)
    for f in fragments:
        assert f in text, f"{f!r} missing from the plain-text part"
        assert f in visible, f"{f!r} missing from the HTML part"


def alert_of(ctx: Context, rule: str, org: str) -> tuple[Alert, Evidence]:
    """The alert of (rule, org) and the evidence of its latest event."""
    with session_scope(ctx.engine) as s:
        alert = s.exec(
            select(Alert).where(Alert.rule == rule, Alert.org == org).order_by(col(Alert.id).desc())
        ).first()
        assert alert is not None, f"no {rule} alert for {org}"
        event = s.exec(
            select(AlertEvent)
            .where(AlertEvent.alert_id == alert.id)
            .order_by(col(AlertEvent.id).desc())
        ).first()
        assert event is not None
        return alert, Evidence.from_json(event.evidence)


def page(ctx: Context, alert_id: int | None) -> str:
    r = create_app(ctx).test_client().get(f"/alerts/{alert_id}")
    assert r.status_code == 200
    return words(r.get_data(as_text=True))


def age(published: date, ev: Evidence) -> str:
    """The age the evidence must state: from the publisher's date to the evaluation's day."""
    assert ev.evaluated_on is not None
    return f"{periods.age(published, ev.evaluated_on)} old on {periods.day(ev.evaluated_on)}"


# --- a live A&E publication -------------------------------------------------------------------


@pytest.fixture
def august(ctx: Context) -> Context:
    """Every real A&E file to July 2025 seeded, August 2025's fetched by a poll and evaluated,
    its events routed to a subscriber to the East of England."""
    subscribe(ctx, "east@example.nhs.uk", "region", "Y61")
    *earlier, (last, published) = AE
    for path, day in earlier:
        ingest(ctx, "ae", path, day, "seed")
    evaluate_live(ctx, ingest(ctx, "ae", last, published, "poll"))
    return ctx


AUGUST_URL = f"{STATISTICS}/2025/10/August-2025-CSV-g5tyh-v2.0.csv"


def test_a_figure_between_the_threshold_and_the_clear_level_is_said_to_be_so(
    august: Context,
) -> None:
    """Cambridge (RGT), type 1, August 2025: 60.8%, above the 60% threshold but short of the
    62% that clears the alert; in breach in 14 months since September 2023, 10 of the 24 months
    having no published file, the last 13 in a row."""
    [email] = emails_to(august, "east@example.nhs.uk")
    alert, ev = alert_of(august, "ae_type1_below_60", "RGT")
    assert (ev.numerator, ev.denominator, ev.counted) == (6370, 10471, "attendances")
    assert (ev.first_period, ev.last_breach_period) == (date(2023, 9, 1), date(2025, 8, 1))
    assert (ev.consecutive_periods, ev.episode_periods, ev.episode_span) == (13, 14, 24)
    expected = [
        "Cambridge University Hospitals NHS Foundation Trust",
        "60.8% (6,370 of 10,471 attendances)",
        "below 60%; clears at 62%",
        "60.8%: above the 60% threshold but not yet at the 62% needed to clear",
        "First in breach in September 2023",
        "In breach in 14 of the 24 months since September 2023 (no figure for 10 of them); "
        "the last 13 in a row, since August 2024",
        "published 9 October 2025",
        age(date(2025, 10, 9), ev),
    ]
    assert_both(email, *expected)
    assert AUGUST_URL in email.text and f'href="{AUGUST_URL}"' in email.html
    assert "Fewer than 6 in 10 patients at this trust" not in words(email.text)
    on_page = page(august, alert.id)
    for fragment in expected:
        assert fragment in on_page, f"{fragment!r} missing from the alert page"
    assert f'href="{AUGUST_URL}"' in create_app(august).test_client().get(
        f"/alerts/{alert.id}"
    ).get_data(as_text=True)
    # The threshold's source is the rule's and names no trust.
    assert "King's Lynn" not in on_page and "Lynn" not in (ev.threshold_source or "")


def test_a_breach_says_how_far_and_since_when(august: Context) -> None:
    """King's Lynn (RCX), type 1, August 2025: 52.3% of 6,802 attendances; Mid Cheshire's
    all-types figure has been below 60% in every month since October 2024."""
    [email] = emails_to(august, "east@example.nhs.uk")
    _, ev = alert_of(august, "ae_type1_below_60", "RCX")
    assert ev.episode == "re-breach"  # September 2023 was an earlier episode, cleared in 2024
    assert_both(
        email,
        "52.3% (3,557 of 6,802 attendances)",
        "52.3%: 7.7 percentage points below the 60% threshold",
        "First in breach in September 2024",  # October 2024 was 60.7%: held, not below 60%
        "In breach again after an earlier episode ended: 12th consecutive month in breach, "
        "since September 2024",
    )
    rbt, ev = alert_of(august, "ae_all_below_60", "RBT")
    text = page(august, rbt.id)
    assert "Below 60% since October 2024" in text
    assert "11th consecutive month in breach, since October 2024" in text
    assert "56.0% (5,536 of 9,892 attendances)" in text


def test_a_resolved_email_counts_the_months_the_episode_lasted(ctx: Context) -> None:
    """Portsmouth (RHU), type 1: below 60% in September 2023 and every month from August 2024
    to April 2025, then 62.8% in May 2025, which clears the alert: 10 months in breach over 20
    months (10 of them without a published file here), not "0 months"."""
    subscribe(ctx, "board@porthosp.nhs.uk", "org", "RHU")
    may = next(i for i, (p, _) in enumerate(AE) if "May-2025" in p.name)
    for path, day in AE[:may]:
        ingest(ctx, "ae", path, day, "seed")
    evaluate_db(ctx)
    path, published = AE[may]
    evaluate_live(ctx, ingest(ctx, "ae", path, published, "poll"))
    [email] = emails_to(ctx, "board@porthosp.nhs.uk")
    alert, ev = alert_of(ctx, "ae_type1_below_60", "RHU")
    assert alert.state == "resolved" and alert.consecutive_periods == 9
    assert (ev.episode_periods, ev.episode_span, ev.consecutive_periods) == (10, 20, 9)
    assert email.subject.startswith("[RESOLVED] Portsmouth Hospitals University")
    assert_both(
        email,
        "62.8%",
        "62.8%: above the 60% threshold and at the 62% needed to clear",
        "Resolved after 10 months in breach over 20 months (September 2023 to April 2025)",
    )
    assert "after 0 months" not in words(email.text)
    assert "Resolved after 10 months in breach over 20 months" in page(ctx, alert.id)
    # The publisher's date of the figure that resolved it, which a later, older file is
    # compared with (the lifecycle ignores figures published before it).
    with session_scope(ctx.engine) as s:
        view = latest_alerts(s, [("ae_type1_below_60", "RHU")])[("ae_type1_below_60", "RHU")]
    assert (view.state, view.published_on) == ("resolved", published)


# --- quarters, combined rules and the Recovery Support Programme ------------------------------


@pytest.fixture
def finance(ctx: Context) -> Context:
    """The Oversight Framework data (Q1-Q3 2025/26) and league table (Q4) seeded; the Q4 data
    rows for variance to plan fetched by a poll, evaluated and routed to the Midlands."""
    subscribe(ctx, "midlands@example.nhs.uk", "region", "Y60")
    ingest(ctx, "oversight", DATA_CSV, date(2026, 6, 11), "seed")
    ingest(ctx, "oversight", LEAGUE_CSV, date(2026, 6, 11), "seed")
    evaluate_db(ctx)
    q4 = ingest(ctx, "oversight", Q4_OF0081, date(2026, 6, 11), "poll", excerpt_parser)
    evaluate_live(ctx, q4)
    return ctx


def test_a_combined_alert_shows_the_measures_it_combines(finance: Context) -> None:
    """Nottinghamshire Healthcare (RHA): flagged in deficit in Q4 2025/26 and its variance to
    plan worse two quarters running (-3.57%, -5.53%, -7.43%): both parts, their figures and
    their publications in the email and on the page, the quarter named as a quarter."""
    [email] = emails_to(finance, "midlands@example.nhs.uk")
    alert, ev = alert_of(finance, "fin_deficit_deteriorating", "RHA")
    assert (ev.granularity, ev.period_label) == ("quarter", "Q4 2025/26")
    assert email.subject == (
        "[HIGH] Nottinghamshire Healthcare NHS Foundation Trust: Finance: deficit deteriorating "
        "(Q4 2025/26: both conditions met)"
    )
    expected = [
        "In financial deficit, Q4 2025/26: Yes",
        "Variance to financial plan, year to date (%), Q4 2025/26: -7.4%",
        "worse than -5.5% the quarter before",
        LEAGUE_CSV.stem,
        Q4_OF0081.stem,
    ]
    assert_both(email, *expected, "First quarter in breach")
    assert f"{STATISTICS}/2026/06/{LEAGUE_CSV.name}" in email.text
    assert "not published" not in words(email.text)
    assert "January 2026" not in words(email.text)  # Q4 2025/26 is never named as a month
    on_page = page(finance, alert.id)
    for fragment in expected:
        assert fragment in on_page, f"{fragment!r} missing from the alert page"
    assert "January 2026" not in on_page


def test_no_combined_alert_from_different_quarters_and_no_false_withdrawal(
    finance: Context,
) -> None:
    """Essex Partnership (R1L): the Q4 flag and Q3's worsening variance are not one quarter's;
    its Q4 variance (0.01%) improved. No alert, so nothing to withdraw "after a revision"."""
    assert list_alerts(finance, org="R1L", rule="fin_deficit_deteriorating", state="all") == []
    with session_scope(finance.engine) as s:
        withdrawn = s.exec(
            select(AlertEvent)
            .join(Alert, col(Alert.id) == col(AlertEvent.alert_id))
            .where(Alert.org == "R1L", AlertEvent.kind == "withdrawn")
        ).all()
    assert withdrawn == []


def test_the_recovery_support_programme_alert_is_not_open_beside_segment_1(
    finance: Context,
) -> None:
    """RW1 was flagged in the Recovery Support Programme for Q1 and Q2 2025/26 only; Q3 gives
    its segment (2) without the flag and Q4 puts it in segment 1."""
    assert list_alerts(finance, org="RW1", rule="nof_recovery_support", state="open") == []
