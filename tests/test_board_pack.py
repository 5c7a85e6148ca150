"""The monthly board pack on the embedded default's real publications, seeded the way `monitor
init` seeds them, on SQLite and PostgreSQL: the command writes it as HTML and PDF, the status
page serves both, and every figure it shows is the database's."""

from __future__ import annotations

import email
import html
import json
import re
import sys
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col
from typer.testing import CliRunner

from monitor import config, metrics
from monitor.board import render
from monitor.board.month import BadMonth, Month, due
from monitor.cli import app
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Observation, Subscription
from monitor.notify.outbox import deliver
from monitor.notify.tokens import MANAGE, describe_subscription, load_secret, sign
from monitor.service import jobs
from monitor.sources.seed import seed_and_evaluate
from monitor.web import create_app
from tests.conftest import REAL, ROOT
from tests.test_web_subscribe import sign_up

runner = CliRunner()
AUGUST = "2025-08"
AE = ("ae_4hr_pct", "ae_4hr_type1_pct", "ae_12hr_dta_count")
CANCER = ("cancer_28d_fds_pct", "cancer_31d_pct", "cancer_62d_pct")
RTT = ("rtt_18wk_pct", "rtt_52wk_pct", "rtt_52wk_count", "rtt_waiting_list")


def write_config(tmp_path: Path, engine: Engine) -> Path:
    url = engine.url.render_as_string(hide_password=False)
    p = tmp_path / "config.toml"
    p.write_text(
        f'[database]\nurl = "{url}"\n\n[paths]\nvar = "var"\nrules = "{ROOT / "rules"}"\n'
        f'templates = "{ROOT / "templates"}"\nsnapshot = "{REAL}"\n\n'
        '[web]\nbase_url = "https://alerts.example.nhs.uk"\n\n'
        '[mail]\ntransport = "maildir"\nmaildir = "mail"\n'
    )
    return p


@pytest.fixture
def seeded(tmp_path: Path, engine: Engine) -> tuple[Context, Path]:
    path = write_config(tmp_path, engine)
    ctx = Context(config.load(path), engine)
    seed_and_evaluate(ctx)
    return ctx, path


def run_cli(path: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["--config", str(path), *args])
    return r.exit_code, r.stdout, r.stderr


def sections(page: str) -> dict[str, str]:
    """metric -> its <article> in the pack."""
    found = re.findall(r'<article class="measure" id="m-([a-z0-9_]+)".*?</article>', page, re.S)
    return {
        m: re.search(rf'<article class="measure" id="m-{m}".*?</article>', page, re.S).group(0)  # type: ignore[union-attr]
        for m in found
    }


def latest_up_to(engine: Engine, code: str, metric: str, end: date) -> Observation:
    with session_scope(engine) as s:
        return s.execute(
            select(Observation)
            .where(
                col(Observation.org) == code,
                col(Observation.metric) == metric,
                col(Observation.superseded_by).is_(None),
                col(Observation.period_start) <= end,
            )
            .order_by(col(Observation.period_start).desc())
            .limit(1)
        ).scalar_one()


