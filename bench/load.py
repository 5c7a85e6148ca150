"""A small HTTP/1.1 load generator: N keep-alive connections on one asyncio loop.

Each connection sends GET requests back to back (one in flight per connection, as a browser
or an API client does) for a fixed time, and every response's latency is recorded. One event
loop costs far less CPU than a thread per connection, which matters on a 2-core machine where
the server under test needs the other core.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    bytes_read: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(p / 100 * len(ordered))) - 1)]


async def _connection(
    host: str,
    port: int,
    path: str,
    until: float,
    out: list[float],
    stats: list[int],
    extra: str = "",
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n{extra}\r\n".encode()
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            out.append((time.perf_counter() - t0) * 1000)
            stats[0] += len(body)
            if status != 200:
                stats[1] += 1
    finally:
        writer.close()


async def _run(
    host: str, port: int, path: str, connections: int, seconds: float, extra: str = ""
) -> Load:
    latencies: list[float] = []
    stats = [0, 0]  # bytes read, errors
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(
        *(_connection(host, port, path, until, latencies, stats, extra) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    return Load(len(latencies), elapsed, latencies, stats[1], stats[0])


def measure(
    port: int,
    path: str,
    *,
    connections: int = 32,
    seconds: float = 5.0,
    warmup: float = 1.0,
    accept_encoding: str | None = None,
) -> Load:
    """Warm up, then load ``path`` on 127.0.0.1:``port`` for ``seconds``; with
    ``accept_encoding``, each request sends it as a browser does (the body is read, not
    decoded)."""
    extra = f"Accept-Encoding: {accept_encoding}\r\n" if accept_encoding else ""
    asyncio.run(_run("127.0.0.1", port, path, connections, warmup, extra))
    return asyncio.run(_run("127.0.0.1", port, path, connections, seconds, extra))
