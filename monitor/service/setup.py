"""Bringing an installation up to date: what `monitor init` does, and `monitor run` before its
first job.
"""

from __future__ import annotations

from monitor import config, db, mergers, orgs
from monitor.context import Context
from monitor.models import Meta, utcnow
from monitor.notify import subscriptions
from monitor.rules.run import today_in_london
from monitor.secret import secret_for
from monitor.sources.seed import seed_and_evaluate


def init(ctx: Context) -> dict[str, object]:
    """Create or upgrade the schema, load the reference organisations and add the
    ``[[subscribers]]`` seeds of config.toml (idempotent)."""
    db.private_dir(ctx.var)  # owner-only (0700), whatever the umask
    # Made now, on the first run, so every process that signs links later finds the same one.
    secret_for(ctx.settings)
    before, after = db.upgrade(ctx.engine)
    with db.session_scope(ctx.engine, write=True) as s:
        counts = orgs.load_reference(s)
        if counts["added"] or counts["updated"]:
            meta = s.get(Meta, "reference_loaded_at") or Meta(key="reference_loaded_at", value="")
            meta.value = utcnow().isoformat()
            meta.updated_at = utcnow()
            s.add(meta)
        try:
            seeded = subscriptions.seed(s, ctx.settings)
        except subscriptions.InvalidSubscription as e:
            raise config.ConfigError(f"{ctx.settings.config_path}: {e}") from None
        merged = mergers.apply(s, ctx.settings, today=today_in_london())
    return {
        "database": ctx.engine.url.render_as_string(hide_password=True),
        "schema_before": before,
        "schema": after,
        "organisations": counts,
        "subscribers": seeded,
        "mergers": merged.as_json(),
    }


def prepare(ctx: Context) -> None:
    """What the leader does before its first job: bring the schema up, seed the snapshot and
    evaluate what it brought (quietly)."""
    init(ctx)
    seed_and_evaluate(ctx)
