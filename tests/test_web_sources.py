"""When a source counts as late or failing, and when it is next polled: a readable table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.config import Source
from monitor.models import SourceState
from monitor.sources.timetable import expectation
from monitor.web.schedule_words import describe_schedule
from monitor.web.sources_status import PublicationInfo, age, assess, notice


def previous_expected(cfg: Source, now: datetime) -> datetime | None:
    return expectation("ae", cfg, now, None).expected_at


AE = Source(schedule={"day": "2nd thu", "hour": 9, "minute": 30}, grace_days=3)
CQC = Source(every_minutes=30, grace_days=1)
# 13 November 2025 is the second Thursday: A&E's October figures are due at 09:30 London.
DUE = datetime(2025, 11, 13, 9, 30, tzinfo=UTC)


def pub(published: datetime) -> PublicationInfo:
    return PublicationInfo(
        id=1,
        title="Monthly A&E",
        url="https://example.nhs.uk/a.csv",
        published_at=published,
        fetched_at=published,
    )


def polled(at: datetime, *, failing_since: datetime | None = None, n: int = 0) -> SourceState:
    return SourceState(
        source="ae",
        last_poll_at=at,
        last_success_at=None if failing_since else at,
        failing_since=failing_since,
        consecutive_failures=n,
        last_error="HTTP 503 from the statistics page" if failing_since else None,
    )


def days(n: float) -> timedelta:
    return timedelta(days=n)


OLD = pub(DUE - days(30))  # last month's publication


@pytest.mark.parametrize(
    ("case", "now", "state", "publication", "level"),
    [
        ("published on time", DUE + days(5), polled(DUE), pub(DUE), "ok"),
        ("published a day early", DUE + days(5), polled(DUE), pub(DUE - days(1)), "ok"),
        ("not yet past the grace days", DUE + days(2), polled(DUE), OLD, "ok"),
        ("past the grace days, nothing new", DUE + days(4), polled(DUE), OLD, "late"),
        ("never checked", DUE + days(4), None, None, "waiting"),
        (
            "failing wins over late",
            DUE + days(4),
            polled(DUE, failing_since=DUE, n=5),
            OLD,
            "failing",
        ),
    ],
)
def test_scheduled_source(
    case: str,
    now: datetime,
    state: SourceState | None,
    publication: PublicationInfo | None,
    level: str,
) -> None:
    assert assess("ae", AE, state, publication, now).level == level, case


def test_the_previous_expected_date_is_the_last_scheduled_time_in_london() -> None:
    assert previous_expected(AE, DUE + timedelta(days=20)) == DUE
    # In summer 09:30 London is 08:30 UTC.
    assert previous_expected(AE, datetime(2025, 8, 20, tzinfo=UTC)) == datetime(
        2025, 8, 14, 8, 30, tzinfo=UTC
    )
    quarterly = Source(schedule={"month": "2,5,8,11", "day": "2nd thu", "hour": 9, "minute": 30})
    assert previous_expected(quarterly, datetime(2026, 1, 20, tzinfo=UTC)) == DUE


def test_next_poll_retries_after_an_expected_date_that_brought_nothing() -> None:
    now = DUE + timedelta(hours=1)
    state = polled(DUE + timedelta(minutes=45))
    status = assess("ae", AE, state, pub(DUE - timedelta(days=30)), now)
    assert status.next_poll_at == DUE + timedelta(minutes=60)  # retry every 15 minutes
    later = assess("ae", AE, state, pub(DUE), now)
    assert later.next_poll_at == datetime(2025, 12, 11, 9, 30, tzinfo=UTC)  # next month


def test_interval_source_is_late_when_no_check_succeeds_for_its_grace_days() -> None:
    now = DUE
    ok = assess("cqc", CQC, polled(now - timedelta(minutes=10)), None, now)
    assert ok.level == "ok" and ok.next_poll_at == now + timedelta(minutes=20)
    stale = assess("cqc", CQC, polled(now - timedelta(days=2)), None, now)
    assert stale.level == "late" and "no successful check since" in stale.message


def test_failing_message_is_plain_words() -> None:
    state = polled(DUE, failing_since=DUE - timedelta(hours=3), n=4)
    status = assess("ae", AE, state, pub(DUE), DUE + timedelta(hours=1))
    assert status.message == (
        "A&E statistics: checks have failed since 13 Nov 2025, 06:30 (4 attempts in a row). "
        "The last one said: HTTP 503 from the statistics page"
    )


def test_a_disabled_source_is_never_late() -> None:
    off = Source(schedule=AE.schedule, enabled=False)
    status = assess("ae", off, polled(DUE), pub(DUE - timedelta(days=90)), DUE + timedelta(days=9))
    assert (status.level, status.next_poll_at) == ("disabled", None)


def test_a_source_without_its_api_key_says_it_is_not_polled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cqc = Source(every_minutes=30, api_key_env="CQC_SUBSCRIPTION_KEY")
    monkeypatch.delenv("CQC_SUBSCRIPTION_KEY", raising=False)
    st = assess("cqc", cqc, None, None, DUE)
    assert st.level == "unconfigured" and "CQC_SUBSCRIPTION_KEY" in st.message
    monkeypatch.setenv("CQC_SUBSCRIPTION_KEY", "k")
    assert assess("cqc", cqc, None, None, DUE).level == "waiting"


def test_a_file_fetched_today_does_not_make_an_old_publication_new() -> None:
    # Seeded from disk today, published in October 2025: late against a November 2026 calendar.
    old = PublicationInfo(
        id=1,
        title="Monthly A&E August 2025",
        url="file:///a.csv",
        published_at=datetime(2025, 10, 9, 8, 30, tzinfo=UTC),
        fetched_at=datetime.now(UTC),
    )
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    state = SourceState(source="ae", last_success_at=now)
    st = assess("ae", AE, state, old, now)
    assert (st.level, st.late) == ("late", True)


@pytest.mark.parametrize(
    ("end", "today", "words"),
    [
        (date(2025, 8, 31), date(2026, 12, 7), "15 months old"),  # A&E August 2025, seen today
        (date(2025, 8, 31), date(2025, 9, 30), "1 month old"),
        (date(2025, 8, 31), date(2025, 9, 12), "12 days old"),
        (date(2026, 3, 31), date(2026, 3, 31), "current"),
    ],
)
def test_the_age_of_the_newest_figure(end: date, today: date, words: str) -> None:
    assert age(end, today)[1] == words


def test_a_late_source_says_how_old_its_newest_figures_are() -> None:
    # A&E figures for August 2025, published 9 October 2025; seen on 7 December 2026.
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    published = pub(datetime(2025, 10, 9, 8, 30, tzinfo=UTC))
    st = assess(
        "ae", AE, polled(now), published, now,
        newest_period=(date(2025, 8, 1), date(2025, 8, 31)),
    )  # fmt: skip
    assert st.level == "late"
    assert st.message == (
        "A&E statistics: late. A publication expected on 13 November 2025 has not arrived. "
        "The newest figures are for August 2025, 15 months old."
    )
    assert "3 days later" not in st.message
    assert st.newest is not None and (st.newest.label, st.newest.months) == ("August 2025", 15)


def test_the_notice_is_one_sentence_with_the_lag() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    old = pub(datetime(2025, 10, 9, 8, 30, tzinfo=UTC))
    ae = assess(
        "ae", AE, polled(now), old, now, newest_period=(date(2025, 8, 1), date(2025, 8, 31))
    )
    rtt = assess(
        "rtt", AE, polled(now), old, now, newest_period=(date(2026, 6, 1), date(2026, 6, 30))
    )
    ok = assess("cancer", AE, polled(now), pub(now), now)
    assert notice([ok]) is None
    one = notice([ae, ok])
    assert one is not None and one.text == (
        "A&E statistics: late. The newest figures are for August 2025, 15 months old."
    )
    two = notice([ae, rtt, ok])
    assert two is not None
    assert two.text == "2 sources are late or failing. Their newest figures are 5 to 15 months old."


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        (AE, "second Thursday of each month at 09:30 (London time)"),
        (
            Source(schedule={"month": "2,5,8,11", "day": "2nd thu", "hour": 9, "minute": 30}),
            "second Thursday of February, May, August and November at 09:30 (London time)",
        ),
        (
            Source(schedule={"day": "15", "hour": 9, "minute": 30}),
            "the 15th of each month at 09:30 (London time)",
        ),
        (Source(schedule={"day_of_week": "mon", "hour": 7}), "every Monday at 07:00 (London time)"),
        (Source(schedule={"day": "1-7", "hour": 9}), "on day 1-7 at 09:00 (London time)"),
        (CQC, "every 30 minutes"),
        (Source(every_minutes=1440), "once a day"),
    ],
)
def test_schedules_are_said_in_words(cfg: Source, words: str) -> None:
    assert describe_schedule(cfg) == words
