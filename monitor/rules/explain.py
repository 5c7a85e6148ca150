"""Alert evidence in words: the sentences the emails and the alert page write about a figure.

Built from the stored evidence alone (docs/evidence.md), so an email rendered later and the page
read years later say what was known when the event happened. Figures, counts, periods and ages
are written by monitor/periods.py. Every sentence is true whatever the figure: a figure between
the threshold and the level that clears the alert is said to be so, a run of periods is called
consecutive only when no period in it lacks a figure, and the age of a figure is counted from
its publisher's date to the day it was evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor import periods
from monitor.rules.conditions import breaches, months_of, shift_months
from monitor.vocab import Episode, EventKind

if TYPE_CHECKING:
    from monitor.rules.evidence import Evidence, Part

COMPARISON_WORDS = {
    "below": "below",
    "at_or_below": "at or below",
    "above": "above",
    "at_or_above": "at or above",
}
PERIOD_WORDS = {"month": "month", "quarter": "quarter"}  # anything else: a report
AGAIN = "In breach again after an earlier episode ended"
COMBINED = ("all_of", "any_of")


@dataclass(frozen=True, kw_only=True)
class PartText:
    """One rule a combined rule combines, in words."""

    title: str  # the rule's title
    measure: str  # what it measures and when: "In financial deficit, Q4 2025/26"
    figure: str  # "yes", "-1.2%", "not published"
    state: str  # firing, not firing, no figure
    condition: str  # "worse than -0.2% the quarter before", "at or above yes", ""
    source: str  # the publication's title ("" when none)
    url: str  # where it was published ("" when unknown)
    published: str  # its publisher's date, "11 June 2026" ("" when unknown)


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """An event's evidence in words (each "" where it does not apply)."""

    figure: str  # "52.1%", "Inadequate", "not published", "both conditions met"
    counts: str  # "3,678 of 7,060 attendances"
    condition: str  # "below 60%; clears at 62%"
    status: str  # "60.8%: above the 60% threshold but not yet at the 62% needed to clear"
    since: str  # "Below 60% since September 2024", "First in breach in September 2023"
    persistence: str  # "In breach in 14 of the 24 months since September 2023 (...)"
    published: str  # "14 August 2025": the publisher's date
    age: str  # "16 months old on 7 December 2026"
    inferred: str  # a figure counted from another metric's publication, and why
    parts: tuple[PartText, ...]
    peer: str = ""  # "In the worst 5% of 121 acute trusts: 118th of 121 (1st is best)"
    spc: str = ""  # "Special cause concern: ...; mean 61.2%, process limits 55.0% to 67.4%"
    assurance: str = ""  # "Consistently failing the 78% target"


def explain(ev: Evidence, kind: str = "") -> Explanation:
    """``ev`` in words; ``kind`` is the event's (fired, resolved ...), for its persistence."""
    return Explanation(
        figure=figure(ev),
        counts=counts(ev),
        condition=condition(ev),
        status=status(ev),
        since=since(ev) if kind not in (EventKind.RESOLVED, EventKind.WITHDRAWN) else "",
        persistence=persistence(ev, kind),
        published=periods.day(ev.published_at),
        age=age(ev),
        inferred=inferred(ev),
        parts=tuple(_part(ev, p) for p in ev.parts),
        peer=peer(ev),
        spc=spc(ev),
        assurance=ev.spc_assurance_text,
    )


def peer(ev: Evidence) -> str:
    """The peer position as a sentence: "In the worst 5% of 121 acute trusts: ..."."""
    text = ev.peer_position
    return text[:1].upper() + text[1:] if text else ""


def spc(ev: Evidence) -> str:
    """The period's dot on the Making Data Count chart in words, with its mean and limits."""
    if ev.spc_reason:
        return f"Making Data Count: no chart yet, {ev.spc_reason} ({ev.spc_points or 0} of 12)"
    if not ev.spc_variation_text:
        return ""
    unit = ev.unit or ""
    return (
        f"{ev.spc_variation_text}; mean {periods.figure(ev.spc_mean, unit)}, process limits "
        f"{periods.figure(ev.spc_lpl, unit)} to {periods.figure(ev.spc_upl, unit)}"
    )


def granularity(ev: Evidence) -> str:
    """How the evidence's periods are named: its own word, else its metric's (older rows)."""
    return ev.granularity or periods.granularity_of(ev.metric)


def period_word(ev: Evidence) -> str:
    """What one period is called: "month", "quarter" or "report"."""
    return PERIOD_WORDS.get(granularity(ev), "report")


