"""The league page, trust pages and the API on the real Oversight Framework files, seeded the
way the embedded default seeds them, on SQLite and PostgreSQL: acute positions derived from a
third party's file until NHS England's own file is polled, the mental-health table from NHS
England's, side by side, with filters, movement and the financial override."""

from __future__ import annotations

import html as html_module
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from test_web_api import check
from web_fixtures import CONFIG

from monitor import config, orgs
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, Observation, Publication
from monitor.rules.run import evaluate_db
from monitor.sources import oversight
from monitor.sources.fetch import Fetcher
from monitor.sources.ingest import FileInput, ingest_file
from monitor.sources.poll import poll
from monitor.sources.seed import manifest, seed_and_evaluate
from monitor.vocab import OPEN, AlertState
from monitor.web import create_app
from tests.conftest import REAL, ROOT
from tests.league_files import ACUTE_Q3_NAME, PROFILES, acute_league_table

LEAGUE = "nhs-oversight-framework-mental-health-and-community-trust-league-table.csv"


def text(page: str) -> str:
    """The visible words of a page, whitespace collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html_module.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def oversight_snapshot(folder: Path) -> Path:
    """A snapshot folder whose seed.toml lists the real manifest's Oversight Framework files."""
    folder.mkdir()
    entries = [f for f in manifest(REAL) if f.source == "oversight"]
    assert [f.path.name for f in entries][0] == "trust_profiles.csv"
    (folder / "seed.toml").write_text(
        "".join(
            f'[[file]]\nsource = "oversight"\npath = "{f.path}"\npublished = {f.published}\n\n'
            for f in entries
        )
    )
    return folder


def make_ctx(tmp_path: Path, engine: Engine, snapshot: Path, extra: str = "") -> Context:
    body = CONFIG.replace("{templates}", str(ROOT / "templates")).replace(
        "{base_url}", "https://alerts.example.nhs.uk"
    )
    body = body.replace(
        "[paths]\n", f'[paths]\nsnapshot = "{snapshot}"\nrules = "{ROOT / "rules"}"\n'
    )
    path = tmp_path / "config.toml"
    path.write_text(body + extra)
    return Context(config.parse(path.read_text(), path), engine)


@pytest.fixture
def seeded(tmp_path: Path, engine: Engine) -> Context:
    ctx = make_ctx(tmp_path, engine, oversight_snapshot(tmp_path / "snapshot"))
    reports = seed_and_evaluate(ctx)
    assert [r.status for r in reports] == ["ingested"] * 3, [r.error for r in reports]
    return ctx


@pytest.fixture
def client(seeded: Context) -> FlaskClient:
    return create_app(seeded).test_client()


def section(page: str, key: str) -> str:
    """The HTML of one league's section of the league page."""
    m = re.search(rf'<section [^>]*data-league="{key}".*?</section>', page, flags=re.S)
    assert m, f"no {key} section"
    return m.group(0)


def test_the_acute_and_mental_health_tables_side_by_side(client: FlaskClient) -> None:
    page = client.get("/league").get_data(as_text=True)
    acute, mh = section(page, "acute"), section(page, "mental-health-and-community")
    assert page.index(acute) < page.index(mh)
    for s in (acute, mh):
        assert 'class="nhsuk-grid-column-one-half"' in s
    # Acute: derived from the third party's file, Q3 2025/26, with its provenance.
    words = text(acute)
    assert "Acute trusts, Q3 2025/26" in words
    assert "Derived from trustpulse's trust_profiles.csv" in words
    assert "not NHS England's own file" in words
    assert "129 of the 134 trusts ranked are in it" in words
    rcx = re.search(r'<tr [^>]*data-org="RCX".*?</tr>', acute, flags=re.S)
    assert rcx and "133 of 134" in text(rcx.group(0))
    assert acute.count("data-org=") == 129
    # Mental health and community: NHS England's Q4 table, likely ranges, movement.
    words = text(mh)
    assert "Mental health and community trusts, Q4 2025/26" in words
    assert "NHS England's own file" in words and "Derived" not in words
    assert mh.count("data-org=") == 61
    rw1 = re.search(r'<tr [^>]*data-org="RW1".*?</tr>', mh, flags=re.S)
    assert rw1
    row = text(rw1.group(0))
    assert "11 of 61" in row and "likely 4 to 37" in row and "likely 1.64 to 2.39" in row
    assert 'data-movement="8"' in rw1.group(0)
    assert "↑ 8" in row and "Up 8 places since Q3 2025/26 (then 19 of 61, segment 2)" in row
    # The override, in words: RWR's 2.12 is within segment 2's scores, yet it is in 3.
    assert (
        "Segment 3 because of its finances: its average score (2.12) alone would place it in "
        "segment 2 (trusts not in deficit scoring 2.11 to 2.29 are in segment 2), but the "
        "financial override places a trust in financial deficit no higher than segment 3."
    ) in text(mh)
    # What is not held, plainly.
    words = text(page)
    assert "The ambulance league tables for Q3 2025/26 and Q4 2025/26 are not held here yet." in (
        words
    )
    assert "The acute league table for Q4 2025/26 is not held here yet." in words
    assert 'data-league="ambulance"' not in page


