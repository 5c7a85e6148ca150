"""A real HTTP server on 127.0.0.1 standing in for Microsoft Teams, Slack and webhook receivers.

Each path is one channel's webhook. The server records every POST (path, headers, body) and
answers what the test scripted for that path (default 200), as the real services do: Teams
Workflows 202, Slack 200 "ok", a 404 for a deleted webhook, 429 with Retry-After when busy.
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender killed mid-request leaves a held answer nobody reads: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ChatServer:
    """Started on a free port; ``url(path)`` is a webhook URL; ``stop()`` when done."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self.defaults: dict[str, Answer] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.hold_at: int | None = None  # this POST (1 = the first) is held until release()
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with server.lock:
                    server.posts.append(Post(self.path, dict(self.headers.items()), body))
                    script = server.scripts[self.path]
                    answer = script.popleft() if script else server.defaults.get(self.path)
                    hold = len(server.posts) == server.hold_at
                    server.changed.notify_all()
                if hold:  # received, but not answered: the sender cannot know it arrived
                    server.released.wait()
                answer = answer or Answer()
                self.send_response(answer.status)
                for k, v in answer.headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *answers: Answer, default: Answer | None = None) -> None:
        """Answer the next POSTs to ``path`` with ``answers`` in turn, then ``default``."""
        with self.lock:
            self.scripts[path].extend(answers)
            if default is not None:
                self.defaults[path] = default

    def hold(self, n: int) -> None:
        """Receive the ``n``th POST (counting from 1) but answer it only after ``release()``."""
        with self.lock:
            self.hold_at = n

    def release(self) -> None:
        self.released.set()

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Wait (without sleeping) until ``count`` POSTs have arrived."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.posts) >= count, timeout):
                raise AssertionError(f"timed out; received {len(self.posts)} post(s)")

    def to(self, path: str) -> list[Post]:
        with self.lock:
            return [p for p in self.posts if p.path == path]

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
