"""Learned loop parameters: how they move, and how they survive a round trip through JSON."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zcw.domain.learning import WEIGHT, Learned


def test_first_cycle_sets_the_transit_and_later_ones_move_it_by_the_weight() -> None:
    learned = Learned().with_transit(30.0)
    assert learned.transit_s == 30.0 and learned.transit_cycles == 1
    learned = learned.with_transit(40.0)
    assert learned.transit_s == round(30.0 + WEIGHT * 10.0, 2)
    assert learned.transit_cycles == 2


def test_a_replumbed_loop_is_relearned_within_a_few_cycles() -> None:
    learned = Learned()
    for _ in range(20):
        learned = learned.with_transit(30.0)
    for _ in range(8):
        learned = learned.with_transit(60.0)
    assert learned.transit_s is not None and abs(learned.transit_s - 60.0) < 2.0


@given(st.floats(0.5, 3600.0), st.integers(0, 10_000))
def test_json_round_trip(transit_s: float, cycles: int) -> None:
    learned = Learned(transit_s=transit_s, transit_cycles=cycles)
    assert Learned.from_json(learned.to_json()) == learned


@given(st.dictionaries(st.text(max_size=20), st.none() | st.booleans() | st.floats() | st.text()))
def test_junk_rows_read_as_nothing_learned_never_raise(data: dict[str, object]) -> None:
    learned = Learned.from_json(data)
    assert learned.transit_s is None or 0 < learned.transit_s <= 3600
