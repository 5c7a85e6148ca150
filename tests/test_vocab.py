"""The one vocabulary (monitor/vocab.py) and the one builder of status-page links."""

from __future__ import annotations

import json

import pytest

from monitor import config
from monitor.urls import Urls
from monitor.vocab import (
    ENDED,
    OPEN,
    SEVERITIES,
    SEVERITIES_WORST_FIRST,
    STATE_FILTERS,
    AlertState,
    Severity,
)


def test_members_are_the_strings_stored_and_printed() -> None:
    assert AlertState.FIRING == "firing" and f"{AlertState.FIRING}" == "firing"
    assert json.dumps({"state": AlertState.WITHDRAWN}) == '{"state": "withdrawn"}'
    assert "critical" in SEVERITIES and "urgent" not in SEVERITIES


def test_severities_are_ordered_info_to_critical() -> None:
    assert [str(s) for s in SEVERITIES] == ["info", "low", "medium", "high", "critical"]
    assert tuple(reversed(SEVERITIES)) == SEVERITIES_WORST_FIRST
    assert Severity.INFO < Severity.LOW < Severity.MEDIUM < Severity.HIGH < Severity.CRITICAL
    assert Severity.HIGH >= Severity.HIGH and not Severity.HIGH > Severity.CRITICAL
    # Ordered by rank, not alphabetically ("critical" < "high" as strings).
    assert max([Severity.HIGH, Severity.CRITICAL, Severity.LOW]) is Severity.CRITICAL
    assert sorted([Severity.HIGH, Severity.INFO, Severity.MEDIUM]) == ["info", "medium", "high"]
    assert config.SEVERITIES == SEVERITIES  # what subscriptions and config.toml accept


@pytest.mark.parametrize(
    ("text", "rank"), [("info", 0), ("medium", 2), ("critical", 4), ("urgent", -1), (None, -1)]
)
def test_the_rank_of_a_stored_severity(text: str | None, rank: int) -> None:
    assert Severity.rank_of(text) == rank


def test_parsing_a_severity_names_the_known_ones() -> None:
    assert Severity.parse(" High ") is Severity.HIGH
    with pytest.raises(ValueError, match="unknown severity 'urgent'; use info, low, medium, high"):
        Severity.parse("urgent")


def test_open_and_ended_states_and_the_state_filters() -> None:
    assert set(OPEN) | set(ENDED) == set(AlertState) and not set(OPEN) & set(ENDED)
    assert STATE_FILTERS == {"open": OPEN, "resolved": ENDED, "all": OPEN + ENDED}


def test_status_page_links() -> None:
    urls = Urls("https://alerts.example.nhs.uk/monitor")
    assert urls.home() == "https://alerts.example.nhs.uk/monitor/"
    assert urls.org("RCX") == "https://alerts.example.nhs.uk/monitor/orgs/RCX"
    assert urls.alert(42) == "https://alerts.example.nhs.uk/monitor/alerts/42"
    assert urls.sources() == "https://alerts.example.nhs.uk/monitor/sources"
    assert urls.unsubscribe("a~b.c-_") == (
        "https://alerts.example.nhs.uk/monitor/unsubscribe/a~b.c-_"
    )
    assert urls.confirm("x.y") == "https://alerts.example.nhs.uk/monitor/confirm/x.y"
    assert urls.region_feed("Y61").endswith("/monitor/feeds/regions/Y61.atom")
    assert urls.org_feed("RCX").endswith("/monitor/feeds/orgs/RCX.atom")
    assert urls.api() == "https://alerts.example.nhs.uk/monitor/api/v1"
    # A path segment cannot escape its place.
    assert urls.org("../admin") == "https://alerts.example.nhs.uk/monitor/orgs/..%2Fadmin"
