"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for tests and bench.

Tests wait on its condition variable (``wait_for``) rather than sleeping.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on now (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    rcpt_tos: list[str]
    data: bytes
    peer: Any  # (host, port) of the client connection

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class Sink:
    """aiosmtpd handler: refuses the addresses in ``refuse`` (address -> SMTP reply) and, when
    ``hold_at`` is set, holds the reply to that message until ``release`` is set."""

    def __init__(self, refuse: dict[str, str] | None = None, hold_at: int | None = None) -> None:
        self.refuse = refuse or {}
        self.hold_at = hold_at
        self.release = threading.Event()
        self.received: list[Received] = []
        self.changed = threading.Condition()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.changed:
            self.received.append(Received(list(envelope.rcpt_tos), envelope.content, session.peer))
            n = len(self.received)
            self.changed.notify_all()
        if self.hold_at is not None and n == self.hold_at:
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return "250 Message accepted for delivery"

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 20) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.received), timeout):
                raise AssertionError(f"timed out; received {len(self.received)} message(s)")


class SmtpServer:
    """A started aiosmtpd server on a free port; ``stop()`` when done."""

    def __init__(self, sink: Sink | None = None, port: int | None = None) -> None:
        self.sink = sink or Sink()
        self.port = port or free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.sink.release.set()
        self.controller.stop()
