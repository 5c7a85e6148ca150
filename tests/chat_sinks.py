"""A real HTTP server on 127.0.0.1 standing in for Microsoft Teams, Slack and webhook receivers.

Each path is one channel's webhook. The server records every POST (path, headers, body) and
answers what the test scripted for that path (default 200), as the real services do: Teams
Workflows 202, Slack 200 "ok", a 404 for a deleted webhook, 429 with Retry-After when busy.
"""

from __future__ import annotations

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


class ChatServer:
    """Started on a free port; ``url(path)`` is a webhook URL; ``stop()`` when done."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self.defaults: dict[str, Answer] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with server.lock:
                    server.posts.append(Post(self.path, dict(self.headers.items()), body))
                    script = server.scripts[self.path]
                    answer = script.popleft() if script else server.defaults.get(self.path)
                answer = answer or Answer()
                self.send_response(answer.status)
                for k, v in answer.headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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

    def to(self, path: str) -> list[Post]:
        with self.lock:
            return [p for p in self.posts if p.path == path]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
