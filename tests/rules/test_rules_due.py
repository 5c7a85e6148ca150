"""Due dates for the late-publisher rules come from the sources' schedules in config.toml."""

from __future__ import annotations

from datetime import date, datetime

from monitor.config import Source
from monitor.rules.due import calendar_for

AE = Source(schedule={"day": "2nd thu", "hour": 9, "minute": 30}, grace_days=3)


def test_the_next_due_date_follows_the_latest_publication() -> None:
    cal = calendar_for("ae", AE, date(2025, 8, 14), date(2025, 7, 1))
    assert (cal.expected_next, cal.grace_days, cal.latest_period) == (
        date(2025, 9, 11),
        3,
        date(2025, 7, 1),
    )
    # Published in the morning of the due day: the next one is a month later, not the same day.
    assert calendar_for("ae", AE, datetime(2025, 9, 11, 9, 30)).expected_next == date(2025, 10, 9)


def test_feeds_and_sources_that_never_published_have_no_due_date() -> None:
    assert calendar_for("cqc", Source(every_minutes=30), date(2025, 9, 1)).expected_next is None
    assert calendar_for("ae", AE, None).expected_next is None
