"""CQC ratings: poll the Syndication API's changes feed, back-fill, ingest files.

The recipe: changes feed -> fetch the changed bodies -> parse -> store, remembering the feed's
end timestamp in SourceState.cursor (``{"provider": ..., "location": ...}``).

Each poll asks each feed (providers first, so that a trust's new locations are known) for two
windows: the new one, from the cursor to now, whose ids are all fetched; and the overlap, the
``overlap_days`` before the cursor, re-read because CQC lists changes late. An id in the overlap
is fetched only when it was not already listed and fetched (CqcSubject.listed_at/fetched_at).
So a poll whose feed lists nothing new makes only the feed's page requests.

The first poll back-fills from the full provider listing (NHS trusts and their registered
locations), unless a bulk ratings file was ingested first: then the feed is read from the file's
date. Every body is its own transaction: a bad body, a 404 or a refused request is logged and
recorded, and the poll goes on. ``poll`` never raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from monitor.config import Settings
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import SourceState, utcnow
from monitor.sources.cqc.api import DEFAULT_BASE_URL, KINDS, ApiError, CqcApi
from monitor.sources.cqc.ingest import (
    SOURCE,
    CqcIngestReport,
    file_date,
    ingest_body,
    ingest_ods,
    midnight,
)
from monitor.sources.cqc.poll import Poller, PollResult
from monitor.sources.cqc.values import Scope

log = logging.getLogger(__name__)

DEFAULT_KEY_ENV = "CQC_SUBSCRIPTION_KEY"  # as config.toml names it


class NoApiKey(RuntimeError):
    """The environment variable that config names for the subscription key is unset."""


def scope_for(settings: Settings) -> Scope:
    """The monitor's CQC scope from ``[sources.cqc] regions``."""
    return Scope(frozenset(settings.source(SOURCE).regions))


def key_env(settings: Settings) -> str:
    """The environment variable holding the subscription key (``[sources.cqc] api_key_env``)."""
    return settings.source(SOURCE).api_key_env or DEFAULT_KEY_ENV


