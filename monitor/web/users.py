"""Named operators who may acknowledge and silence alerts and manage subscriptions.

Operators come from two places: the environment variable that ``[web] admin_users_env`` names
(``alice:<hash>,bob:<hash>``, hashes from ``monitor users add NAME --print``), and the ``user``
table (``monitor users add NAME``). A name in the environment wins over the same name in the
table. Passwords are hashed with scrypt (werkzeug.security).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from werkzeug.security import check_password_hash, generate_password_hash

from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import User, WebSession

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 12


class UserError(ValueError):
    """A user that cannot be added or removed; the message says why."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    return generate_password_hash(password, method="scrypt")


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise UserError(
            f"{username!r} is not a usable name: use lower-case letters, digits, '.', '_' or '-'"
        )
    return name


def parse_env(value: str, variable: str = "the variable") -> dict[str, str]:
    """``alice:<hash>,bob:<hash>`` (commas or newlines between entries) -> {name: hash}."""
    users: dict[str, str] = {}
    for n, entry in enumerate(re.split(r"[,\n]", value), 1):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, pw_hash = entry.partition(":")
        if not sep or not pw_hash or not USERNAME.match(name):
            raise UserError(
                f"{variable}: entry {n} is not name:hash (make one with "
                "`monitor users add NAME --print`)"
            )
        users[name] = pw_hash
    return users


def env_users(settings: Settings) -> dict[str, str]:
    name = settings.web.admin_users_env
    value = settings.env(name)
    return parse_env(value, name or "") if value else {}


def add(engine: Engine, username: str, password: str) -> str:
    """Store a new operator; returns the (normalised) name."""
    name = check_username(username)
    pw_hash = hash_password(password)
    with session_scope(engine, write=True) as s:
        if s.exec(select(User).where(User.username == name)).first() is not None:
            raise UserError(f"there is already an operator called {name!r}")
        s.add(User(username=name, password_hash=pw_hash))
    return name


def remove(engine: Engine, username: str) -> bool:
    """Delete an operator from the table; False when there was none of that name."""
    with session_scope(engine, write=True) as s:
        user = s.exec(select(User).where(User.username == username.strip().lower())).first()
        if user is None:
            return False
        s.delete(user)
        # Their sessions end with them.
        s.execute(delete(WebSession).where(col(WebSession.username) == user.username))
    return True


def listing(engine: Engine, settings: Settings) -> list[dict[str, Any]]:
    """Every operator, with where it comes from (``environment`` or ``database``)."""
    env = env_users(settings)
    rows: list[dict[str, Any]] = [
        {"username": n, "source": "environment", "created_at": None, "disabled": False}
        for n in sorted(env)
    ]
    with session_scope(engine) as s:
        for u in s.exec(select(User).order_by(User.username)):
            rows.append(
                {
                    "username": u.username,
                    "source": "database" if u.username not in env else "database (shadowed)",
                    "created_at": u.created_at.isoformat(),
                    "disabled": u.disabled,
                }
            )
    return rows


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash("not a password of anyone", method="scrypt")


def authenticate(engine: Engine, settings: Settings, username: str, password: str) -> str | None:
    """The operator's name when the password is right; None otherwise.

    An unknown name still costs one hash check, so that timing does not reveal which names
    exist.
    """
    name = username.strip().lower()
    pw_hash = env_users(settings).get(name)
    if pw_hash is None and USERNAME.match(name):
        with session_scope(engine) as s:
            user = s.exec(select(User).where(User.username == name)).first()
            if user is not None and not user.disabled:
                pw_hash = user.password_hash
    if pw_hash is None:
        check_password_hash(_dummy_hash(), password)
        return None
    try:
        return name if check_password_hash(pw_hash, password) else None
    except ValueError:  # a malformed hash in the environment variable
        return None