def test_rcx_august_2025_as_html_and_pdf_shows_the_database_figures(
    seeded: tuple[Context, Path], tmp_path: Path
) -> None:
    ctx, path = seeded
    out = tmp_path / "rcx.html"
    code, stdout, stderr = run_cli(path, "board-pack", "rcx", "--month", AUGUST, "--out", str(out))
    assert code == 0, stderr
    assert "for August 2025" in stdout
    page = out.read_text()
    assert (
        "The Queen Elizabeth Hospital, King&#39;s Lynn, NHS Foundation Trust: "
        "board pack for August 2025" in page
    )
    found = sections(page)
    # A&E and cancer measures are charted; RTT figures start in March 2026, after the month.
    assert set(AE + CANCER) <= set(found)
    assert not set(RTT) & set(found)
    assert "Elective: waiting under 18 weeks" in page.split('id="not-charted"')[1].split("</p>")[0]
    end = Month.parse(AUGUST).end
    for metric, article in found.items():
        o = latest_up_to(ctx.engine, "RCX", metric, end)
        latest = re.search(r'data-value="([^"]+)" data-period="([^"]+)"', article)
        assert latest is not None
        assert float(latest.group(1)) == pytest.approx(o.value), metric
        assert latest.group(2) == o.period_start.isoformat(), metric
        assert "<svg" in article and 'role="img"' in article, metric
        assert "Source: " in article and "published " in article, metric
    # A&E's latest period is August 2025 itself, cancer's March 2025: each names its own.
    assert "for August 2025" in found["ae_4hr_type1_pct"]
    assert "for March 2025" in found["cancer_62d_pct"]
    # Each measure sits in the matrix where `monitor spc` puts it (all their figures are up to
    # August 2025, so the pack's charts and the command's are the same series).
    names = {
        "special_cause_improvement": "improvement",
        "common_cause": "common_cause",
        "special_cause_concern": "concern",
    }
    rows = {"consistent_pass": "pass", "inconsistent": "hit_and_miss", "consistent_fail": "fail"}
    matrix = page.split('id="matrix-table"')[1].split("</table>")[0]
    for metric in AE + CANCER:
        code, stdout, _ = run_cli(path, "spc", "RCX", metric, "--json")
        chart = json.loads(stdout)
        row = rows.get(chart["assurance"], "none")
        cell = matrix.split(f'data-assurance="{row}"')[1].split("</tr>")[0]
        td = cell.split(f'data-variation="{names[chart["variation"]]}">')[1].split("</td>")[0]
        assert f'data-metric="{metric}"' in td, (metric, chart["variation"], chart["assurance"])
        # ... and its chart draws the same points, typed alike, one per stored figure.
        drawn = re.findall(
            r'class="monitor-chart__point"(?: data-type="([a-z_]+)")?', found[metric]
        )
        assert drawn == [p["point_type"] for p in chart["points"]], metric
        with session_scope(ctx.engine) as s:
            held = s.execute(
                select(func.count())
                .select_from(Observation)
                .where(
                    col(Observation.org) == "RCX",
                    col(Observation.metric) == metric,
                    col(Observation.superseded_by).is_(None),
                    col(Observation.period_start) <= end,
                )
            ).scalar_one()
        assert len(drawn) == held, metric
    # What changed since July's pack: A&E's August figures are new.
    changes = page.split('id="changes"')[1].split("</section>")[0]
    july = latest_up_to(ctx.engine, "RCX", "ae_4hr_type1_pct", Month.parse("2025-07").end)
    assert july.period_start == date(2025, 7, 1)
    assert "A&amp;E: seen within 4 hours (type 1): 52.3% for August 2025" in changes
    assert f"{july.value:.1f}% for July 2025" in changes
    # Open alerts carry their evidence, and the DSPT status its edition and source.
    alerts = page.split('id="alerts-table"')[1].split("</table>")[0]
    assert (
        alerts.count("<tr data-alert=") >= 1 and "https://alerts.example.nhs.uk/alerts/" in alerts
    )
    dspt = latest_up_to(ctx.engine, "RCX", "dspt_status", end)
    assert f"{dspt.label} for" in page.split('id="dspt"')[1].split("</section>")[0]

    pdf = tmp_path / "rcx.pdf"
    code, _, stderr = run_cli(path, "board-pack", "RCX", "--month", AUGUST, "--out", str(pdf))
    assert code == 0, stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF") and len(data) > 30_000  # nine A4 pages of charts

    client = create_app(ctx).test_client()
    resp = client.get(f"/orgs/RCX/board-pack?month={AUGUST}")
    assert resp.status_code == 200
    assert "'sha256-" in resp.headers["Content-Security-Policy"]  # its inline stylesheet only
    web = resp.get_data(as_text=True)
    assert sections(web).keys() == found.keys()
    resp = client.get(f"/orgs/RCX/board-pack.pdf?month={AUGUST}")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF-")
    assert client.get("/orgs/RCX/board-pack?month=2025-13").status_code == 400
    assert client.get("/orgs/NOPE/board-pack?month=2025-08").status_code == 404


