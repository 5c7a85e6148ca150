"""The state machine: per-period condition codes in, ok / pending / firing per period out.

Per code (see conditions.py):

- ``B`` breach: the episode grows; pending until ``for_periods`` breaching periods, then firing;
- ``C`` clear: back to ok (a firing alert resolves only here: on data that clears it);
- ``H`` hold: no breach, but not past the hysteresis level: a firing episode carries on (and the
  period counts as one of the episode's), a pending one ends;
- ``N`` not assessed: nothing changes, and the period does not count.

A period without a figure has no code at all, so missing data never resolves and neither counts
towards ``for_periods`` nor breaks a run. The common shapes (no breach; breach/clear only; a
hysteresis rule that fires at once) are handled with string operations, because a pack over
tens of thousands of organisations runs this hundreds of thousands of times.
"""

from __future__ import annotations

import re

from monitor.rules.conditions import BREACH, HOLD, SKIP

OK, PENDING, FIRING = "o", "p", "f"
_BREACHES = re.compile(r"B+")
_EPISODES = re.compile(r"B[BH]*")  # with for_periods = 1: a breach, then held periods
_TO_OK = str.maketrans({"C": OK, "N": OK, "H": OK})
_AT_ONCE = str.maketrans({"B": FIRING, "C": OK})


def run_states(codes: str, for_periods: int) -> tuple[str, int, int]:
    """(states, periods in the open episode, index of its first period) from the codes."""
    n = len(codes)
    if BREACH not in codes:
        return OK * n, 0, -1
    body = codes.lstrip(SKIP)  # nothing assessed yet: ok
    lead = n - len(body)
    if SKIP in body or (HOLD in body and for_periods > 1):
        return _loop(codes, for_periods)
    if HOLD in body:
        pattern, length = _EPISODES, None
    elif for_periods == 1:  # every breach fires at once, every clear ends it
        states = OK * lead + body.translate(_AT_ONCE)
        open_run = len(body) - len(body.rstrip(BREACH))
        return states, open_run, (n - open_run if open_run else -1)
    else:
        pattern, length = _BREACHES, for_periods

    def episode(m: re.Match[str]) -> str:
        size = m.end() - m.start()
        pending = 0 if length is None else min(size, length - 1)
        return PENDING * pending + FIRING * (size - pending)

    states = OK * lead + pattern.sub(episode, body).translate(_TO_OK)
    # The episode still open at the end: the trailing breaches (and held periods) from a breach.
    trailing = body[len(body.rstrip("BH")) :]
    start = trailing.find(BREACH)
    if start < 0:
        return states, 0, -1
    return states, len(trailing) - start, n - len(trailing) + start


def _loop(codes: str, for_periods: int) -> tuple[str, int, int]:
    out = []
    state, run, first = OK, 0, -1
    for i, c in enumerate(codes):
        if c == BREACH:
            if run == 0:
                first = i
            run += 1
            if state != FIRING:
                state = FIRING if run >= for_periods else PENDING
        elif c == HOLD and state == FIRING:
            run += 1  # held open by hysteresis: still a period of the episode
        elif c != SKIP:
            state, run, first = OK, 0, -1
        out.append(state)
    return "".join(out), run, first
