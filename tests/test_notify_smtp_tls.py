"""SMTP over STARTTLS and implicit TLS, with credentials from the environment variables config
names, against a real aiosmtpd server with a certificate made for the test."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.engine import Engine

from monitor.db import session_scope
from monitor.notify import outbox
from monitor.notify import subscriptions as subs
from tests import alert_fixtures as af
from tests.smtp_sink import Sink, free_port

USER, PASSWORD = "monitor", "correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class AuthSink(Sink):
    """Records whether each message came over TLS from an authenticated client."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bool, bool]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((tls, bool(session.authenticated)))
        return await super().handle_DATA(server, session, envelope)


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    return ctx


@pytest.fixture
def trust_test_certificate(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # ssl.create_default_context() loads the default verify paths, which honour SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv("MONITOR_SMTP_USERNAME", USER)
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", PASSWORD)


def queue(tmp_path: Path, engine: Engine, port: int, **mail: Any) -> Any:
    settings = af.settings(
        tmp_path,
        engine,
        mail={
            "transport": "smtp",
            "smtp_port": port,
            "username_env": "MONITOR_SMTP_USERNAME",
            "password_env": "MONITOR_SMTP_PASSWORD",
            **mail,
        },
    )
    with session_scope(engine, write=True) as s:
        subs.add(s, settings, subs.Request("board@qehkl.nhs.uk", "org", "RCX"))
    pub = af.publication(engine)
    af.route(engine, settings, [af.alert(engine, "RCX", pub)[1]])
    return settings


@pytest.fixture
def starttls_server(server_tls: ssl.SSLContext) -> Iterator[tuple[Controller, AuthSink]]:
    sink = AuthSink()
    c = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticate,
    )
    c.start()
    yield c, sink
    c.stop()


def test_starttls_with_credentials_from_the_environment(
    tmp_path: Path, engine: Engine, starttls_server: Any, trust_test_certificate: None
) -> None:
    controller, sink = starttls_server
    settings = queue(tmp_path, engine, controller.port, starttls=True)
    assert outbox.deliver(engine, settings).sent == 1
    assert sink.sessions == [(True, True)]


def test_a_wrong_password_keeps_the_messages_queued(
    tmp_path: Path,
    engine: Engine,
    starttls_server: Any,
    trust_test_certificate: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, sink = starttls_server
    monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "hunter2")
    settings = queue(tmp_path, engine, controller.port, starttls=True)
    report = outbox.deliver(engine, settings)
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    assert "SMTP login refused: 535" in report.errors[0] and sink.received == []


# aiosmtpd cannot see that the whole connection is TLS, so it warns about AUTH without it.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls(
    tmp_path: Path, engine: Engine, server_tls: ssl.SSLContext, trust_test_certificate: None
) -> None:
    sink = AuthSink()
    # TLS from the first byte: the server's session is TLS throughout, so AUTH needs no
    # STARTTLS first.
    c = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=server_tls,
        auth_required=True,
        auth_require_tls=False,
        authenticator=authenticate,
    )
    c.start()
    try:
        settings = queue(tmp_path, engine, c.port, ssl=True)
        assert outbox.deliver(engine, settings).sent == 1
        assert sink.sessions == [(True, True)]
    finally:
        c.stop()


def test_a_credential_variable_that_is_not_set_is_named(
    tmp_path: Path,
    engine: Engine,
    starttls_server: Any,
    trust_test_certificate: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, _ = starttls_server
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD")
    settings = queue(tmp_path, engine, controller.port, starttls=True)
    report = outbox.deliver(engine, settings)
    assert report.retrying == 1
    assert "MONITOR_SMTP_PASSWORD" in report.errors[0] and "not set" in report.errors[0]
