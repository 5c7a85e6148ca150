"""The registry of publishers is the one list of sources, and every entry in it is complete."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor import config, metrics
from monitor.cli import app
from monitor.service.schedule import job_specs
from monitor.sources import registry
from monitor.sources.cqc.ingest import SOURCE as CQC_SOURCE
from tests.conftest import ROOT

SHIPPED = tomllib.loads((ROOT / "config.toml").read_text())


@pytest.mark.parametrize("pub", registry.PUBLISHERS, ids=registry.NAMES)
def test_every_entry_is_complete(pub: registry.Publisher) -> None:
    assert pub.metrics, f"{pub.name} carries no metric of the catalogue"
    if isinstance(pub, registry.Statistics):
        module = importlib.import_module(f"monitor.sources.{pub.name}")
        assert pub.name == module.SOURCE
        parts = [pub.parse, pub.discover or pub.download]
        parts += [pub.yearly_pages] if pub.yearly_pages else []
        # Each function is the publisher's own, from its module.
        assert {f.__module__ for f in parts} == {module.__name__}
    else:
        assert pub.name == CQC_SOURCE
    # config.toml polls it: on a calendar, or (the CQC feed) on an interval.
    shipped = SHIPPED["sources"][pub.name]
    assert ("schedule" in shipped) != ("every_minutes" in shipped)


def test_a_publisher_either_discovers_its_files_or_downloads_one() -> None:
    with pytest.raises(ValueError, match="exactly one of discover and download"):
        registry.Statistics(name="x", title="X", short="X", parse=registry.statistics("ae").parse)


def test_the_names_are_unique_and_the_publishers_known() -> None:
    assert registry.NAMES == ("ae", "cancer", "rtt", "ambulance", "oversight", "dspt", "cqc")
    assert len(set(registry.NAMES)) == len(registry.PUBLISHERS)
    assert registry.STATISTICS_NAMES == ("ae", "cancer", "rtt", "ambulance", "oversight", "dspt")
    pages = [p for p in registry.PUBLISHERS if isinstance(p, registry.Statistics)]
    assert [p.name for p in pages if p.yearly_pages is None] == ["oversight", "dspt"]
    assert [p.name for p in pages if p.download is not None] == ["dspt"]
    assert [p.name for p in pages if p.streams] == ["rtt"]  # the Full CSV zip
    with pytest.raises(ValueError, match="unknown source 'nhs111'; use one of ae, cancer"):
        registry.get("nhs111")
    with pytest.raises(ValueError, match="cqc is not published on statistics pages"):
        registry.statistics("cqc")


def test_each_metric_in_the_catalogue_names_a_registered_publisher() -> None:
    for m in metrics.METRICS.values():
        assert m.publisher in registry.NAMES, f"{m.id}: unknown publisher {m.publisher!r}"
    carried = [mid for pub in registry.PUBLISHERS for mid in pub.metrics]
    assert sorted(carried) == sorted(metrics.METRICS)  # each metric has exactly one publisher
    assert registry.get("cqc").metrics == ("cqc_overall",)


def test_config_toml_takes_its_source_names_from_the_registry(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text("[sources.nhs111]\nenabled = true\n")
    with pytest.raises(config.ConfigError) as e:
        config.load(p)
    assert f"unknown source(s) nhs111; use {', '.join(registry.NAMES)}" in str(e.value)
    settings = config.load(ROOT / "config.toml")
    assert settings.enabled_sources() == list(registry.NAMES)
    polls = [s.source for s in job_specs(settings) if s.kind == "poll"]
    assert polls == list(registry.NAMES)  # the scheduler, in the registry's order


def test_the_commands_offer_the_registrys_sources(tmp_path: Path) -> None:
    runner = CliRunner()
    ingest = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert " | ".join(registry.NAMES) in ingest.stdout
    backfill = runner.invoke(app, ["backfill", "--help"], env={"COLUMNS": "200"})
    assert " | ".join(registry.STATISTICS_NAMES) in backfill.stdout
    refused = runner.invoke(app, ["--config", str(tmp_path / "none.toml"), "backfill", "cqc"])
    assert refused.exit_code == 2 and "cqc is not published on statistics pages" in refused.stderr