def figure(ev: Evidence) -> str:
    """The figure in its unit; for a combined rule, how many of its parts are firing."""
    if ev.kind in COMBINED and ev.parts:
        firing = sum(p.state == "firing" for p in ev.parts)
        if firing == len(ev.parts):
            return "both conditions met" if firing == 2 else f"all {firing} conditions met"
        return f"{firing} of {len(ev.parts)} conditions met"
    return periods.figure(ev.value, ev.unit or "", ev.label)


def counts(ev: Evidence) -> str:
    """The counts behind the figure: "3,678 of 7,060 attendances", "over 8,215 incidents"."""
    den, num, what = ev.denominator, ev.numerator, ev.counted
    if den is None or not what:
        return ""
    if ev.unit == "%" and num is not None:
        return f"{periods.count(num)} of {periods.count(den)} {what}"
    if ev.unit == "seconds":
        return f"over {periods.count(den)} {what}"
    if ev.unit == "rank":
        return f"of {periods.count(den)} {what}"
    return ""


def _level(value: float | None, ev: Evidence) -> str:
    return periods.threshold(value, ev.unit or "") or ""


def condition(ev: Evidence) -> str:
    """When the rule is in breach, and the level that clears it: "below 60%; clears at 62%"."""
    if ev.threshold is None:
        return ""
    level = _level(ev.threshold, ev)
    if ev.comparison:  # only threshold rules compare with a level
        if ev.unit == "flag":
            return "flagged"
        words = f"{COMPARISON_WORDS.get(ev.comparison, ev.comparison)} {level}"
    elif ev.kind == "trend":
        words = f"worse than the {period_word(ev)} before ({level})"
    elif ev.kind == "change":
        words = f"worse than {level}"
    elif ev.kind == "rank" and ev.unit == "rank":
        words = f"ranked {level} or lower"
    elif ev.kind == "rank":
        words = f"{level} or worse"
    else:
        return ""
    if ev.clear is not None and ev.clear != ev.threshold:
        words += f"; clears at {_level(ev.clear, ev)}"
    return words


def status(ev: Evidence) -> str:
    """The figure against the threshold and the clear level, true for any figure: "52.1%: 7.9
    percentage points below the 60% threshold", "60.8%: above the 60% threshold but not yet at
    the 62% needed to clear"."""
    if ev.last_figure_period is not None and ev.missing_periods:  # a figure missing
        latest = periods.period_label(ev.last_figure_period, granularity(ev))
        missing = _plural(ev.missing_periods, period_word(ev))
        return f"No figure for {missing} published for others; its latest is for {latest}"
    if not ev.comparison or ev.value is None or ev.threshold is None:
        return ""
    if ev.unit in periods.WORDED_UNITS:
        return ""  # the figure's words say it ("Approaching Standards", "yes")
    v, level, when = ev.value, ev.threshold, ev.comparison
    fig, thr = figure(ev), _level(level, ev)
    if breaches(when, level, v):
        if v == level:
            return f"{fig}: at the {thr} threshold"
        gap = abs(v - level)
        unit = ev.unit or ""
        amount = f"{gap:.1f} percentage points" if unit == "%" else periods.figure(gap, unit)
        side = "below" if v < level else "above"
        return f"{fig}: {amount} {side} the {thr} threshold"
    side = "at" if v == level else ("above" if v > level else "below")
    if ev.clear is None or ev.clear == level:
        return f"{fig}: {side} the {thr} threshold"
    clr = _level(ev.clear, ev)
    if breaches(when, ev.clear, v):  # short of the level that clears the alert
        return f"{fig}: {side} the {thr} threshold but not yet at the {clr} needed to clear"
    return f"{fig}: {side} the {thr} threshold and at the {clr} needed to clear"


def since(ev: Evidence) -> str:
    """When the episode began: "Below 60% since September 2024" where every period since then
    has a figure in breach, else "First in breach in September 2023"."""
    if ev.first_period is None or (ev.episode_periods or ev.consecutive_periods) <= 1:
        return ""  # a first period in breach: the persistence says so
    first = periods.period_label(ev.first_period, granularity(ev))
    head = condition(ev).split(";")[0] if ev.unit not in periods.WORDED_UNITS else ""
    if head and _every_period_breached(ev):
        return f"{head[0].upper()}{head[1:]} since {first}"
    on = "on" if granularity(ev) == "point" else "in"
    return f"First in breach {on} {first}"


