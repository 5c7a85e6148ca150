"""A private PostgreSQL server on 127.0.0.1 that can be restarted, for tests and tools/chaos.py.

The shared server on port 5432 cannot be restarted under other users; this one is made with
``initdb`` in a temporary folder, listens on a free port with trust authentication, and is
restarted with ``pg_ctl restart -m fast`` or ``-m immediate``. As root the server runs as the
``postgres`` user (PostgreSQL refuses to run as root).

``PrivatePostgres.available()`` says why it cannot run (no binaries, no such user), or None.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bindir() -> Path | None:
    found = os.environ.get("MONITOR_PG_BINDIR")
    if found:
        return Path(found)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    return next((Path(d) for d in dirs if (Path(d) / "initdb").exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """``initdb`` + ``pg_ctl start`` in a temporary folder; ``stop()`` removes it all."""

    @staticmethod
    def available() -> str | None:
        """None when a private server can be started here, else why not."""
        if _bindir() is None:
            return "no PostgreSQL binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user to run the server as"
        return None

    def __init__(self) -> None:
        why = self.available()
        if why:
            raise RuntimeError(why)
        bindir = _bindir()
        assert bindir is not None
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._as_user(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 50\n"
            )
        self.start()

    @property
    def url(self) -> str:
        """An admin URL (the ``postgres`` database) for SQLAlchemy with psycopg."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_user(self, *cmd: str) -> None:
        full = ["runuser", "-u", self._user, "--", *cmd] if self._user else list(cmd)
        r = subprocess.run(full, capture_output=True, text=True, cwd=self.root)
        if r.returncode != 0:
            tail = self.log.read_text()[-800:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd[:2])} failed: {r.stderr[-800:]} {tail}")

    def _pg_ctl(self, *args: str) -> None:
        self._as_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args)

    def start(self) -> None:
        self._pg_ctl("-w", "-t", "60", "start")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m fast|immediate``: every session is cut; back when this returns."""
        self._pg_ctl("-w", "-t", "60", "-m", mode, "restart")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("-w", "-t", "60", "-m", mode, "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the private PostgreSQL on port {self.port} did not come back")
