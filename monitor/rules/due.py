"""A publisher's calendar facts for the late-publisher rules, from its config.toml schedule.

The evaluator does not read the clock or the configuration; the caller builds one
``SourceCalendar`` per publisher with ``calendar_for`` and passes it in.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.config import Source
from monitor.rules.inputs import SourceCalendar

LONDON = ZoneInfo("Europe/London")


def calendar_for(
    name: str,
    source: Source,
    latest_published: date | None,
    latest_period: date | None = None,
) -> SourceCalendar:
    """When ``name``'s next publication is due after the latest one it published.

    The due date is the first day of the source's ``schedule`` after the day of its latest
    publication (a publication counts for its whole day, so that one dated without a time does
    not make the same morning's slot due). Sources polled every few minutes (``every_minutes``,
    the CQC changes feed) and sources that never published have no due date.
    """
    if source.schedule is None or latest_published is None:
        return SourceCalendar(name, None, source.grace_days, latest_period, latest_published)
    day = latest_published.date() if isinstance(latest_published, datetime) else latest_published
    after = datetime.combine(day + timedelta(days=1), time(0), LONDON)
    trigger = CronTrigger(**source.schedule, timezone=LONDON)
    due = trigger.get_next_fire_time(None, after)
    return SourceCalendar(name, due.date() if due else None, source.grace_days, latest_period, day)
