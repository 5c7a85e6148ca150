"""Job runs are recorded (ok, failed, skipped), and `monitor poll` runs poll -> evaluate -> send."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

from monitor import config
from monitor.cli import app
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import JobRun
from monitor.service import jobs
from tests.cqc_fake_api import KEY as CQC_KEY
from tests.cqc_fake_api import FakeCqc, respond, settings_for, trust_provider_body
from tests.test_poll import INDEX, Publisher, publisher  # noqa: F401  (fixture)

CANCER = "/statistics/statistical-work-areas/cancer-waiting-times/"


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    p.write_text("[http]\nretries = 0\n")
    return Context(config.load(p), engine)


def runs(engine: Engine, job: str | None = None) -> list[JobRun]:
    with session_scope(engine) as s:
        q = select(JobRun).order_by(col(JobRun.id))
        return [r for r in s.exec(q) if job is None or r.job == job]


def test_a_successful_job_is_recorded_running_then_ok_with_its_counts(ctx: Context) -> None:
    seen: list[JobRun] = []

    def job(c: Context) -> dict[str, Any]:
        seen.extend(runs(c.engine, "example"))
        return {"fetched": 3, "files": ["a", "b"]}

    result = jobs.record(ctx, "example", job, extra={"trigger": "cli"})
    assert [(r.outcome, r.finished_at, r.pid, r.host) for r in seen] == [
        ("running", None, os.getpid(), socket.gethostname())
    ]
    [row] = runs(ctx.engine, "example")
    assert (row.outcome, row.error) == ("ok", None)
    assert row.counts == {"trigger": "cli", "fetched": 3, "files": 2}  # lists are counted
    assert row.finished_at is not None and row.finished_at >= row.started_at
    assert result.outcome == "ok" and result.run_id == row.id


def test_a_failing_job_is_recorded_and_logged_in_one_line_and_does_not_raise(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    def job(c: Context) -> None:
        raise RuntimeError("the publisher's page\nhas no links")

    with caplog.at_level(logging.INFO, logger="monitor"):
        result = jobs.record(ctx, "poll:ae", job)
    assert result.outcome == "failed"
    [row] = runs(ctx.engine)
    assert row.outcome == "failed"
    assert row.error == "RuntimeError: the publisher's page\nhas no links"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == ["poll:ae failed: RuntimeError: the publisher's page has no links"]


def test_the_cqc_poll_is_skipped_without_a_subscription_key(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CQC_SUBSCRIPTION_KEY", raising=False)
    result = jobs.record(ctx, "poll:cqc", lambda c: jobs.poll_source(c, "cqc"))
    assert (result.outcome, result.error) == (
        "skipped",
        "no CQC subscription key: set the environment variable CQC_SUBSCRIPTION_KEY",
    )


@pytest.fixture
def cqc_api(httpserver: HTTPServer) -> FakeCqc:
    """The CQC API on 127.0.0.1: one NHS trust (RM3) with its three locations."""
    fake = FakeCqc(httpserver).install()
    fake.add_body("provider", "RM3", trust_provider_body("RM3"))
    for sid in ("RM317", "RM3Y3", "G7F7V"):
        fake.add_body("location", sid)
    fake.listings["providers"] = [
        {"providerId": "RM3", "providerName": "NCA"},
        {"providerId": "RT2", "providerName": "Pennine Care"},  # no body: answers 404
    ]
    return fake


def test_the_cqc_poll_records_what_the_changes_feed_brought(
    engine: Engine, tmp_path: Path, cqc_api: FakeCqc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_CQC_KEY", CQC_KEY)
    settings = settings_for(
        cqc_api.base_url, tmp_path, "requests_per_minute = 2000\n[http]\nretries = 0\n"
    )
    ctx = Context(settings, engine)
    ok = jobs.record(ctx, "poll:cqc", lambda c: jobs.poll_source(c, "cqc"))
    assert ok.outcome == "ok", ok.error
    assert (ok.counts["status"], ok.counts["ingested"], ok.counts["not_found"]) == ("ok", 4, 1)
    assert ok.counts["error"] is None
    cqc_api.script["/changes/provider"] = [respond(500, "oops")]  # the gateway falls over
    failed = jobs.record(ctx, "poll:cqc", lambda c: jobs.poll_source(c, "cqc"))
    assert failed.outcome == "failed" and "provider changes feed" in (failed.error or "")
    assert [(r.job, r.outcome) for r in runs(engine)] == [
        ("poll:cqc", "ok"),
        ("poll:cqc", "failed"),
    ]


@pytest.fixture
def two_sources(ctx: Context, publisher: Publisher) -> Context:  # noqa: F811
    """A&E on the publisher's pages, and a cancer page that lists no file yet."""
    publisher.pages[CANCER] = b"<html><body><article><p>Coming soon.</p></article></body></html>"
    p = ctx.settings.config_path
    assert p is not None
    p.write_text(
        p.read_text()
        + f'[sources.ae]\nindex_url = "{publisher.base}{INDEX}"\n'
        + f'[sources.cancer]\nindex_url = "{publisher.base}{CANCER}"\n'
    )
    return Context(config.load(p), ctx.engine)


