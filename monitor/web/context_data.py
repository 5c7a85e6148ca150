"""Where the NHS and each trust stand on the context rules, for the trust pages and the league.

Context rules (``role = "context"``) describe standards most trusts miss: they open no alert,
but a reader of a trust's page should still see which of them the trust misses and how
common that is. The picture (monitor/rules/standing.py) is worked out once per data version
and rules folder in each process, not once per page.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy.engine import Engine

from monitor.db import session_scope
from monitor.rules.load import load_rules
from monitor.rules.run import today_in_london
from monitor.rules.standing import Picture, picture
from monitor.web.rulebook import fingerprint

_lock = threading.Lock()
_latest: dict[str, tuple[tuple[object, ...], Picture]] = {}


def context_picture(engine: Engine, rules_dir: Path | None, version: str) -> Picture:
    """The context rules' picture for the data at ``version`` (worked out on first use)."""
    if rules_dir is None:
        return Picture(standings=[], missed={})
    today = today_in_london()
    key = (id(engine), version, str(rules_dir), fingerprint(Path(rules_dir)), today)
    with _lock:  # one worker works it out; the others wait for it rather than repeat it
        held = _latest.get("picture")
        if held is not None and held[0] == key:
            return held[1]
        pack = load_rules(rules_dir, today=today)
        with session_scope(engine) as s:
            found = picture(s, pack.rules, as_of=today)
        _latest["picture"] = (key, found)
        return found
