"""Screening many charts at once (monitor/spc/screen.py): it may only clear what the exact
computation clears, and an evaluation that screens finds exactly what one without it finds."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, OrgContext, Point
from monitor.rules.spcrule import SCREEN_MIN, may_concern
from monitor.spc.screen import cannot_concern
from monitor.spc.xmr import limits
from tests.rules.rulekit import FAR, rule

A4 = "ae_4hr_type1_pct"


def _exact(values: list[float], higher: bool) -> bool:
    return may_concern(values, limits(values), higher)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(min_value=12, max_value=40).flatmap(
        lambda n: st.lists(
            st.lists(
                st.one_of(
                    st.integers(min_value=40, max_value=60).map(float),  # ties
                    st.floats(min_value=0, max_value=100, allow_nan=False).map(
                        lambda v: round(v, 1)
                    ),
                ),
                min_size=n,
                max_size=n,
            ),
            min_size=1,
            max_size=8,
        )
    ),
    higher=st.booleans(),
)
def test_a_chart_is_cleared_in_a_batch_only_where_the_exact_check_clears_it(
    rows: list[list[float]], higher: bool
) -> None:
    for values, clear in zip(rows, cannot_concern(rows, higher), strict=True):
        if clear:
            assert not _exact(values, higher), values


def _field(seed: int, n: int = 36) -> list[list[float]]:
    """Series of every shape a screen meets: noise, flat, steps, trends, and a point placed on
    a limit or the 2-sigma line."""
    rng = random.Random(seed)
    out: list[list[float]] = []
    for k in range(400):
        base = rng.uniform(40, 95)
        shape = k % 5
        if shape == 0:
            out.append([round(base + rng.gauss(0, 3), 1) for _ in range(n)])
        elif shape == 1:
            out.append([round(base, 1)] * n)
        elif shape == 2:
            out.append([float(rng.randint(60, 63)) for _ in range(n)])  # ties everywhere
        elif shape == 3:
            out.append([round(base + 0.3 * i + rng.gauss(0, 1), 1) for i in range(n)])
        else:
            values = [round(base + rng.gauss(0, 2), 1) for _ in range(n)]
            lim = limits(values)
            values[rng.randrange(n)] = rng.choice((lim.lpl, lim.near_lpl, lim.upl, lim.near_upl))
            out.append(values)
    return out


@pytest.mark.parametrize("higher", [True, False])
def test_the_batch_agrees_with_the_exact_check_on_a_mixed_field(higher: bool) -> None:
    rows = _field(seed=11)
    batch = cannot_concern(rows, higher)
    exact = [not _exact(v, higher) for v in rows]
    assert not any(b and not e for b, e in zip(batch, exact, strict=True))
    # It is worth having: of the noisy series (every fifth) it clears nearly all the exact
    # check clears. Flat series and ties sit on their own mean: those it leaves to the exact path.
    noisy = range(0, len(rows), 5)
    assert sum(batch[i] for i in noisy) >= 0.9 * sum(exact[i] for i in noisy) > 0
    assert sum(batch) < len(rows)


def test_rows_of_unequal_length_are_refused() -> None:
    with pytest.raises(ValueError, match="equal length"):
        cannot_concern([[1.0, 2.0, 3.0], [1.0, 2.0]], True)


def _points(rows: list[list[float]]) -> list[Point]:
    out = []
    for i, values in enumerate(rows):
        for m, v in enumerate(values):
            start = date(2023 + (m // 12), 1 + m % 12, 1)
            out.append(
                Point(
                    org=f"T{i:04d}",
                    metric=A4,
                    period_start=start,
                    period_end=start.replace(day=28),
                    value=v,
                    publication_id=1,
                )
            )
    return out


def test_an_evaluation_that_screens_finds_what_one_series_at_a_time_finds() -> None:
    """Over more series than SCREEN_MIN the rule screens them in a batch; evaluated one
    organisation at a time (``changed``) it draws every chart exactly. Every state, run and
    breaching period agrees."""
    rows = _field(seed=5)
    assert len(rows) >= SCREEN_MIN
    rules = [
        rule("concern", metric=A4, kind="spc", severity="medium"),
        rule("severe", metric=A4, kind="spc", worse_than=60, severity="high"),
        rule("shifts", metric=A4, kind="spc", special_causes=["shift"], severity="low"),
    ]
    history = History.from_points(_points(rows))
    orgs = {
        f"T{i:04d}": OrgContext(code=f"T{i:04d}", trust_type="acute", region="Y61")
        for i in range(len(rows))
    }
    whole = evaluate(rules, history, orgs, as_of=FAR)
    firing = 0
    for org in orgs:
        alone = evaluate(rules, history, orgs, as_of=FAR, changed=[(A4, org)])
        for r in rules:
            got, want = whole.get(r.id, org), alone.get(r.id, org)
            assert got is not None and want is not None
            assert (got.states, got.consecutive, got.first) == (
                want.states,
                want.consecutive,
                want.first,
            ), (r.id, org)
            firing += got.states.count("f")
    assert firing > 0  # the field holds concerns, so the comparison means something
