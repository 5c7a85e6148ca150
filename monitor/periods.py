"""How periods are named and figures written, the same in every email and on every page.

A month is "July 2025" ("Jul 2025" in charts and trends), a financial quarter "Q3 2025/26"
(never a month's name), a point (a CQC report) its day, "14 March 2025". A figure is written
in its metric's unit: "52.1%", "1,204", "9 min 5 s", the words of a rating; a figure that was
not published is "not published" everywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from monitor import metrics
from monitor.metrics import Granularity
from monitor.vocab import LONDON

MISSING = "not published"
SAME_DAY = "the same day"
# Units whose figure is a code with words in the observation's label ("Inadequate",
# "Segment 4", "Yes"): the words are shown, not the code.
WORDED_UNITS = ("rating", "segment", "flag")


def unit_of(metric_id: str | None) -> str:
    """The unit of a metric in the catalogue; "" for an unknown or missing id."""
    m = metrics.METRICS.get(metric_id or "")
    return m.unit if m else ""


def granularity_of(metric_id: str | None) -> Granularity:
    """The length of a metric's periods; a month for an unknown or missing id."""
    m = metrics.METRICS.get(metric_id or "")
    return m.granularity if m else Granularity.MONTH


def metric_title(metric_id: str | None) -> str:
    """A metric's title in the catalogue; the id itself when unknown ("" for None)."""
    m = metrics.METRICS.get(metric_id or "")
    return m.title if m else (metric_id or "")


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        # SQLite hands some datetimes back naive; they are UTC.
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(LONDON).date()
    return value


def period_label(
    start: date | datetime | str | None,
    granularity: str = Granularity.MONTH,
    *,
    short: bool = False,
) -> str:
    """A period by its first day, as analysts name it; "" for None.

    ``granularity`` is month, quarter or point; ``short`` abbreviates months for charts and
    trends ("Jul 2025"). A quarter is the financial year's (Q1 = April to June).
    """
    if start is None or start == "":
        return ""
    d = _as_date(start)
    if granularity == Granularity.QUARTER:
        fy = d.year if d.month >= 4 else d.year - 1
        return f"Q{(d.month - 4) % 12 // 3 + 1} {fy}/{(fy + 1) % 100:02d}"
    if granularity == Granularity.POINT:
        return f"{d.day} {d:%b %Y}" if short else day(d)
    return f"{d:%b %Y}" if short else f"{d:%B %Y}"


def metric_period(start: date | datetime | str | None, metric_id: str | None) -> str:
    """A period of ``metric_id``, labelled by the metric's own granularity."""
    return period_label(start, granularity_of(metric_id))


def day(value: date | datetime | str | None) -> str:
    """A day: "14 August 2025" (a datetime's day in London); "" for None."""
    if value is None or value == "":
        return ""
    d = _as_date(value)
    return f"{d.day} {d:%B %Y}"


def week_label(monday: date) -> str:
    """The week starting ``monday``: "11 to 17 August 2025", "28 July to 3 August 2025"."""
    sunday = monday + timedelta(days=6)
    if monday.year != sunday.year:
        return f"{day(monday)} to {day(sunday)}"
    if monday.month != sunday.month:
        return f"{monday.day} {monday:%B} to {day(sunday)}"
    return f"{monday.day} to {day(sunday)}"


def duration(seconds: float) -> str:
    """A response time: "45 s", "9 min 5 s", "1 h 5 min"."""
    s = round(seconds)
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def figure(value: float | None, unit: str, label: str | None = None) -> str:
    """A figure in its unit: "52.1%", "1,204", "9 min 5 s", "Inadequate", "not published"."""
    if label and unit in WORDED_UNITS:
        return label
    if value is None:
        return label or MISSING
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "seconds":
        return duration(value)
    if unit == "flag":
        return "yes" if value else "no"
    if unit in ("count", "rank", "segment", "rating"):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def count(value: float) -> str:
    """A count behind a figure: "7,060"; halves kept ("63.5": cancer shares a patient treated
    by two trusts between them)."""
    return f"{value:,.1f}".removesuffix(".0")


def age(then: date | datetime | str, on: date | datetime | str) -> str:
    """How long before ``on`` a day was: "the same day", "3 days", "5 weeks", "20 months",
    "2 years"."""
    a, b = _as_date(then), _as_date(on)
    days = (b - a).days
    months = (b.year - a.year) * 12 + b.month - a.month - (1 if b.day < a.day else 0)
    if days <= 0:
        return SAME_DAY
    if days < 14:
        return f"{days} day{'s' if days != 1 else ''}"
    if months < 2:
        return f"{days // 7} weeks"
    if months < 24:
        return f"{months} months"
    return f"{months // 12} years"


def threshold(value: float | None, unit: str) -> str | None:
    """A threshold in its unit, whole percentages without decimals ("60%"); None for none."""
    if value is None:
        return None
    if unit == "%" and float(value).is_integer():
        return f"{value:.0f}%"
    if unit == "seconds" and value >= 60 and float(value / 60).is_integer():
        return f"{value / 60:.0f} min"  # a standard in whole minutes: "7 min", not "7 min 0 s"
    return figure(value, unit)


def tick(value: float, unit: str) -> str:
    """A chart axis tick, short: "60%", "8 min", "45 s", "1,200"."""
    if unit == "%":
        return f"{value:g}%"
    if unit == "seconds":
        return f"{value / 60:g} min" if value >= 120 else f"{value:g} s"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"
