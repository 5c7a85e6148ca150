"""A source's publication calendar in words: "second Thursday of each month at 09:30".

config.toml writes calendars as APScheduler cron fields (``{ day = "2nd thu", hour = 9,
minute = 30 }``); readers of the sources page get the same calendar as a sentence. A field
this module has no words for is written as it stands, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor.config import Source

_DAYS = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
_NTH = {"1st": "first", "2nd": "second", "3rd": "third", "4th": "fourth", "5th": "fifth"}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _months(field: str | None) -> str:
    if field is None or field == "*":
        return "each month"
    names = []
    for part in field.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 12:
            return f"months {field}"
        names.append(_MONTHS[int(part) - 1])
    return _and(names)


def _day(field: str) -> str | None:
    """The day field in words, without the months: "second Thursday", "the 15th"."""
    text = field.strip().lower()
    found = re.fullmatch(r"(1st|2nd|3rd|4th|5th|last) (mon|tue|wed|thu|fri|sat|sun)", text)
    if found:
        nth, weekday = found.groups()
        return f"{_NTH.get(nth, nth)} {_DAYS[weekday]}"
    if text == "last":
        return "the last day"
    if text.isdigit() and 1 <= int(text) <= 31:
        return f"the {_ordinal(int(text))}"
    return None


def calendar_words(schedule: Mapping[str, int | str]) -> str:
    """The cron fields in words: "second Thursday of each month at 09:30 (London time)"."""
    fields = {k: str(v) for k, v in schedule.items()}
    time = f"{int(fields.pop('hour', 0)):02d}:{int(fields.pop('minute', 0)):02d}"
    fields.pop("second", None)
    months = _months(fields.pop("month", None))
    when = "every day"
    if "day" in fields:
        day = _day(fields["day"])
        if day is not None:
            fields.pop("day")
            when = f"{day} of {months}" if months != "each month" else f"{day} of each month"
            months = ""
    if "day_of_week" in fields and fields["day_of_week"].lower() in _DAYS:
        when = f"every {_DAYS[fields.pop('day_of_week').lower()]}"
    if when == "every day" and ({"day", "day_of_week"} & fields.keys()):
        when = "on"  # a day this module has no words for: its field follows as written
    words = [when]
    if months and months != "each month":
        words.append(f"in {months}")
    words += [f"{k.replace('_', ' ')} {v}" for k, v in fields.items()]  # nothing dropped
    return f"{' '.join(words)} at {time} (London time)"


def interval_words(minutes: int) -> str:
    """An interval in words: "every 30 minutes", "once a day", "every 6 hours"."""
    if minutes == 1440:
        return "once a day"
    if minutes % 1440 == 0:
        return f"every {minutes // 1440} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "every hour" if hours == 1 else f"every {hours} hours"
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


def describe_schedule(cfg: Source) -> str:
    """When a source is polled, in words."""
    if cfg.every_minutes:
        return interval_words(cfg.every_minutes)
    if cfg.schedule:
        return calendar_words(cfg.schedule)
    return "not scheduled"