def test_filters_by_region_and_trust_type_are_plain_get_parameters(client: FlaskClient) -> None:
    page = client.get("/league").get_data(as_text=True)
    form = re.search(r'<form method="get" action="/league".*?</form>', page, flags=re.S)
    assert form and 'name="region"' in form.group(0) and 'name="type"' in form.group(0)
    region_of = {r["code"]: r.get("region") for r in orgs.reference_rows()}

    page = client.get("/league?region=Y61").get_data(as_text=True)
    shown = re.findall(r'<tr [^>]*data-org="(\w+)"', page)
    assert "RCX" in shown and "RWR" in shown and "RW1" not in shown
    assert {region_of[o] for o in shown} == {"Y61"}
    assert "13 of the 129 acute trusts in this table are in East of England" in text(page)
    assert "ranks are among all 134" in text(page)
    assert 'selected value="Y61"' in page or 'value="Y61" selected' in page

    page = client.get("/league?type=acute").get_data(as_text=True)
    assert 'data-league="acute"' in page and 'data-league="mental-health-and-community"' not in page
    assert 'class="nhsuk-grid-column-full"' in section(page, "acute")

    page = client.get("/league?type=mental-health-and-community&region=Y60").get_data(as_text=True)
    shown = re.findall(r'<tr [^>]*data-org="(\w+)"', page)
    assert "RYW" in shown and 'data-league="acute"' not in page
    assert {region_of[o] for o in shown} == {"Y60"}

    assert client.get("/league?region=Y99").status_code == 400
    assert client.get("/league?type=dental").status_code == 400


def position_block(client: FlaskClient, code: str) -> tuple[str, str]:
    page = client.get(f"/orgs/{code}").get_data(as_text=True)
    m = re.search(r'<div class="nhsuk-inset-text monitor-position".*?</div>', page, flags=re.S)
    assert m, f"no position on {code}'s page"
    return page, m.group(0)


def test_segment_and_rank_at_the_top_of_trust_pages(client: FlaskClient) -> None:
    page, block = position_block(client, "RCX")
    assert page.index(block) < page.index('id="open-alerts"')
    words = text(block)
    assert "Oversight Framework, Q3 2025/26: segment 4, ranked 133 of 134 acute trusts." in words
    assert "In financial deficit." in words
    assert (
        "Derived from trustpulse's trust_profiles.csv" in words and 'data-source="derived"' in block
    )
    assert "No rank held for Q2 2025/26" in words

    _, block = position_block(client, "RWR")
    assert "ranked 31 of 61 mental health and community trusts (likely 26 to 39)" in text(block)
    assert "because of its finances" in text(block) and 'data-source="nhs-england"' in block

    _, block = position_block(client, "RW1")
    assert "Up 8 places since Q3 2025/26 (then 19 of 61, segment 2)" in text(block)

    _, block = position_block(client, "RYF")  # an ambulance trust: a derived segment, no table
    assert "Q3 2025/26: segment 4; not ranked in a league table held here." in text(block)

    page = client.get("/orgs/ENG").get_data(as_text=True)
    assert "monitor-position" not in page