def test_a_later_pack_charts_rtt_and_says_its_limits_need_more_figures(
    seeded: tuple[Context, Path],
) -> None:
    ctx, _ = seeded
    bp = render.assemble(ctx.engine, ctx.settings, "RCX", Month.parse("2026-06"))
    assert bp is not None
    by = {m.metric: m for m in bp.measures}
    assert set(RTT) <= set(by)
    for metric in RTT:
        o = latest_up_to(ctx.engine, "RCX", metric, date(2026, 6, 30))
        assert by[metric].latest.value == pytest.approx(o.value)
        assert by[metric].latest.period == "June 2026"
        assert by[metric].view.reason and "Too few figures" in by[metric].view.reason
    assert by["rtt_18wk_pct"] in bp.without_limits
    # A measure with one figure up to the month is given as a figure, not said to be missing.
    lone = {f.metric: f for f in bp.single}
    score = latest_up_to(ctx.engine, "RCX", "nof_average_score", date(2026, 6, 30))
    assert lone["nof_average_score"].value == pytest.approx(score.value)
    assert lone["nof_average_score"].period == "Q3 2025/26"
    assert metrics.METRICS["nof_average_score"].title not in bp.not_charted
    # The league position of Q3 2025/26 is the latest up to June 2026, with its source.
    assert bp.position is not None and bp.position.quarter == "Q3 2025/26"
    page = render.html(ctx.settings, bp)
    assert "Rank 133 of 134" in page
    assert metrics.METRICS["rtt_18wk_pct"].title in page


def test_the_monthly_job_sends_the_pack_as_a_link_or_attached_once(
    seeded: tuple[Context, Path],
) -> None:
    ctx, path = seeded
    for address, delivery in (("board@qehkl.nhs.uk", "attachment"), ("chair@qehkl.nhs.uk", "link")):
        code, _, err = run_cli(
            path, "subscribers", "add", address, "--org", "RCX", "--board-pack", delivery
        )
        assert code == 0, err
    code, _, err = run_cli(
        path, "subscribers", "add", "x@nhs.net", "--region", "Y61", "--board-pack", "link"
    )
    assert code == 2 and "subscribe to the trust" in err
    month_end = datetime(2025, 8, 31, 19, 0, tzinfo=UTC)  # 20:00 in London: the job's time
    first = jobs.record(ctx, "board-pack", lambda c: jobs.board_packs(c, month_end))
    assert first.outcome == "ok", first.error
    assert first.counts == {"month": "2025-08", "packs": 1, "queued": 2}
    again = jobs.record(ctx, "board-pack", lambda c: jobs.board_packs(c, month_end))
    assert again.counts["queued"] == 0  # once per month, trust and recipient
    folder = ctx.var / "board-packs" / "RCX"
    assert sorted(p.name for p in folder.iterdir()) == ["2025-08.html", "2025-08.pdf"]

    report = deliver(ctx.engine, ctx.settings)
    assert report.sent == 2, report.errors
    got = {}
    for f in sorted(ctx.settings.mail.maildir.rglob("*")):
        if f.is_file():
            msg = email.message_from_bytes(f.read_bytes(), policy=policy.default)
            got[msg["To"]] = msg
    assert set(got) == {"board@qehkl.nhs.uk", "chair@qehkl.nhs.uk"}
    for msg in got.values():
        assert msg["Subject"].startswith("Board pack for August 2025: The Queen Elizabeth")
        text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "https://alerts.example.nhs.uk/orgs/RCX/board-pack?month=2025-08" in text
        assert "https://alerts.example.nhs.uk/orgs/RCX/board-pack.pdf?month=2025-08" in text
    attached = list(got["board@qehkl.nhs.uk"].iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attached] == [
        ("2025-08.pdf", "application/pdf")
    ]
    assert attached[0].get_content() == (folder / "2025-08.pdf").read_bytes()
    assert "It is attached as 2025-08.pdf" in str(
        got["board@qehkl.nhs.uk"].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    )
    assert not list(got["chair@qehkl.nhs.uk"].iter_attachments())


