"""The embedded default's first start: ingest the real publications shipped with the project.

``[paths] snapshot`` names a folder holding real published files and a ``seed.toml`` manifest
(source, path, published date, oldest first). Seeding goes through the same ingest code as
polling, with trigger "seed", which is quiet: nothing it finds is emailed one alert at a time.
Files already ingested are recognised by their hash, so seeding again changes nothing.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from monitor.context import Context
from monitor.rules.run import evaluate_db
from monitor.sources import registry
from monitor.sources.files import ingest_paths
from monitor.sources.ingest import IngestReport
from monitor.sources.poll import RELEASE_TIME

log = logging.getLogger(__name__)
MANIFEST = "seed.toml"


@dataclass(frozen=True)
class SeedFile:
    source: str
    path: Path
    published: date


def manifest(folder: Path) -> list[SeedFile]:
    """The files a snapshot folder lists, checked to exist; errors name the manifest and entry."""
    path = folder / MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the snapshot folder has no {MANIFEST}") from None
    out = []
    for i, entry in enumerate(data.get("file", [])):
        where = f"{path}: file[{i}]"
        try:
            source, rel, published = entry["source"], entry["path"], entry["published"]
        except KeyError as e:
            raise ValueError(f"{where}: missing key {e.args[0]!r}") from None
        if source not in registry.NAMES:
            raise ValueError(f"{where}: unknown source {source!r}")
        if not isinstance(published, date):
            raise ValueError(f"{where}: published must be a date (YYYY-MM-DD)")
        f = folder / rel
        if not f.is_file():
            raise ValueError(f"{where}: {f} does not exist")
        out.append(SeedFile(source, f, published))
    return out


def seed_and_evaluate(ctx: Context) -> list[IngestReport]:
    """Seed the snapshot and, when it brought anything, evaluate the rules quietly: alerts
    found in history are recorded and shown, not emailed one by one."""
    reports = seed(ctx)
    new = [r.publication_id for r in reports if r.status == "ingested" and r.publication_id]
    if new:
        run = evaluate_db(ctx, publications=new)
        log.info("seed: evaluated the rules: %d alert events recorded quietly", run.events_written)
    return reports


def seed(ctx: Context) -> list[IngestReport]:
    """Ingest every snapshot file not yet ingested (oldest first, as the manifest lists them)."""
    folder = ctx.settings.paths.snapshot
    if folder is None:
        return []
    reports: list[IngestReport] = []
    for f in manifest(folder):
        published_at = datetime.combine(f.published, RELEASE_TIME)
        reports += ingest_paths(ctx, f.source, [f.path], published_at=published_at, trigger="seed")
    for r in reports:
        if r.status == "rejected":
            log.error("seed: %s was rejected: %s", r.file, r.error)
        elif r.status == "ingested":
            log.info("seed: ingested %s (%s)", r.file, ", ".join(r.periods[-3:]))
    return reports