def test_the_api_gives_a_trusts_position(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for code in ("RCX", "RWR", "RW1", "RYF", "ENG"):
        check(doc, "/orgs/{code}", client.get(f"/api/v1/orgs/{code}").get_json())
    rcx = client.get("/api/v1/orgs/RCX").get_json()["position"]
    assert {k: rcx[k] for k in ("quarter", "league", "segment", "rank", "peers", "derived")} == {
        "quarter": "Q3 2025/26",
        "league": "acute",
        "segment": 4.0,
        "rank": 133.0,
        "peers": 134.0,
        "derived": True,
    }
    assert rcx["source"]["derived"] and "trustpulse" in rcx["source"]["words"]
    rw1 = client.get("/api/v1/orgs/RW1").get_json()["position"]
    assert rw1["rank_likely_range"] == [4, 37] and rw1["movement"]["places"] == 8
    assert (
        client.get("/api/v1/orgs/RWR")
        .get_json()["position"]["override"]
        .startswith("Segment 3 because of its finances")
    )
    assert client.get("/api/v1/orgs/ENG").get_json()["position"] is None


def current(ctx: Context, org: str, metric: str) -> tuple[Observation, Publication]:
    with session_scope(ctx.engine) as s:
        row = s.exec(
            select(Observation, Publication)
            .join(Publication, col(Publication.id) == col(Observation.publication_id))
            .where(
                Observation.org == org,
                Observation.metric == metric,
                col(Observation.superseded_by).is_(None),
            )
        ).one()
        return row[0], row[1]


def test_nhs_englands_own_file_replaces_the_derived_positions_when_polled(
    tmp_path: Path, engine: Engine, httpserver: HTTPServer
) -> None:
    page = (
        '<html><body><article><p><a href="/files/' + ACUTE_Q3_NAME + '">NHS oversight framework'
        " &#8211; acute trust league table Q3 2025/26 (CSV)</a></p></article></body></html>"
    )
    httpserver.expect_request("/league-tables/").respond_with_data(page, content_type="text/html")
    httpserver.expect_request(f"/files/{ACUTE_Q3_NAME}").respond_with_data(
        acute_league_table(), content_type="text/csv"
    )
    ctx = make_ctx(
        tmp_path,
        engine,
        oversight_snapshot(tmp_path / "snapshot"),
        f'\n[sources.oversight]\nindex_url = "{httpserver.url_for("/league-tables/")}"\n'
        "\n[http]\nretries = 1\n",
    )
    seed_and_evaluate(ctx)
    obs, pub = current(ctx, "RCX", "nof_rank")
    assert (obs.value, obs.derived, pub.filename) == (133, True, "trust_profiles.csv")

    report = poll(ctx, "oversight", fetcher=Fetcher(ctx.settings.http, sleep=lambda s: None))
    assert not report.errors, report.errors
    # The same figures, read from NHS England's file: every derived acute position is replaced.
    obs, pub = current(ctx, "RCX", "nof_rank")
    assert (obs.value, obs.denominator, obs.derived, pub.filename) == (
        133,
        134,
        False,
        ACUTE_Q3_NAME,
    )
    with session_scope(ctx.engine) as s:
        replaced = s.exec(
            select(Observation).where(
                Observation.metric == "nof_rank", Observation.superseded_by == pub.id
            )
        ).all()
    assert len(replaced) == 129 and all(o.derived for o in replaced)
    acute = text(
        section(create_app(ctx).test_client().get("/league").get_data(as_text=True), "acute")
    )
    assert "Acute trusts, Q3 2025/26" in acute and "133 of 134" in acute
    assert (
        "Derived" not in acute
        and "NHS England's own file: NHS oversight framework – acute trust league table Q3 2025/26"
        in acute
    )

    # A derived file arriving later (here, with RCX's rank altered) never replaces NHS England's.
    altered = PROFILES.read_bytes().replace(b",4.0,133.0,3.22,", b",4.0,120.0,3.22,", 1)
    assert altered != PROFILES.read_bytes()
    r = ingest_file(
        ctx.engine,
        FileInput(
            source="oversight",
            data=altered,
            filename="trust_profiles.csv",
            url="file:///trust_profiles.csv",
            published_at=pub.published_at,
        ),
        oversight.parse,
    )
    assert r.status == "ingested"
    obs, pub2 = current(ctx, "RCX", "nof_rank")
    assert (obs.value, obs.derived, pub2.id) == (133, False, pub.id)


def alert_state(ctx: Context, rule: str, org: str) -> tuple[AlertState, str]:
    with session_scope(ctx.engine) as s:
        alerts = s.exec(
            select(Alert).where(Alert.rule == rule, Alert.org == org).order_by(col(Alert.id))
        ).all()
    assert alerts, f"no {rule} alert for {org}"
    return AlertState(alerts[-1].state), alerts[-1].period_start.isoformat()


DATA = REAL / "oversight" / "nhs-oversight-framework-mental-health-and-community-trust-data.csv"


def quarter_file(data: bytes, quarter: bytes) -> bytes:
    """The real data CSV's header and its rows of one quarter, as a quarter's file."""
    lines = data.split(b"\r\n")
    return b"\r\n".join([lines[0], *(ln for ln in lines[1:] if ln.startswith(quarter))]) + b"\r\n"


def ingest_and_evaluate(ctx: Context, data: bytes, name: str) -> None:
    r = ingest_file(
        ctx.engine,
        FileInput(
            source="oversight",
            data=data,
            filename=name,
            url=f"https://www.england.nhs.uk/{name}",
            published_at=datetime(2026, 6, 11, 8, 30, tzinfo=UTC),
        ),
        oversight.parse,
    )
    assert r.status == "ingested", r.error
    assert r.publication_id is not None
    evaluate_db(ctx, publications=[r.publication_id])


@pytest.mark.parametrize("listed_only", [False, True], ids=["as published", "listed only"])
def test_the_recovery_support_alert_resolves_where_the_file_says_so(
    tmp_path: Path, engine: Engine, listed_only: bool
) -> None:
    """The real data CSV quarter by quarter through the real evaluation. "listed only": the
    same file with its 0 flags removed, as if OF5007 named only the programme's trusts."""
    ctx = make_ctx(tmp_path, engine, tmp_path)
    data = DATA.read_bytes()
    if listed_only:
        data = b"\r\n".join(
            ln
            for ln in data.split(b"\r\n")
            if not (b",OF5007," in ln and ln.split(b",")[-5] == b"0.0")
        )
    ingest_and_evaluate(ctx, quarter_file(data, b"Q1 2025/26"), "q1.csv")
    assert {alert_state(ctx, "nof_recovery_support", o)[0] for o in ("RXV", "RW1", "RHA")} <= set(
        OPEN
    )
    # Q2: RXV is given 0 (or, listed only, is positioned but not listed): resolved.
    ingest_and_evaluate(ctx, quarter_file(data, b"Q2 2025/26"), "q2.csv")
    state, _ = alert_state(ctx, "nof_recovery_support", "RXV")
    assert state not in OPEN
    # From Q3 the file gives OF5007 for no trust at all: the parser infers nothing there, and
    # the rule's [absent] key reads a quarter that positions the trust without the flag as
    # "not in the programme" (docs/rules.md), so RW1's alert resolves at Q3, the evidence
    # naming the figure it was inferred from.
    ingest_and_evaluate(ctx, quarter_file(data, b"Q3 2025/26"), "q3.csv")
    ingest_and_evaluate(ctx, (REAL / "oversight" / LEAGUE).read_bytes(), LEAGUE)
    state, period = alert_state(ctx, "nof_recovery_support", "RW1")
    assert state not in OPEN and period == "2025-10-01"


def test_derived_acute_positions_do_not_make_acute_trusts_missing_later_quarters(
    seeded: Context,
) -> None:
    """Q4 was published for mental-health and community trusts only: the acute trusts, whose
    latest position is Q3, are not 'missing' a quarter their league has not had."""
    with session_scope(seeded.engine) as s:
        missing = s.exec(select(Alert.org).where(Alert.rule == "stale_oversight_missing")).all()
    assert missing == []


@pytest.mark.slow
def test_the_embedded_default_shows_rcx_133_of_134(tmp_path: Path, engine: Engine) -> None:
    ctx = make_ctx(tmp_path, engine, REAL)
    seed_and_evaluate(ctx)
    page = create_app(ctx).test_client().get("/league").get_data(as_text=True)
    rcx = re.search(r'<tr [^>]*data-org="RCX".*?</tr>', section(page, "acute"), flags=re.S)
    assert rcx and "133 of 134" in text(rcx.group(0))
    assert "Acute trusts, Q3 2025/26" in text(page) and "Derived" in text(section(page, "acute"))