def _every_period_breached(ev: Evidence) -> bool:
    """True when the trend holds every period of the episode and each one's figure breaches."""
    if ev.comparison is None or ev.threshold is None or ev.first_period is None:
        return False
    held = [p for p in ev.last12 if p.period_start >= ev.first_period]
    if not held or held[0].period_start != ev.first_period:
        return False  # the episode began before the trend shown
    return all(p.value is not None and breaches(ev.comparison, ev.threshold, p.value) for p in held)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def persistence(ev: Evidence, kind: str = "") -> str:
    """How long the episode has lasted, consecutive only where no period lacks a figure."""
    if kind == EventKind.WITHDRAWN:
        if ev.revised:
            return "A revised publication no longer shows this breach"
        return "Re-evaluated, the published figures no longer show this breach"
    if ev.expected_next is not None:
        return _late(ev)
    word, gran = period_word(ev), granularity(ev)
    n, span = ev.episode_periods or ev.consecutive_periods, ev.episode_span
    first = periods.period_label(ev.first_period, gran) if ev.first_period else ""
    last = periods.period_label(ev.last_breach_period, gran) if ev.last_breach_period else ""
    gaps = span - n if span > n else 0
    if kind == EventKind.RESOLVED:
        if n <= 0:
            return "Resolved"
        within = f" over {_plural(span, word)}" if gaps else ""
        dates = f" ({first} to {last})" if first and last and first != last else ""
        return f"Resolved after {_plural(n, word)} in breach{within}{dates}"
    again = ev.episode == Episode.REBREACH
    if n <= 1:
        return AGAIN if again else f"First {word} in breach"
    lead = f"{AGAIN}: " if again else ""
    if not gaps:
        return f"{lead}{_ordinal(n)} consecutive {word} in breach, since {first}"
    text = f"in {n} of the {span} {word}s since {first} (no figure for {gaps} of them)"
    text = f"{lead}{text}" if again else f"In breach {text}"
    run = ev.consecutive_periods
    if run > 1:
        return f"{text}; the last {run} in a row, since {_run_start(ev)}"
    return f"{text}; the latest after a {word} without a figure"


def _late(ev: Evidence) -> str:
    """A late publisher: when its publication was due and how late it is."""
    due = f"Due {periods.day(ev.expected_next)}"
    if ev.grace_days:
        due += f" (with {_plural(ev.grace_days, 'day')}' grace)"
    late = f": {_plural(ev.days_late, 'day')} late" if ev.days_late else ""
    latest = ev.latest_period and periods.metric_period(ev.latest_period, ev.metric)
    return f"{due}{late}" + (f"; the latest period it published is {latest}" if latest else "")


def _run_start(ev: Evidence) -> str:
    """The first period of the run of consecutive periods ending with the latest breach."""
    step = months_of(granularity(ev))
    last = ev.last_breach_period or ev.period_start
    if last is None or not step:
        return ""
    start = shift_months(last, -step * (ev.consecutive_periods - 1))
    return periods.period_label(start, granularity(ev))


def age(ev: Evidence) -> str:
    """How old the figure was when it was evaluated: "16 months old on 7 December 2026"."""
    if ev.published_at is None or ev.evaluated_on is None:
        return ""
    old = periods.age(ev.published_at, ev.evaluated_on)
    if old == periods.SAME_DAY:
        return "evaluated the day it was published"
    return f"{old} old on {periods.day(ev.evaluated_on)}"


def inferred(ev: Evidence) -> str:
    """Why a figure was counted from another metric's publication (a rule's ``absent``)."""
    if not ev.inferred_from:
        return ""
    period = ev.period_label or periods.period_label(ev.period_start, granularity(ev))
    other = periods.metric_title(ev.inferred_from)
    return (
        f"{period}: no figure for \u201c{ev.metric_title}\u201d was published, but one for "
        f"\u201c{other}\u201d was, so it counts as {figure(ev)}"
    )


def _part(ev: Evidence, p: Part) -> PartText:
    when = periods.period_label(p.period_start, granularity(ev)) if p.period_start else ""
    unit = p.unit or ""
    if p.kind == "trend" and p.threshold is not None:
        cond = f"worse than {periods.figure(p.threshold, unit)} the {period_word(ev)} before"
    elif unit == "flag":
        cond = "flagged"
    elif p.comparison and p.threshold is not None:
        level = periods.threshold(p.threshold, unit) or ""
        cond = f"{COMPARISON_WORDS.get(p.comparison, p.comparison)} {level}"
    else:
        cond = ""
    return PartText(
        title=p.rule_title or p.rule,
        measure=f"{p.metric_title}, {when}" if when else p.metric_title,
        figure=periods.figure(p.value, unit, p.label),
        state=p.state,
        condition=cond,
        source=p.publication_title or "",
        url=p.publication_url or "",
        published=periods.day(p.published_at),
    )
