"""Mergers, on the real case the reference data records: Yeovil District Hospital (RA4) closed
into Somerset NHS Foundation Trust (RH5). Its alerts end "merged into ...", its subscriptions
move with one notice each, and a new subscription to it is refused with the successor's name;
RH5's page shows RA4's history, marked as RA4's. On SQLite and PostgreSQL."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select
from typer.testing import CliRunner

from monitor import config
from monitor.cli import app
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Organisation, Outbox, Subscription
from monitor.notify.outbox import deliver
from monitor.notify.routing import route
from monitor.rules.run import evaluate_db
from monitor.sources import dspt
from monitor.sources.ingest import FileInput, ingest_file
from monitor.vocab import OPEN, AlertState
from monitor.web import create_app
from tests.conftest import REAL, ROOT

runner = CliRunner()
SOMERSET = "Somerset NHS Foundation Trust"
YEOVIL = "Yeovil District Hospital NHS Foundation Trust"
MERGED = f"merged into {SOMERSET} (RH5) on 1 April 2023"


def cli(path: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["--config", str(path), *args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def setup(tmp_path: Path, engine: Engine) -> tuple[Context, Path]:
    url = engine.url.render_as_string(hide_password=False)
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n\n[paths]\nvar = "var"\nrules = "{ROOT / "rules"}"\n'
        f'templates = "{ROOT / "templates"}"\n\n[mail]\ntransport = "maildir"\n'
        'maildir = "mail"\n\n[web]\nbase_url = "https://alerts.example.nhs.uk"\n'
    )
    return Context(config.load(path), engine), path


def ingest_dspt(ctx: Context, name: str, published: datetime, trigger: str) -> int:
    r = ingest_file(
        ctx.engine,
        FileInput(
            source="dspt",
            data=(REAL / "dspt" / name).read_bytes(),
            filename=name,
            url=f"https://www.dsptoolkit.nhs.uk/{name}",
            trigger=trigger,
            published_at=published,
        ),
        dspt.parse,
    )
    assert r.status == "ingested" and r.publication_id, r.error
    return r.publication_id


def delivered(ctx: Context) -> list[email.message.EmailMessage]:
    deliver(ctx.engine, ctx.settings)
    folder = ctx.settings.mail.maildir
    return [
        email.message_from_bytes(p.read_bytes(), policy=default)  # type: ignore[misc]
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def text_of(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def outbox_rows(ctx: Context) -> int:
    with session_scope(ctx.engine) as s:
        return s.exec(select(func.count()).select_from(Outbox)).one()


def test_ra4_closed_into_rh5(setup: tuple[Context, Path]) -> None:
    ctx, path = setup
    # The reference data as it stood before the merger was recorded: RA4 open.
    with session_scope(ctx.engine, write=True) as s:
        ra4 = s.get(Organisation, "RA4")
        assert ra4 is not None and ra4.successor == "RH5"
        ra4.closed, ra4.successor = None, None
        s.add(ra4)
    code, _, err = cli(path, "subscribers", "add", "board@yeovil.nhs.uk", "--org", "RA4")
    assert code == 0, err
    # RA4's DSPT history: the 2020/21 edition back-filled, the later snapshot polled live.
    ingest_dspt(ctx, "dspt_metric_20220208.csv", datetime(2022, 2, 8, tzinfo=UTC), "seed")
    evaluate_db(ctx)
    live = ingest_dspt(
        ctx, "dspt_trusts_snapshot_16_11_23.csv", datetime(2023, 11, 16, tzinfo=UTC), "poll"
    )
    evaluate_db(ctx, publications=[live], router=partial(route, settings=ctx.settings))
    with session_scope(ctx.engine) as s:
        open_ra4 = list(s.exec(select(Alert).where(Alert.org == "RA4", col(Alert.state).in_(OPEN))))
    assert open_ra4, "RA4's DSPT statuses open alerts"
    fired = delivered(ctx)
    assert fired and all(m["To"] == "board@yeovil.nhs.uk" for m in fired)
    assert any("Yeovil" in m["Subject"] for m in fired)

    # The reference refresh (`monitor init`) records the merger and carries it out.
    code, out, err = cli(path, "init")
    assert code == 0, err
    assert f"mergers: RA4 -> RH5: {len(open_ra4)} alerts ended, 1 subscriptions moved" in out
    with session_scope(ctx.engine) as s:
        for a in s.exec(select(Alert).where(Alert.org == "RA4")):
            assert a.state == AlertState.RESOLVED and a.ended_at is not None
        ends = list(s.exec(select(AlertEvent).where(col(AlertEvent.actor) == "merger")))
        assert len(ends) == len(open_ra4) and {e.note for e in ends} == {MERGED}
        sub = s.exec(select(Subscription).where(Subscription.email == "board@yeovil.nhs.uk")).one()
        assert (sub.scope, sub.code, sub.unsubscribed_at) == ("org", "RH5", None)
    queued = outbox_rows(ctx)

    # Twice changes nothing: no second move, notice or ending.
    code, out, err = cli(path, "init")
    assert code == 0 and "mergers:" not in out, err
    assert outbox_rows(ctx) == queued

    after = delivered(ctx)[len(fired) :]
    notices = [m for m in after if "has merged into" in m["Subject"]]
    assert len(notices) == 1
    notice = text_of(notices[0])
    assert f"{YEOVIL} (RA4) closed on 31 March 2023 and merged into {SOMERSET} (RH5)" in notice
    assert "https://alerts.example.nhs.uk/orgs/RH5" in notice
    assert notices[0]["List-Unsubscribe"]  # the recipient's part, with its links
    # The emails of alerts whose firing was emailed say the merger ended them.
    ended = [m for m in after if m not in notices]
    assert ended and all(f"{YEOVIL} has closed: {MERGED}." in text_of(m) for m in ended)
    assert all(m["Subject"].startswith("[RESOLVED]") for m in ended)

    # The rules open nothing more for RA4.
    evaluate_db(ctx)
    with session_scope(ctx.engine) as s:
        assert not list(s.exec(select(Alert).where(Alert.org == "RA4", col(Alert.state).in_(OPEN))))

    # A new subscription to RA4 is refused, naming the successor: the command and /subscribe.
    code, _, err = cli(path, "subscribers", "add", "new@example.nhs.uk", "--org", "RA4")
    assert code == 2
    assert f"merged into {SOMERSET} (RH5): subscribe to RH5 instead" in err
    client = create_app(ctx).test_client()
    page = client.get("/subscribe?org=RA4").get_data(as_text=True)
    assert f"its successor, {SOMERSET}, is chosen instead" in page

    # RH5's page shows RA4's history, marked as RA4's.
    page = client.get("/orgs/RH5").get_data(as_text=True)
    section = page.split('id="predecessor-RA4"')[1]
    assert f"Before the merger: {YEOVIL} (RA4)" in section
    assert f"they are not {SOMERSET}'s" in section.replace("&#39;", "'")
    figures = section.split('id="predecessor-figures-RA4"')[1].split("</table>")[0]
    assert "Data Security and Protection Toolkit status" in figures and "30 June 2023" in figures
    table = section.split('id="predecessor-alerts-RA4"')[1].split("</table>")[0]
    assert f"Alerts of {YEOVIL} (RA4)" in table
    assert table.count('href="/alerts/') >= len(open_ra4)
    # RA4's own page says where it went.
    page = client.get("/orgs/RA4").get_data(as_text=True)
    assert "merged into" in page and 'href="/orgs/RH5"' in page
