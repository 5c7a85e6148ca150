"""A Making Data Count chart in plain words: what its variation and assurance icons say.

The engine's words are NHSRplotthedots' own ("2 in 3 Below CL"); a board member reads
"Special cause concern: 2 of 3 points near the lower process limit". Pages, emails and the
icons' text for screen readers take their words from here.
"""

from __future__ import annotations

from monitor.spc.words import Assurance, PointType, SpecialCause

CAUSE_WORDS: dict[SpecialCause, str] = {
    SpecialCause.ABOVE_UCL: "a point above the upper process limit",
    SpecialCause.BELOW_LCL: "a point below the lower process limit",
    SpecialCause.TREND_INCREASING: "a run of 7 points each higher than the last",
    SpecialCause.TREND_DECREASING: "a run of 7 points each lower than the last",
    SpecialCause.TWO_IN_THREE_ABOVE: "2 of 3 points near the upper process limit",
    SpecialCause.TWO_IN_THREE_BELOW: "2 of 3 points near the lower process limit",
    SpecialCause.SHIFT_ABOVE: "7 points in a row above the mean",
    SpecialCause.SHIFT_BELOW: "7 points in a row below the mean",
    SpecialCause.COMMON_CAUSE: "no significant change",
}

VARIATION_NAMES: dict[PointType, str] = {
    PointType.COMMON_CAUSE: "Common cause variation",
    PointType.CONCERN: "Special cause concern",
    PointType.IMPROVEMENT: "Special cause improvement",
    PointType.NEUTRAL_HIGH: "Special cause variation (higher; neither good nor bad)",
    PointType.NEUTRAL_LOW: "Special cause variation (lower; neither good nor bad)",
}


def variation_text(point_type: PointType, cause: SpecialCause) -> str:
    """The variation icon in words: "Special cause concern: 7 points in a row below the mean"."""
    return f"{VARIATION_NAMES[point_type]}: {CAUSE_WORDS[cause]}"


def assurance_text(assurance: Assurance | None, target_text: str | None) -> str | None:
    """The assurance icon in words, against the target written in its unit: "Consistently
    failing the 78% target", "... the target of 7 min 0 s"; None when there is no assurance
    (no target, or no good direction)."""
    if assurance is None or not target_text:
        return None
    target = (
        f"the {target_text} target"
        if target_text.endswith("%")
        else (f"the target of {target_text}")
    )
    if assurance is Assurance.PASS:
        return f"Consistently passing {target}"
    if assurance is Assurance.FAIL:
        return f"Consistently failing {target}"
    return f"Hit and miss: {target} lies within the process limits"
