"""The installation's secret: signs session cookies and unsubscribe tokens.

It comes from the environment variable that ``[security] secret_env`` names. Without it, a
random secret is generated once and kept in ``<var>/secret.key`` (mode 0600), which suits one
machine; several `monitor serve` processes on different machines must share the variable.
"""

from __future__ import annotations

import logging
import os
import secrets as _random
import time
from pathlib import Path

from monitor.config import Settings
from monitor.context import Context

log = logging.getLogger(__name__)

SECRET_FILE = "secret.key"
MIN_LENGTH = 16


class SecretError(RuntimeError):
    """The configured secret cannot be used."""


def secret(ctx: Context) -> bytes:
    """The secret as bytes: the environment variable when set, else ``<var>/secret.key``."""
    return secret_for(ctx.settings)


def secret_for(settings: Settings) -> bytes:
    """``secret`` for code that holds the settings rather than a Context."""
    name = settings.security.secret_env
    value = settings.env(name)
    if value:
        if len(value) < MIN_LENGTH:
            raise SecretError(
                f"the environment variable {name} holds a secret of {len(value)} characters; "
                f"use at least {MIN_LENGTH} (e.g. `python -c 'import secrets; "
                f"print(secrets.token_hex(32))'`)"
            )
        return value.encode()
    return _from_file(settings.paths.var / SECRET_FILE)


def _from_file(path: Path) -> bytes:
    """Read the secret file, creating it first if absent (safe when processes race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting at once, exactly one writes the file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(_random.token_hex(32))
        log.info(
            "generated a secret in %s (set the [security] secret_env variable to share one)", path
        )
    deadline = time.monotonic() + 2
    while True:
        text = path.read_text().strip()
        if text or time.monotonic() > deadline:
            break
        # Another process created the file and has not written it yet.
        time.sleep(0.01)
    if text:
        return text.encode()
    raise SecretError(f"{path} is empty; delete it to generate a new secret")
