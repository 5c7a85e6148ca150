"""Chat channels through the outbox: what each service is sent, what its answers do, and what
operators see, against real HTTP servers on 127.0.0.1 (tests/chat_sinks.py)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from typer.testing import CliRunner
from web_fixtures import ADMIN_ENV, PASSWORD, csrf_in, make_ctx, serving

from monitor.cli import app as cli
from monitor.db import session_scope
from monitor.models import Outbox, Subscription, utcnow
from monitor.notify import chat, outbox, signups
from monitor.notify import subscriptions as subs
from monitor.notify.views import alert_view
from monitor.urls import Urls
from monitor.web import users
from tests import alert_fixtures as af
from tests.chat_sinks import Answer, ChatServer
from tests.conftest import ROOT

OPS = "ops@example.nhs.uk"
SECRET_ENV = "MONITOR_TEST_WEBHOOK_SECRET"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer()
    yield srv
    srv.stop()


def chat_settings(tmp_path: Path, engine: Engine) -> Any:
    return af.settings(
        tmp_path,
        engine,
        mail={"operators": [OPS]},
        chat={"webhook_secret_env": SECRET_ENV},
    )


def subscribe(engine: Engine, settings: Any, channel: str, url: str) -> Subscription:
    with session_scope(engine, write=True) as s:
        sub, _ = subs.add(s, settings, subs.Request(url, "org", "RCX", channel=channel))
        return sub


def queue(engine: Engine, settings: Any) -> list[str]:
    pub = af.publication(engine)
    return af.route(engine, settings, [af.alert(engine, "RCX", pub)[1]])


def rows(engine: Engine) -> list[Outbox]:
    with session_scope(engine) as s:
        return list(s.exec(select(Outbox).order_by(col(Outbox.id))))


def operator_emails(settings: Any) -> list[str]:
    new = settings.mail.maildir / "new"
    return [p.read_text() for p in sorted(new.iterdir())] if new.is_dir() else []


def test_a_chat_subscription_is_confirmed_at_once_and_keeps_its_url_out_of_keys(
    tmp_path: Path, engine: Engine, server: ChatServer
) -> None:
    settings = af.settings(tmp_path, engine, subscriptions={"double_opt_in": True})
    url = server.url("/slack/T000/B000/secretpart")
    sub = subscribe(engine, settings, "slack", url)
    assert sub.confirmed_at is not None and sub.webhook_url == url
    assert sub.email.startswith("slack:") and "secretpart" not in sub.email
    keys = queue(engine, settings)
    assert len(keys) == 1 and "secretpart" not in keys[0] and keys[0].endswith(sub.email)
    assert [r.kind for r in rows(engine)] == ["event"]  # no confirmation email for a channel


def test_a_deleted_webhook_fails_for_good_and_operators_are_told(
    tmp_path: Path, engine: Engine, server: ChatServer
) -> None:
    settings = chat_settings(tmp_path, engine)
    gone, live = "/teams/gone", "/teams/live"
    server.answer(gone, default=Answer(404, b"Webhook not found"))
    subscribe(engine, settings, "teams", server.url(gone))
    subscribe(engine, settings, "teams", server.url(live))
    queue(engine, settings)

    report = outbox.deliver(engine, settings)
    assert (report.sent, report.failed, report.retrying) == (1 + 1, 1, 0)  # + the operators'
    failed = [r for r in rows(engine) if r.status == "failed"]
    assert len(failed) == 1 and failed[0].recipient.startswith("teams:")
    assert "Microsoft Teams answered 404" in (failed[0].error or "")
    assert "Webhook not found" in (failed[0].error or "")
    assert len(server.to(gone)) == len(server.to(live)) == 1
    (told,) = operator_emails(settings)
    assert failed[0].recipient in told and "404" in told
    # Failures are not tried again.
    assert outbox.deliver(engine, settings).sent == 0 and len(server.to(gone)) == 1


def test_busy_and_broken_services_are_tried_again_after_a_wait(
    tmp_path: Path, engine: Engine, server: ChatServer
) -> None:
    settings = chat_settings(tmp_path, engine)
    server.answer("/slack", Answer(429, b"rate_limited", (("Retry-After", "600"),)))
    server.answer("/teams", Answer(503, b"Service Unavailable"))
    subscribe(engine, settings, "slack", server.url("/slack"))
    subscribe(engine, settings, "teams", server.url("/teams"))
    queue(engine, settings)

    before = utcnow()
    report = outbox.deliver(engine, settings)
    assert (report.sent, report.failed, report.retrying) == (0, 0, 2)
    waiting = {r.recipient.split(":")[0]: r for r in rows(engine)}
    assert {r.status for r in waiting.values()} == {"pending"}
    # Slack asked for ten minutes; the backoff alone would have been one.
    assert waiting["slack"].next_attempt_at >= before + timedelta(seconds=600)
    assert waiting["teams"].next_attempt_at < before + timedelta(seconds=600)
    assert "429" in (waiting["slack"].error or "") and "503" in (waiting["teams"].error or "")
    assert outbox.deliver(engine, settings).sent == 0  # not due yet

    later = outbox.deliver(engine, settings, clock=lambda: utcnow() + timedelta(minutes=11))
    assert (later.sent, later.failed) == (2, 0)
    assert len(server.to("/slack")) == len(server.to("/teams")) == 2
    assert [r.attempts for r in rows(engine)] == [2, 2]


def test_an_unset_signing_secret_keeps_webhooks_queued(
    tmp_path: Path, engine: Engine, server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    settings = chat_settings(tmp_path, engine)
    subscribe(engine, settings, "webhook", server.url("/hook"))
    queue(engine, settings)
    report = outbox.deliver(engine, settings)
    assert (report.sent, report.retrying) == (0, 1) and server.posts == []
    (row,) = rows(engine)
    assert row.status == "pending" and SECRET_ENV in (row.error or "")

    monkeypatch.setenv(SECRET_ENV, "s3cret")
    report = outbox.deliver(engine, settings, clock=lambda: utcnow() + timedelta(hours=1))
    assert report.sent == 1 and len(server.to("/hook")) == 1


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.slack.com/services/T/B/x", "must start with https://"),
        ("ftp://127.0.0.1/hook", "must start with https://, not ftp"),
        ("https:///no-host", "has no host"),
        ("not a url", "is not a webhook URL"),
    ],
)
def test_the_cli_refuses_a_webhook_url_that_is_not_https(
    tmp_path: Path, engine: Engine, url: str, problem: str
) -> None:
    settings = af.settings(tmp_path, engine)
    assert settings.config_path is not None
    result = CliRunner().invoke(
        cli,
        ["--config", str(settings.config_path), "subscribers", "add", url]
        + ["--org", "RCX", "--channel", "teams"],
    )
    assert result.exit_code == 2 and problem in result.output
    with session_scope(engine) as s:
        assert s.exec(select(Subscription)).all() == []


def test_the_cli_adds_lists_and_removes_a_channel_by_its_url(
    tmp_path: Path, engine: Engine
) -> None:
    settings = af.settings(tmp_path, engine)
    assert settings.config_path is not None
    config = ["--config", str(settings.config_path)]
    url = "https://hooks.slack.com/services/T000/B000/XXXXsecret"

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*config, "subscribers", *args])
        assert result.exit_code == 0, result.output
        return result

    run("add", url, "--org", "RCX", "--channel", "slack")
    again = run("add", url, "--org", "RCX", "--channel", "slack")
    assert "already has this subscription" in again.output
    listed = json.loads(run("list", "--json").output)
    assert [(x["channel"], x["webhook"]) for x in listed] == [
        ("slack", "https://hooks.slack.com/…")
    ]
    assert "XXXXsecret" not in run("list").output
    digest = CliRunner().invoke(
        cli,
        [*config, "subscribers", "add", url, "--org", "RCX", "--channel", "slack"]
        + ["--digest-only"],
    )
    assert digest.exit_code == 2 and "by email only" in digest.output
    # Operators' emails name a channel by its recipient; that finds it too.
    by_recipient = json.loads(run("list", "--email", listed[0]["email"], "--json").output)
    assert [x["id"] for x in by_recipient] == [listed[0]["id"]]
    ended = json.loads(run("remove", url, "--json").output)
    assert [x["channel"] for x in ended] == ["slack"]


def test_self_service_is_email_only(tmp_path: Path, engine: Engine) -> None:
    settings = af.settings(tmp_path, engine)
    with session_scope(engine, write=True) as s, pytest.raises(subs.InvalidSubscription) as e:
        signups.sign_up(
            s,
            settings,
            subs.Request("https://hooks.slack.com/x", "org", "RCX", channel="slack"),
            client="192.0.2.1",
        )
    assert e.value.field == "channel" and "email only" in str(e.value)


def _objects(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for v in data.values():
            yield from _objects(v)
    elif isinstance(data, list):
        for v in data:
            yield from _objects(v)


HOSTILE = 'Trust "quoted" \\ back\nslash </script> & <!channel> {{ x }} \u2028'


@pytest.mark.parametrize("channel", ["teams", "slack", "webhook"])
def test_words_from_the_data_cannot_break_the_json(tmp_path: Path, channel: str) -> None:
    settings = af.settings(tmp_path)
    view = alert_view(*af.unsaved("RCX"), Urls("https://alerts.example.nhs.uk"))
    view = dataclasses.replace(view, org_name=HOSTILE, rule_title=HOSTILE, status_text=HOSTILE)
    msg = chat.ChatMessage(
        title=HOSTILE,
        place=HOSTILE,
        fired=[view],
        resolved=[],
        publication_title=HOSTILE,
        publication_url=view.publication_url,
        published_text=view.published_text,
        status_url="https://alerts.example.nhs.uk/",
        key="event:1:teams:0",
    )
    data = json.loads(chat.render(chat.env_for(settings), channel, msg))
    strings = json.dumps(data, ensure_ascii=False)
    if channel == "slack":
        # mrkdwn text: the control characters are escaped, the words kept.
        assert data["text"] == HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(
            ">", "&gt;"
        )
        mrkdwn = [o["text"] for o in _objects(data) if o.get("type") == "mrkdwn"]
        assert len(mrkdwn) == 3 and not any("<!channel>" in t for t in mrkdwn)
        assert all("&lt;!channel&gt;" in t for t in mrkdwn[:2])  # where the words are
        assert data["blocks"][0]["text"] == {"type": "plain_text", "text": HOSTILE}  # not mrkdwn
    elif channel == "webhook":
        assert data["title"] == data["fired"][0]["org_name"] == HOSTILE
    else:
        body = data["attachments"][0]["content"]["body"]
        assert body[0]["text"] == HOSTILE
    assert "{{ x }}" in strings  # data is never rendered as a template


def test_a_template_that_writes_bad_json_fails_only_its_messages(
    tmp_path: Path, engine: Engine, server: ChatServer
) -> None:
    override = tmp_path / "override"
    (override / "chat").mkdir(parents=True)
    (override / "chat" / "slack.json.j2").write_text('{"text": {{ title }},}')
    settings = af.settings(tmp_path, engine, templates_override=override, mail={"operators": [OPS]})
    subscribe(engine, settings, "slack", server.url("/slack"))
    subscribe(engine, settings, "teams", server.url("/teams"))
    queue(engine, settings)
    report = outbox.deliver(engine, settings)
    assert (report.sent, report.failed) == (1 + 1, 1)
    (bad,) = [r for r in rows(engine) if r.status == "failed"]
    assert bad.recipient.startswith("slack:") and "chat/slack.json.j2" in (bad.error or "")
    assert server.to("/slack") == [] and len(server.to("/teams")) == 1


def test_operators_add_a_channel_and_see_failed_sends_on_the_subscriptions_page(
    tmp_path: Path, engine: Engine, server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ADMIN_ENV, f"alice:{users.hash_password(PASSWORD)}")
    ctx = make_ctx(tmp_path, engine, base_url="http://127.0.0.1:8000")
    server.answer("/teams", default=Answer(410, b"Gone: the connector was removed"))
    with serving(ctx) as url:
        operator = requests.Session()
        login = operator.get(f"{url}/login").text
        form = {"username": "alice", "password": PASSWORD, "next": "/admin/subscriptions"}
        r = operator.post(f"{url}/login", data={**form, "csrf_token": csrf_in(login)})
        assert r.status_code == 200 and r.url == f"{url}/admin/subscriptions"
        page = r.text
        assert 'name="channel"' in page and 'name="webhook_url"' in page

        def add(**fields: str) -> requests.Response:
            token = csrf_in(operator.get(f"{url}/admin/subscriptions").text)
            data = {"scope": "org", "code": "RCX", "csrf_token": token, **fields}
            return operator.post(f"{url}/admin/subscriptions", data=data)

        refused = add(channel="teams", webhook_url="http://example.com/hook")
        assert refused.status_code == 400 and "must start with https://" in refused.text
        done = add(channel="teams", webhook_url=server.url("/teams"))
        assert done.status_code == 200 and "Subscription #" in done.text
        assert (
            "Microsoft Teams (teams:" in done.text
            and "/teams"
            not in done.text.split("Messages that could not be sent")[0].split(
                "Add a subscription"
            )[0]
        )

        queue(engine, ctx.settings)
        report = outbox.deliver(engine, ctx.settings)
        assert report.failed == 1 and len(server.to("/teams")) == 1
        page = operator.get(f"{url}/admin/subscriptions").text
        assert "Messages that could not be sent" in page
        assert "Microsoft Teams answered 410" in page and "connector was removed" in page


def test_a_preview_writes_the_json_a_channel_would_be_sent_and_sends_nothing(
    tmp_path: Path, engine: Engine, server: ChatServer
) -> None:
    settings = chat_settings(tmp_path, engine)
    url = server.url("/teams/secret-path")
    subscribe(engine, settings, "teams", url)
    queue(engine, settings)
    assert settings.config_path is not None
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        cli, ["--config", str(settings.config_path), "send", "--preview", str(out)]
    )
    assert result.exit_code == 0, result.output
    (written,) = out.iterdir()
    assert written.suffix == ".json" and written.name in result.output
    card = json.loads(written.read_text())
    assert card["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert "secret-path" not in written.read_text() + written.name
    assert server.posts == [] and [r.status for r in rows(engine)] == ["pending"]


def test_a_long_group_stays_within_what_teams_and_slack_accept(tmp_path: Path) -> None:
    settings = af.settings(tmp_path)
    view = alert_view(*af.unsaved("RCX"), Urls("https://alerts.example.nhs.uk"))
    views = [dataclasses.replace(view, alert_id=i) for i in range(25)]
    msg = chat.ChatMessage(
        title="A&E statistics for July 2025: 25 new alerts in England",
        place="England",
        fired=views,
        resolved=[],
        publication_title=view.publication_title,
        publication_url=view.publication_url,
        published_text=view.published_text,
        status_url="https://alerts.example.nhs.uk/",
        key="group:1:teams:0",
    )
    env = chat.env_for(settings)
    teams = chat.render(env, "teams", msg)
    assert len(teams) < 28 * 1024  # Teams' limit for a webhook message
    body = json.loads(teams)["attachments"][0]["content"]["body"]
    assert sum(b["type"] == "Container" for b in body) == 10
    assert body[-1]["text"] == "And 15 more: see the status page."
    slack = json.loads(chat.render(env, "slack", msg))
    assert len(slack["blocks"]) <= 50  # Slack's limit
    assert any(
        b.get("text", {}).get("text") == "And 5 more: see the status page." for b in slack["blocks"]
    )
    hook = json.loads(chat.render(env, "webhook", msg))
    assert [a["alert_id"] for a in hook["fired"]] == list(range(25))  # a receiver gets them all


def test_a_sender_killed_mid_post_sends_only_that_message_again(
    tmp_path: Path, engine: Engine, server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    settings = chat_settings(tmp_path, engine)
    paths = ["/hook/a", "/hook/b", "/hook/c"]
    for path in paths:
        subscribe(engine, settings, "webhook", server.url(path))
    queue(engine, settings)
    # The receiver holds its answer to the second message; the sender is killed meanwhile.
    server.hold(2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(settings.config_path), "send"],
        cwd=ROOT,
    )
    try:
        server.wait_for(2)
    finally:
        proc.kill()
        proc.wait()
    server.release()
    in_flight = server.posts[1].path
    assert [r.status for r in rows(engine)] == ["sent", "sending", "sending"]

    # Restarted at once on the same host: the dead sender's rows are handed back without
    # waiting for its lease, and the one in flight goes again, with the same key.
    assert outbox.deliver(engine, settings).sent == 2
    assert {r.status for r in rows(engine)} == {"sent"}
    assert {p: len(server.to(p)) for p in paths} == {p: 1 + (p == in_flight) for p in paths}
    first, again = server.to(in_flight)
    assert first.headers["X-Monitor-Key"] == again.headers["X-Monitor-Key"]
    assert first.body == again.body


def test_a_moved_webhook_is_not_followed_and_fails_saying_so(
    tmp_path: Path, engine: Engine, server: ChatServer
) -> None:
    settings = chat_settings(tmp_path, engine)
    moved = (("Location", server.url("/elsewhere")),)
    server.answer("/old", default=Answer(301, b"", moved))
    subscribe(engine, settings, "slack", server.url("/old"))
    queue(engine, settings)
    report = outbox.deliver(engine, settings)
    assert (report.sent, report.failed) == (1, 1)  # the operators' email is sent
    (row,) = [r for r in rows(engine) if r.recipient.startswith("slack:")]
    assert row.status == "failed" and "Slack answered 301" in (row.error or "")
    assert "the webhook has moved" in (row.error or "")
    assert [p.path for p in server.posts] == ["/old"]  # never posted (nor got) elsewhere
