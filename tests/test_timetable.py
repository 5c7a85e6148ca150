"""Publication calendars in Europe/London across the clock changes, and late sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Publication, SourceState
from monitor.service.schedule import job_specs
from monitor.sources import timetable
from tests.conftest import ROOT

LONDON = ZoneInfo("Europe/London")
AE = {"day": "2nd thu", "hour": 9, "minute": 30}


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


def fire_times(trigger: timetable.CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    t = timetable.next_fire_time(trigger, start)
    while t is not None and t < end:
        out.append(t)
        t = trigger.get_next_fire_time(t, t)
    return out


@pytest.mark.parametrize(
    ("after", "fires_local", "fires_utc"),
    [
        # The March change (Sunday 29th): the 2nd Thursday of April is in summer time.
        (london(2026, 3, 1), "2026-03-12 09:30 GMT", "2026-03-12 09:30"),
        (london(2026, 3, 13), "2026-04-09 09:30 BST", "2026-04-09 08:30"),
        # The October change (Sunday 25th): back to GMT for November.
        (london(2026, 10, 1), "2026-10-08 09:30 BST", "2026-10-08 08:30"),
        (london(2026, 10, 9), "2026-11-12 09:30 GMT", "2026-11-12 09:30"),
    ],
)
def test_ae_is_polled_at_0930_london_time_whatever_the_season(
    after: datetime, fires_local: str, fires_utc: str
) -> None:
    t = timetable.next_fire_time(timetable.cron_trigger(AE), after)
    assert t is not None
    assert t.strftime("%Y-%m-%d %H:%M %Z") == fires_local
    assert t.astimezone(UTC).strftime("%Y-%m-%d %H:%M") == fires_utc


def test_the_weekly_digest_stays_at_0700_on_mondays_across_both_clock_changes() -> None:
    trigger = timetable.digest_trigger(config.Digest())
    spring = fire_times(trigger, london(2026, 3, 22), london(2026, 4, 7))
    autumn = fire_times(trigger, london(2026, 10, 18), london(2026, 11, 3))
    assert [t.astimezone(UTC).strftime("%d %b %H:%M") for t in spring] == [
        "23 Mar 07:00",
        "30 Mar 06:00",
        "06 Apr 06:00",
    ]
    assert [t.astimezone(UTC).strftime("%d %b %H:%M") for t in autumn] == [
        "19 Oct 06:00",
        "26 Oct 07:00",
        "02 Nov 07:00",
    ]
    assert {t.strftime("%a %H:%M") for t in spring + autumn} == {"Mon 07:00"}


def test_no_calendar_job_of_the_default_config_fires_between_0100_and_0259_or_twice() -> None:
    settings = config.load(ROOT / "config.toml")
    crons = [s for s in job_specs(settings) if s.calendar]
    assert {s.id for s in crons} >= {"poll:ae", "poll:oversight", "digest", "daily"}
    for spec in crons:
        assert isinstance(spec.trigger, timetable.CronTrigger)
        times = fire_times(spec.trigger, london(2026, 1, 1), london(2028, 1, 1))
        local = [t.astimezone(LONDON) for t in times]
        assert times, spec.id
        assert not [t for t in local if t.hour in (1, 2)], spec.id
        wall = [t.replace(tzinfo=None) for t in local]
        assert len(wall) == len(set(wall)), f"{spec.id} fires twice at the same local time"


def test_the_daily_check_fires_once_a_day_through_both_clock_change_weekends() -> None:
    spec = next(s for s in job_specs(config.Settings()) if s.id == "daily")
    assert isinstance(spec.trigger, timetable.CronTrigger)
    for start in (london(2026, 3, 27), london(2026, 10, 23)):
        times = fire_times(spec.trigger, start, start + timedelta(days=4))
        assert [t.strftime("%d %H:%M") for t in times] == [
            f"{start.day + i:02d} 06:00" for i in range(4)
        ]


@pytest.mark.parametrize(
    ("schedule", "refused"),
    [
        ({"hour": "0-23", "minute": 0}, True),
        ({"minute": 30}, True),  # every hour, 01:30 and 02:30 included
        ({"hour": "1-3"}, True),
        ({"day": "2nd thu"}, False),  # midnight
        ({"hour": "*/6"}, False),  # 00, 06, 12, 18
        (AE, False),
    ],
)
def test_a_calendar_that_can_fire_between_0100_and_0259_stops_start_up(
    schedule: dict[str, int | str], refused: bool
) -> None:
    settings = config.Settings(sources={"ae": config.Source(schedule=schedule)})
    if refused:
        with pytest.raises(config.ConfigError, match=r"\[sources.ae\] schedule: can fire at"):
            job_specs(settings)
    else:
        job_specs(settings)


def test_a_digest_at_0130_stops_start_up() -> None:
    settings = config.Settings(digest=config.Digest(time="01:30:00"))  # type: ignore[arg-type]
    with pytest.raises(config.ConfigError, match=r"\[digest\] time"):
        job_specs(settings)


def test_the_previous_fire_time_is_the_last_scheduled_publication() -> None:
    t = timetable.cron_trigger(AE)
    assert timetable.previous_fire_time(t, london(2026, 4, 9, 9, 29)) == london(2026, 3, 12, 9, 30)
    assert timetable.previous_fire_time(t, london(2026, 4, 9, 9, 30)) == london(2026, 4, 9, 9, 30)
    quarterly = timetable.cron_trigger({"month": "2,5,8,11", **AE})
    assert timetable.previous_fire_time(quarterly, london(2026, 4, 1)) == london(2026, 2, 12, 9, 30)


AE_SOURCE = config.Source(schedule=AE, grace_days=3)
APRIL, MAY = london(2026, 4, 9, 9, 30), london(2026, 5, 14, 9, 30)


@pytest.mark.parametrize(
    ("now", "last_published", "awaited", "late"),
    [
        # The April publication was due Thu 9 April 09:30; three days' grace end Sun 12th.
        (london(2026, 4, 10, 12), london(2026, 3, 12, 9, 30), APRIL, False),
        (london(2026, 4, 12, 9, 29), london(2026, 3, 12, 9, 30), APRIL, False),
        (london(2026, 4, 12, 9, 31), london(2026, 3, 12, 9, 30), APRIL, True),
        (london(2026, 4, 20), london(2026, 4, 9, 9, 30), MAY, False),
        (london(2026, 4, 20), london(2026, 4, 8, 9, 30), MAY, False),  # a day early still counts
        # Never published: nothing to be late against (a new source before its first poll).
        (london(2026, 4, 20), None, None, False),
    ],
)
def test_a_source_is_late_when_its_expected_publication_and_grace_pass_unanswered(
    now: datetime, last_published: datetime | None, awaited: datetime | None, late: bool
) -> None:
    exp = timetable.expectation("ae", AE_SOURCE, now, last_published)
    assert exp.expected_at == APRIL
    assert exp.next_expected_at == MAY
    assert exp.awaited_at == awaited
    assert exp.due_by == (awaited + timedelta(days=3) if awaited else None)
    assert exp.late is late
    assert exp.late_since == (exp.due_by if late else None)


def test_a_missed_publication_stays_awaited_so_one_late_publication_is_one_episode() -> None:
    march = london(2026, 3, 12, 9, 30)
    # In May's grace days the April publication is still missing: late since 12 April.
    exp = timetable.expectation("ae", AE_SOURCE, london(2026, 5, 15), march)
    assert (exp.expected_at, exp.awaited_at) == (MAY, APRIL)
    assert exp.late and exp.late_since == london(2026, 4, 12, 9, 30) and exp.days_late == 32


def test_an_interval_source_is_late_when_no_check_succeeds_for_its_grace_days() -> None:
    cqc = config.Source(every_minutes=30, grace_days=0)  # at least a day, whatever the setting
    checked = london(2026, 4, 19, 12)
    assert timetable.expected_publication(config.Settings(), "cqc", london(2026, 4, 20)) is None

    def at(hour: int, last_success: datetime | None) -> timetable.Expectation:
        return timetable.expectation(
            "cqc", cqc, london(2026, 4, 20, hour), None, last_success_at=last_success
        )

    fresh, stale, never = at(11, checked), at(13, checked), at(13, None)
    assert (fresh.late, stale.late, never.late) == (False, True, False)
    assert stale.late_since == london(2026, 4, 20, 12) and stale.expected_at is None


def test_a_disabled_source_is_never_late() -> None:
    off = config.Source(schedule=AE, enabled=False)
    assert not timetable.expectation("ae", off, london(2026, 9, 1), london(2026, 3, 12)).late


def _publication(source: str, published: datetime) -> Publication:
    return Publication(
        source=source,
        url=f"https://example.org/{source}-{published:%Y%m%d}.csv",
        filename=f"{source}.csv",
        sha256=f"{source}{published:%Y%m%d}".ljust(64, "0"),
        published_at=published,
    )


def test_the_late_check_records_late_sources_and_clears_them_when_data_lands(
    engine: Engine, tmp_path: Path
) -> None:
    p = tmp_path / "config.toml"
    p.write_text(
        "[sources.ae]\nschedule = { day = '2nd thu', hour = 9, minute = 30 }\n"
        "[sources.cqc]\nevery_minutes = 30\n"
    )
    ctx = Context(config.load(p), engine)
    with session_scope(engine, write=True) as s:
        s.add(_publication("ae", london(2026, 3, 12, 9, 30)))
    assert timetable.refresh_lateness(ctx, london(2026, 4, 13)) == {"sources": 2, "late": 1}
    with session_scope(engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None
        assert state.expected_at == london(2026, 4, 9, 9, 30)
        assert state.late_since == london(2026, 4, 12, 9, 30)
        cqc = s.get(SourceState, "cqc")  # never checked: not late
        assert cqc is not None and cqc.late_since is None
    # Still late a month later: late_since does not move.
    timetable.refresh_lateness(ctx, london(2026, 5, 15))
    with session_scope(engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None and state.late_since == london(2026, 4, 12, 9, 30)
        assert state.expected_at == london(2026, 5, 14, 9, 30)
    with session_scope(engine, write=True) as s:
        s.add(_publication("ae", london(2026, 5, 15, 9, 30)))
    assert timetable.refresh_lateness(ctx, london(2026, 5, 16)) == {"sources": 2, "late": 0}
    with session_scope(engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None and state.late_since is None