def test_the_chain_evaluates_and_sends_only_after_something_new_arrived(
    two_sources: Context,
) -> None:
    ctx = two_sources
    report = jobs.poll_and_notify(ctx, ["ae", "cancer"], trigger="calendar")
    assert report.found_new
    assert [(r.job, r.outcome) for r in runs(ctx.engine)] == [
        ("poll:ae", "ok"),
        ("poll:cancer", "ok"),
        ("evaluate", "ok"),
        ("send", "ok"),
    ]
    poll_ae, poll_cancer, evaluation, _send = runs(ctx.engine)
    assert (poll_ae.counts["trigger"], poll_ae.counts["ingested"]) == ("calendar", 5)
    assert poll_cancer.counts["ingested"] == 0
    assert evaluation.counts["trigger"] == "calendar" and evaluation.counts["findings"] > 0
    # Nothing new on either page: polls only.
    again = jobs.poll_and_notify(ctx, ["ae", "cancer"])
    assert not again.found_new and again.evaluate is None and again.send is None
    assert [r.job for r in runs(ctx.engine)][4:] == ["poll:ae", "poll:cancer"]


def test_a_stopping_service_finishes_the_current_step_only(
    two_sources: Context,
    publisher: Publisher,  # noqa: F811
) -> None:
    # The stop request arrives while A&E's pages are being read.
    report = jobs.poll_and_notify(
        two_sources, ["ae", "cancer"], keep_going=lambda: publisher.hits[INDEX] == 0
    )
    assert [p.job for p in report.polls] == ["poll:ae"] and report.polls[0].outcome == "ok"
    assert report.found_new and report.evaluate is None and report.send is None


def test_old_successful_runs_are_pruned_and_failures_kept(ctx: Context) -> None:
    jobs.record(ctx, "send", lambda c: {})
    jobs.record(ctx, "poll:ae", lambda c: 1 / 0)
    later = runs(ctx.engine)[0].started_at + jobs.KEEP_RUNS * 2
    assert jobs.prune_runs(ctx, now=later) == {"deleted": 1, "slots_deleted": 0}
    assert [r.job for r in runs(ctx.engine)] == ["poll:ae"]


# `monitor poll` ------------------------------------------------------------------------------


