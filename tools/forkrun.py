"""`monitor` commands in child processes forked from a process that has imported them once.

Starting `python -m monitor.cli` spends most of a second or two importing; a chaos trial starts
two or three commands. A multiprocessing forkserver imports ``monitor.cli`` once, then forks a
child per command, which changes to the command's folder, takes its environment, sends its
stderr to a file and runs the CLI's ``main`` with the command's arguments: the same code as
``python -m monitor.cli``, in a process of its own that SIGKILL ends like any other.
``Child`` answers as much of ``subprocess.Popen`` as tools/chaos.py uses.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any


def _main(argv: list[str], cwd: str, env: dict[str, str], err: str) -> None:
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    out = os.open(os.devnull, os.O_WRONLY)
    os.dup2(out, 1)
    fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    sys.argv = ["monitor", *argv]
    from monitor.cli import main

    main()  # exits through SystemExit with the command's code


class Child:
    """One command's process: wait, send_signal, communicate and returncode, as Popen."""

    def __init__(self, proc: Any, err: Path) -> None:
        self.proc = proc
        self.err = err
        self.pid = proc.pid

    @property
    def returncode(self) -> int | None:
        code = self.proc.exitcode
        return None if code is None else int(code)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self.proc.join(timeout)
        code = self.returncode
        if code is None:
            raise subprocess.TimeoutExpired("monitor", timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        self.wait(timeout)
        try:
            return b"", self.err.read_bytes()
        finally:
            self.err.unlink(missing_ok=True)


class Launcher:
    """A forkserver that has imported ``monitor.cli``; ``start`` forks a command from it."""

    def __init__(self) -> None:
        self.ctx: ForkServerContext = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(["monitor.cli", "tools.forkrun"])
        self.tmp = Path(tempfile.mkdtemp(prefix="monitor-forkrun-"))
        self._n = 0

    def start(self, argv: list[str], cwd: Path, env: dict[str, str]) -> Child:
        self._n += 1
        err = self.tmp / f"{self._n}.err"
        proc = self.ctx.Process(target=_main, args=(argv, str(cwd), env, str(err)))
        proc.start()
        return Child(proc, err)