def test_without_weasyprint_the_pdf_route_says_what_to_install(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WeasyPrint absent from this process (as on a machine without it): the import fails.
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    path = write_config(tmp_path, engine)
    ctx = Context(config.load(path), engine)
    client = create_app(ctx).test_client()
    resp = client.get("/orgs/RCX/board-pack.pdf?month=2025-08")
    assert resp.status_code == 503
    page = resp.get_data(as_text=True)
    assert "apt-get install -y libpango-1.0-0 libpangoft2-1.0-0" in page
    assert 'href="/orgs/RCX/board-pack?month=2025-08"' in page
    # The HTML pack still works.
    assert client.get("/orgs/RCX/board-pack?month=2025-08").status_code == 200
    code, _, stderr = run_cli(path, "board-pack", "RCX", "--out", str(tmp_path / "x.pdf"))
    assert code == 1 and "libpango-1.0-0" in stderr
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize(
    ("now", "month"),
    [
        ("2025-08-31T19:00:00+00:00", "2025-08"),  # the month's last evening (London)
        ("2025-09-01T10:00:00+00:00", "2025-08"),  # missed at the month's end: made up
        ("2025-09-15T10:00:00+00:00", "2025-08"),
        ("2025-09-30T23:30:00+00:00", "2025-09"),  # 00:30 on 1 October in London: September
    ],
)
def test_the_month_a_pack_is_due_for(now: str, month: str) -> None:
    assert due(datetime.fromisoformat(now)).key == month


@pytest.mark.parametrize("text", ["2025-8", "2025-13", "August", "", "0999-01"])
def test_a_bad_month_is_refused_by_name(text: str) -> None:
    with pytest.raises(BadMonth, match="YYYY-MM"):
        Month.parse(text)


def test_a_trust_board_asks_for_its_pack_on_the_sign_up_form(
    client: FlaskClient, ctx: Context
) -> None:
    page = client.get("/subscribe?org=RCX").get_data(as_text=True)
    assert 'name="board_pack" type="radio" value="attachment"' in page
    r = sign_up(client, board_pack="attachment")
    assert r.status_code == 200
    with session_scope(ctx.engine) as s:
        sub = s.execute(select(Subscription)).scalar_one()
        assert (sub.code, sub.board_pack, sub.confirmed_at) == ("RCX", "attachment", None)
        assert describe_subscription(sub).endswith("monthly board pack (attached)")
        manage = f"/subscriptions/{sign(load_secret(ctx.settings), MANAGE, [sub.token])}"
        sub_id = str(sub.id)
    # The manage page (the link in every email) changes it, and a save without it keeps it.
    page = client.get(manage).get_data(as_text=True)
    assert 'name="board_pack" type="radio" value="attachment" checked' in page
    data = {"action": "save", "subscription": sub_id, "min_severity": "medium"}
    r = client.post(manage, data=data | {"board_pack": "link"})
    assert "monthly board pack (link)" in html.unescape(r.get_data(as_text=True))
    client.post(manage, data=data | {"min_severity": "high"})
    with session_scope(ctx.engine) as s:
        sub = s.execute(select(Subscription)).scalar_one()
        assert (sub.min_severity, sub.board_pack) == ("high", "link")
    # A region has no board pack: the form says so at the field and nothing is added.
    r = sign_up(client, email="region@nhs.net", scope="region:Y61", board_pack="link")
    assert r.status_code == 400
    assert 'href="#board_pack"' in r.get_data(as_text=True)
    assert "board packs are one trust" in html.unescape(r.get_data(as_text=True))
    with session_scope(ctx.engine) as s:
        assert len(s.execute(select(Subscription)).scalars().all()) == 1