def cli(config_file: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["--config", str(config_file), *args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def config_file(tmp_path: Path, publisher: Publisher) -> Path:  # noqa: F811
    p = tmp_path / "config.toml"
    p.write_text(
        f'[paths]\nvar = "var"\n[http]\nretries = 0\n'
        f'[sources.ae]\nindex_url = "{publisher.base}{INDEX}"\n'
        f'[sources.cancer]\nenabled = false\nindex_url = "http://127.0.0.1:9/"\n'
    )
    assert cli(p, "init")[0] == 0
    return p


def test_monitor_poll_polls_every_enabled_source_then_evaluates_the_rules(
    config_file: Path,
) -> None:
    code, out, err = cli(config_file, "poll", "--json")
    assert code == 0, err
    report = json.loads(out)
    [ae] = report["polls"]
    assert (ae["job"], ae["outcome"], ae["counts"]["ingested"]) == ("poll:ae", "ok", 5)
    assert ae["counts"]["trigger"] == "cli"
    evaluation = report["evaluate"]
    assert evaluation["outcome"] == "ok" and evaluation["counts"]["findings"] > 0
    assert report["send"]["job"] == "send" and report["send"]["counts"]["sent"] == 0  # quiet
    code, out, _ = cli(config_file, "poll", "ae")
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["poll:ae", "ok"]
    assert "nothing new: no evaluation needed" in out


def test_monitor_poll_says_what_failed_and_exits_1(config_file: Path) -> None:
    code, out, _ = cli(config_file, "poll", "cancer")  # named, so polled although disabled
    assert code == 1
    assert out.startswith("poll:cancer") and "failed" in out and "cannot connect" in out


def test_monitor_poll_refuses_an_unknown_source(config_file: Path) -> None:
    code, _, err = cli(config_file, "poll", "aee")
    assert code == 2 and "unknown source 'aee'" in err


REGIONS = ("Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63")


def _regional_teams_config(tmp_path: Path, publisher: Publisher) -> Path:  # noqa: F811
    """A config polling the stand-in A&E publisher, with one subscribed team per region."""
    p = tmp_path / "config.toml"
    p.write_text(
        f'[paths]\nvar = "var"\n[http]\nretries = 0\n'
        f'[sources.ae]\nindex_url = "{publisher.base}{INDEX}"\n'
        + "".join(
            f'[[subscribers]]\nemail = "team.{r.lower()}@example.nhs.uk"\nregion = "{r}"\n'
            for r in REGIONS
        )
    )
    return p


def test_the_day_the_data_lands_each_regional_team_gets_one_email(
    tmp_path: Path,
    publisher: Publisher,  # noqa: F811
) -> None:
    from email import message_from_bytes

    from tests.test_service import new_file

    p = _regional_teams_config(tmp_path, publisher)
    assert cli(p, "init")[0] == 0
    outbox = tmp_path / "var" / "outbox"

    # The first poll is the source's first ingest: alerts are recorded quietly.
    first = json.loads(cli(p, "poll", "--json")[1])
    assert first["evaluate"]["counts"]["fired"] > 0
    assert (first["evaluate"]["counts"]["routed"], first["send"]["counts"]["sent"]) == (0, 0)
    assert not list(outbox.rglob("*.eml"))

    # September's file lands: the chain evaluates it and sends one grouped email per team.
    new_file(publisher)
    code, out, err = cli(p, "poll", "--json")
    assert code == 0, err
    second = json.loads(out)
    assert second["polls"][0]["counts"]["ingested"] == 1
    assert second["evaluate"]["counts"]["routed"] == len(REGIONS)
    assert second["send"]["counts"]["sent"] == len(REGIONS)
    sent = [message_from_bytes(f.read_bytes()) for f in outbox.rglob("*.eml")]
    assert sorted(m["To"] for m in sent) == [f"team.{r.lower()}@example.nhs.uk" for r in REGIONS]


def test_the_notification_jobs_call_the_notifications_part(ctx: Context) -> None:
    assert jobs.record(ctx, "send", jobs.send).counts["sent"] == 0
    assert jobs.record(ctx, "digest", jobs.digest).counts == {"queued": 0}
    assert jobs.record(ctx, "operators", jobs.operators).counts == {"queued": 0}
    assert {r.outcome for r in runs(ctx.engine)} == {"ok"}


@contextmanager
def _september_polled_not_evaluated(
    tmp_path: Path,
    publisher: Publisher,  # noqa: F811
) -> Iterator[Context]:
    """A service whose A&E chain stored September 2025 and stopped before evaluating it."""
    from tests.test_service import new_file

    p = _regional_teams_config(tmp_path, publisher)
    assert cli(p, "init")[0] == 0
    assert cli(p, "poll")[0] == 0  # the first ingest: quiet
    ctx = Context.load(p)
    try:
        new_file(publisher)
        polled = jobs.record(ctx, "poll:ae", partial(jobs.poll_source, source="ae"))
        assert polled.counts["ingested"] == 1
        assert len(jobs.unevaluated_publications(ctx)) == 1
        yield ctx
    finally:
        ctx.close()


def _catch_up_emails_september(ctx: Context) -> dict[str, Any]:
    """The catching-up evaluation takes September as its cause and emails every region."""
    caught_up = jobs.evaluate_catching_up(ctx)
    assert caught_up["caught_up_publications"] == 1
    assert caught_up["routed"] == len(REGIONS)
    return caught_up


def test_a_publication_whose_evaluation_never_ran_is_emailed_by_the_next_evaluation(
    tmp_path: Path,
    publisher: Publisher,  # noqa: F811
) -> None:
    # A chain cut short between its poll and its evaluation (the database restarted under the
    # service, or the process stopped): the next poll finds nothing new, so only the daily (or
    # the start's) evaluation can send that publication's alerts.
    with _september_polled_not_evaluated(tmp_path, publisher) as ctx:
        caught_up = _catch_up_emails_september(ctx)
        # Recorded as the daily job records it: the publication is then evaluated, and the next
        # evaluation emails nothing again.
        jobs.record(ctx, "evaluate", lambda c: caught_up)
        assert jobs.unevaluated_publications(ctx) == []
        again = jobs.evaluate_catching_up(ctx)
        assert "caught_up_publications" not in again and again.get("routed", 0) == 0


def test_another_sources_evaluation_does_not_pass_for_a_publication_never_evaluated(
    tmp_path: Path,
    publisher: Publisher,  # noqa: F811
) -> None:
    # Two sources polled at once: A&E's chain stores September and stops before evaluating;
    # the ambulance chain, a moment later, evaluates its own figures (only those) and succeeds.
    # A&E's September is still unevaluated, and the next catching-up evaluation emails it.
    from monitor.sources.files import ingest_paths
    from tests.conftest import REAL

    with _september_polled_not_evaluated(tmp_path, publisher) as ctx:
        september = jobs.unevaluated_publications(ctx)
        (amb,) = ingest_paths(ctx, "ambulance", [REAL / "ambulance" / "ambsys.csv"])
        assert amb.status == "ingested" and amb.publication_id is not None
        other = jobs.record(
            ctx, "evaluate", partial(jobs.evaluate, publications=[amb.publication_id])
        )
        assert other.outcome == "ok" and other.counts.get("routed", 0) == 0
        assert jobs.unevaluated_publications(ctx) == september

        _catch_up_emails_september(ctx)
        assert jobs.unevaluated_publications(ctx) == []