def make_api(
    settings: Settings,
    *,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> CqcApi:
    """A client configured from ``[sources.cqc]`` and ``[http]``; NoApiKey without a key."""
    src = settings.source(SOURCE)
    env = key_env(settings)
    key = settings.env(env)
    if not key:
        raise NoApiKey(f"no CQC subscription key: set the environment variable {env}")
    extra: dict[str, Any] = {}
    if clock is not None:
        extra["clock"] = clock
    if sleep is not None:
        extra["sleep"] = sleep
    return CqcApi(
        src.base_url or DEFAULT_BASE_URL,
        key,
        user_agent=settings.http.user_agent,
        timeout=settings.http.timeout_seconds,
        retries=settings.http.retries,
        requests_per_minute=src.requests_per_minute,
        **extra,
    )


def _cursor(state: SourceState | None) -> dict[str, datetime]:
    if state is None or not state.cursor:
        return {}
    raw = json.loads(state.cursor)
    return {k: datetime.fromisoformat(v) for k, v in raw.items() if k in KINDS}


def _state(session: Session) -> SourceState:
    return session.get(SourceState, SOURCE) or SourceState(source=SOURCE)


def _run(
    engine: Engine, settings: Settings, api: CqcApi | None, now: datetime | None,
    body: Callable[[Poller, SourceState], bool], *, trigger: str,
) -> PollResult:  # fmt: skip
    now = now or utcnow()
    own_api = api is None
    poller: Poller | None = None
    before = api.requests_made if api is not None else 0
    try:
        api = api or make_api(settings)
        with session_scope(engine) as session:
            state = _state(session)
        quiet = trigger != "poll" or state.first_complete_ingest_at is None
        poller = Poller(engine, api, scope_for(settings), now, trigger=trigger, quiet=quiet)
        ok = body(poller, state)
        result = poller.result
        result.status = "ok" if ok else "failed"
    except Exception as e:  # the poller never dies: the failure is logged and recorded
        log.exception("cqc: %s failed", trigger)
        result = poller.result if poller else PollResult()
        result.status, result.error = "failed", f"{type(e).__name__}: {e}"
    finally:
        if own_api and api is not None:
            api.close()
    result.requests = api.requests_made - before if api is not None else 0
    _record(engine, now, result)
    return result


def _record(engine: Engine, now: datetime, result: PollResult) -> None:
    try:
        with session_scope(engine, write=True) as session:
            state = _state(session)
            state.last_poll_at = now
            if result.last_publication_id is not None:
                state.last_publication_id = result.last_publication_id
            if result.status == "ok":
                state.last_success_at = now
                state.failing_since, state.consecutive_failures, state.last_error = None, 0, None
            else:
                state.failing_since = state.failing_since or now
                state.consecutive_failures += 1
                state.last_error = result.error
            session.add(state)
    except Exception:
        log.exception("cqc: could not record the poll's outcome")


def _save_cursor(
    engine: Engine, cursor: dict[str, datetime], *, complete: bool, now: datetime
) -> None:
    with session_scope(engine, write=True) as session:
        state = _state(session)
        state.cursor = json.dumps({k: v.isoformat() for k, v in cursor.items()})
        if complete and state.first_complete_ingest_at is None:
            state.first_complete_ingest_at = now
        session.add(state)


def poll(
    engine: Engine, settings: Settings, *, api: CqcApi | None = None, now: datetime | None = None
) -> PollResult:
    """Poll CQC once: the entry point of the scheduler and ``monitor poll cqc``.

    1. No cursor yet: back-fill from the full listing (see ``backfill``), then stop.
    2. For providers, then locations: read the changes feed's new and overlap windows.
    3. Fetch the bodies they call for; store each in its own transaction.
    4. Advance each feed's cursor to now when its feed pages were all read.
    Never raises; the outcome is in the result and in SourceState.
    """

    def body(p: Poller, state: SourceState) -> bool:
        cursor = _cursor(state)
        if not cursor:
            return _backfill(p, trigger_cursor=True)
        overlap = timedelta(days=settings.source(SOURCE).overlap_days)
        ok = True
        for kind in KINDS:
            since = cursor.get(kind) or min(cursor.values())
            if p.poll_feed(kind, since, overlap):
                cursor[kind] = p.now
            else:
                ok = False
        _save_cursor(engine, cursor, complete=False, now=p.now)
        return ok

    return _run(engine, settings, api, now, body, trigger="poll")


def _fetch_listed(p: Poller, kind: str, first: Iterable[str] = ()) -> bool:
    """Fetch ``first`` then every ``kind`` the listing gives (quietly); False, logged and
    noted in the result, if the listing failed."""
    try:
        ids = list(dict.fromkeys([*first, *p.listing(kind)]))
    except ApiError as e:
        log.error("cqc: the %s listing failed: %s", kind, e)
        p.result.error = f"{kind} listing: {e}"
        return False
    p.result.listed += len(ids)
    for sid in ids:
        p.fetch(kind, sid, listed=False)
    return True


def _backfill(p: Poller, *, trigger_cursor: bool) -> bool:
    if not _fetch_listed(p, "provider"):
        return False
    # Trusts' registered locations come from their provider bodies' locationIds.
    if not _fetch_listed(p, "location", first=sorted(p.known_locations())):
        return False
    if trigger_cursor:
        _save_cursor(p.engine, dict.fromkeys(KINDS, p.now), complete=True, now=p.now)
    return True


def backfill(
    engine: Engine, settings: Settings, *, api: CqcApi | None = None, now: datetime | None = None
) -> PollResult:
    """Fetch every in-scope provider and location from the full listing (quietly).

    Sets the feed cursor to now when nothing had set it, so that polls carry on from here.
    """

    def body(p: Poller, state: SourceState) -> bool:
        return _backfill(p, trigger_cursor=not _cursor(state))

    return _run(engine, settings, api, now, body, trigger="backfill")


def ingest_files(
    engine: Engine,
    settings: Settings,
    files: Iterable[Path | str],
    *,
    published: date | None = None,
    trigger: str = "ingest",
    now: datetime | None = None,
) -> list[CqcIngestReport]:
    """Ingest bulk ratings .ods files or saved API bodies (.json), each in one transaction.

    A bulk file ingested before any poll sets the feed cursor to the file's date, so that the
    first poll reads the changes since the file rather than back-filling from the listing.
    ``published`` (a date) overrides the date in a bulk file's name.
    """
    now = now or utcnow()
    scope = scope_for(settings)
    reports: list[CqcIngestReport] = []
    for f in files:
        path = Path(f)
        try:
            if path.suffix.lower() == ".ods":
                day = published.date() if isinstance(published, datetime) else published
                when = day or file_date(path.name)
                rep = ingest_ods(
                    engine, path, scope=scope, published=when, trigger=trigger, now=now
                )
                if rep.status == "ingested" and when is not None:
                    _cursor_from_file(engine, when, now)
            else:
                rep = ingest_body(
                    engine, path.read_bytes(), url=path.resolve().as_uri(), filename=path.name,
                    scope=scope, trigger=trigger, now=now,
                )  # fmt: skip
        except OSError as e:
            rep = CqcIngestReport(file=str(path), status="rejected", error=f"cannot read: {e}")
        if rep.status == "rejected":
            log.warning("cqc: %s rejected: %s", path, rep.error)
        reports.append(rep)
    return reports


def _cursor_from_file(engine: Engine, when: date, now: datetime) -> None:
    with session_scope(engine) as session:
        state = _state(session)
    if not _cursor(state):
        _save_cursor(engine, dict.fromkeys(KINDS, midnight(when)), complete=True, now=now)


def ingest_paths(
    ctx: Context,
    paths: Sequence[Path],
    *,
    published_at: datetime | None = None,
    trigger: str = "ingest",
) -> list[CqcIngestReport]:
    """``monitor ingest cqc FILE...``: ingest_files with the command's context."""
    day = published_at.date() if published_at is not None else None
    return ingest_files(ctx.engine, ctx.settings, paths, published=day, trigger=trigger)
