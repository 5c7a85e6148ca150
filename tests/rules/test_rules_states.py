"""The state machine's string shortcuts agree with the plain loop on every short history."""

from __future__ import annotations

from itertools import product

import pytest

from monitor.rules.states import _loop, run_states


@pytest.mark.parametrize("for_periods", [1, 2, 3])
def test_shortcuts_agree_with_the_loop(for_periods: int) -> None:
    for n in range(1, 7):
        for codes in map("".join, product("BCHN", repeat=n)):
            assert run_states(codes, for_periods) == _loop(codes, for_periods), codes


def test_the_open_episode() -> None:
    assert run_states("CBBHB", 1) == ("offff", 4, 1)
    assert run_states("CBBHC", 1) == ("offfo", 0, -1)
    assert run_states("NNBB", 3) == ("oopp", 2, 2)
