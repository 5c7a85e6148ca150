"""Follow-up polls after a scheduled poll finds nothing new, driven by an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.config import Source
from monitor.service import followup

LONDON = ZoneInfo("Europe/London")
AE = Source(schedule={"day": "2nd thu", "hour": 9, "minute": 30})  # every 15 min for 6 h


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


def follow_ups(
    source: Source,
    scheduled: datetime,
    *,
    new_at: datetime | None = None,
    failing: bool = False,
) -> list[datetime]:
    """Every poll time after a scheduled poll, moving the clock to each follow-up in turn."""
    now, until, failures, polls = scheduled, None, 0, []
    while True:
        failures = failures + 1 if failing else 0
        plan = followup.after_poll(
            source,
            now=now,
            expected_at=scheduled,
            until=until,
            found_new=new_at is not None and now >= new_at,
            failed=failing,
            failures=failures,
        )
        if plan.next_poll_at is None or len(polls) > 100:
            return polls
        assert plan.next_poll_at > now
        now, until = plan.next_poll_at, plan.until
        polls.append(now)


def test_nothing_new_polls_every_15_minutes_for_6_hours_then_waits_for_the_calendar() -> None:
    polls = follow_ups(AE, london(2026, 4, 9, 9, 30))
    assert polls[0] == london(2026, 4, 9, 9, 45)
    assert polls[-1] == london(2026, 4, 9, 15, 30)
    assert len(polls) == 24
    assert {b - a for a, b in zip(polls, polls[1:], strict=False)} == {timedelta(minutes=15)}


def test_the_follow_ups_stop_once_the_new_file_appears() -> None:
    polls = follow_ups(AE, london(2026, 4, 9, 9, 30), new_at=london(2026, 4, 9, 10, 10))
    assert [t.astimezone(LONDON).strftime("%H:%M") for t in polls] == ["09:45", "10:00", "10:15"]


def test_an_unreachable_publisher_is_retried_with_backoff_until_it_answers() -> None:
    polls = follow_ups(AE, london(2026, 4, 9, 9, 30), failing=True)
    gaps = [int((b - a) / timedelta(minutes=1)) for a, b in zip(polls, polls[1:], strict=False)]
    assert gaps[:4] == [30, 60, 60, 60]  # 15, then doubling up to four times the interval
    # Retries go on beyond the 6-hour window: a failing source is not left for a month.
    assert polls[-1] > london(2026, 4, 9, 15, 30)


def test_no_window_means_no_follow_ups() -> None:
    plan = followup.after_poll(
        Source(schedule={"hour": 9}, retry_for_hours=0),
        now=london(2026, 4, 9, 9),
        expected_at=london(2026, 4, 9, 9),
        until=None,
        found_new=False,
        failed=False,
    )
    assert plan == followup.Plan(None, None, "")


def test_a_scheduled_poll_long_past_opens_no_window() -> None:
    # Catching up days later: the window for that publication closed long ago.
    plan = followup.after_poll(
        AE,
        now=london(2026, 4, 12, 8),
        expected_at=london(2026, 4, 9, 9, 30),
        until=None,
        found_new=False,
        failed=False,
    )
    assert plan.next_poll_at is None and plan.until is None


@pytest.mark.parametrize(
    "scheduled",
    [
        # A daily-window source (hourly follow-ups for 24 h) straddling each clock change.
        london(2026, 3, 28, 22),  # 01:00 GMT -> 02:00 BST on Sunday 29 March
        london(2026, 10, 24, 22),  # 02:00 BST -> 01:00 GMT on Sunday 25 October
    ],
)
def test_follow_ups_are_instants_so_a_clock_change_neither_repeats_nor_skips_one(
    scheduled: datetime,
) -> None:
    source = Source(schedule={"hour": 22}, retry_every_minutes=60, retry_for_hours=24)
    polls = follow_ups(source, scheduled)
    assert len(polls) == 24
    utc = [t.astimezone(UTC) for t in polls]
    assert {b - a for a, b in zip(utc, utc[1:], strict=False)} == {timedelta(hours=1)}
    assert utc[-1] - scheduled.astimezone(UTC) == timedelta(hours=24)


def test_at_start_a_stored_follow_up_resumes_and_a_missed_scheduled_poll_is_caught_up() -> None:
    now = london(2026, 4, 9, 10, 7)
    scheduled = london(2026, 4, 9, 9, 30)

    def at_start(follow_up_at: datetime | None, last_poll_at: datetime | None) -> datetime | None:
        return followup.on_start(
            now=now, expected_at=scheduled, follow_up_at=follow_up_at, last_poll_at=last_poll_at
        )[0]

    # A follow-up still to come resumes at its time; one whose time passed runs now.
    assert at_start(london(2026, 4, 9, 10, 15), scheduled) == london(2026, 4, 9, 10, 15)
    assert at_start(london(2026, 4, 9, 9, 45), scheduled) == now
    # The service was down at 09:30 (last poll in March): poll now.
    assert at_start(None, london(2026, 3, 20)) == now
    assert at_start(None, None) == now
    # Polled since the scheduled time and no follow-up pending: wait for the calendar.
    assert at_start(None, london(2026, 4, 9, 9, 31)) is None


def test_a_poll_that_stored_something_but_rejected_a_file_is_tried_again() -> None:
    # The publisher fixes a broken upload later in the day: keep polling until a clean poll.
    plan = followup.after_poll(
        AE,
        now=london(2026, 4, 9, 9, 30),
        expected_at=london(2026, 4, 9, 9, 30),
        until=None,
        found_new=True,
        failed=True,
        failures=1,
    )
    assert plan.next_poll_at == london(2026, 4, 9, 9, 45)
