"""The plant is pinned to docs/physics.md: reference-house oracles, cool-down, heater, sensor
lag."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hil.house import HOUSES_DIR, HouseError, available_houses, load_house
from hil.plant import Plant


def time_to(
    plant: Plant, loop: str, temp_c: float, *, limit_s: float = 400.0
) -> tuple[float, float]:
    """Pump on, valve open, from cold: seconds and litres until the valve water ≥ temp_c."""
    plant.set_valve(loop, True)
    plant.set_pump(True)
    while plant.t_s < limit_s:
        plant.advance(0.25)
        if plant.water_at_valve_c(loop) >= temp_c:
            return plant.t_s, plant.pumped_volume_l
    raise AssertionError(f"{loop} never reached {temp_c} °C")


def test_r0_oracle_26_s_and_3_5_l() -> None:
    t, v = time_to(Plant(load_house("R0")), "bathroom", 38.0)
    assert t == pytest.approx(26.0, rel=0.10)
    assert v == pytest.approx(3.5, rel=0.10)


def test_h4_far_tap_oracle_166_s() -> None:
    t, _ = time_to(Plant(load_house("H4")), "far", 38.0)
    assert t == pytest.approx(166.0, rel=0.15)


@pytest.mark.parametrize(
    ("house", "t_s", "volume_l", "energy_kj"),
    [("H1", 26, 2.6, 321), ("H2", 36, 6.0, 765), ("H3", 36, 5.5, 899)],
)
def test_other_reference_houses(house: str, t_s: float, volume_l: float, energy_kj: float) -> None:
    plant = Plant(load_house(house))
    t, v = time_to(plant, "bathroom", 38.0)
    assert t == pytest.approx(t_s, rel=0.15)
    assert v == pytest.approx(volume_l, rel=0.15)
    assert plant.heater_energy_kj == pytest.approx(energy_kj, rel=0.15)


def test_standby_cool_down_of_bare_ppr_50_to_38_in_about_13_min() -> None:
    plant = Plant(load_house("R0"))
    (seg,) = plant.hot["bathroom"]
    seg.water = [50.0] * seg.n
    seg.wall = [[50.0] * seg.n for _ in range(seg.n_w)]
    while plant.water_at_valve_c("bathroom") > 38.0:
        plant.advance(10.0)
    assert plant.t_s / 60 == pytest.approx(13.0, rel=0.25)


def test_gas_heater_does_not_ignite_below_activation_flow() -> None:
    house = load_house("R0")
    plant = Plant(replace(house, pump_flow_lpm=2.0))
    plant.set_valve("bathroom", True)
    plant.set_pump(True)
    plant.advance(120.0)
    assert not plant.heater_firing
    assert plant.heater_energy_kj == 0.0
    assert plant.water_at_valve_c("bathroom") < 25.0


def test_ignition_failure_means_no_heat() -> None:
    plant = Plant(load_house("H4"))
    plant.fail_ignition()
    plant.set_valve("far", True)
    plant.set_pump(True)
    plant.advance(300.0)
    assert plant.heater_energy_kj == 0.0
    assert plant.water_at_valve_c("far") < 15.0


def test_energy_balance_heater_heat_ends_up_in_pipes_and_losses() -> None:
    plant = Plant(load_house("R0"))
    before = plant.energy_in_pipes_kj(ref_c=15.0)
    time_to(plant, "bathroom", 38.0)
    plant.set_pump(False)
    stored = plant.energy_in_pipes_kj(ref_c=15.0) - before
    # Over ~26 s the pipe losses are small: the heat is in the water and walls.
    assert stored == pytest.approx(plant.heater_energy_kj, rel=0.2)


def test_clamp_on_ppr_reads_the_front_tens_of_seconds_late() -> None:
    """docs/physics.md §4: a DS18B20 clamped on PPR crosses 38 °C ≈ 40–65 s after the water."""
    house = load_house("R0")
    tap = replace(house.taps[0], sensor=replace(house.taps[0].sensor, mount="clamp"))
    plant = Plant(replace(house, taps=(tap,)))
    t_water, _ = time_to(plant, "bathroom", 38.0)
    while plant.sensor_c("bathroom") < 38.0:
        plant.advance(0.5)
        assert plant.t_s < 300
    assert 30.0 <= plant.t_s - t_water <= 80.0


def test_hot_water_into_cold_line_is_counted() -> None:
    plant = Plant(load_house("R0"))
    time_to(plant, "bathroom", 38.0)
    plant.advance(30.0)  # keep pumping: hot water now flows into the cold line
    assert plant.hot_into_cold_l > 2.0
    assert plant.cold_line_peak_c > 45.0


def test_unknown_house_lists_the_available_ones() -> None:
    with pytest.raises(HouseError, match="available: H1, H2, H3, H4, R0"):
        load_house("H9")
    assert available_houses() == ["H1", "H2", "H3", "H4", "R0"]


@pytest.mark.parametrize("name", ["r0-clamp", "pex-kitchen", "copper-tank", "ppr-insulated-clamp"])
def test_the_unseen_houses_load_and_heat(name: str) -> None:
    """hil/houses/unseen/ (the README's houses zcw has never seen) stays loadable, out of the
    default bench, and physical: the oracle gets each one hot within a few minutes."""
    house = load_house(str(HOUSES_DIR / "unseen" / f"{name}.toml"))
    assert house.name.lower() == name
    seconds, _ = time_to(Plant(house), house.tap_names[0], 38.0)
    assert 10.0 < seconds < 240.0


def test_randomised_house_is_deterministic_per_seed() -> None:
    h = load_house("H4")
    assert h.randomised(3) == h.randomised(3)
    assert h.randomised(3) != h.randomised(4)
    r = h.randomised(3)
    assert 0.9 * h.pump_flow_lpm <= r.pump_flow_lpm <= 1.1 * h.pump_flow_lpm


def test_a_junction_passes_flow_on_evenly_and_the_valve_sees_every_cell() -> None:
    """Where a wide pipe feeds a narrow one, the narrow one moves one cell at a time.

    A whole 25 mm cell handed on at once shifted two 20 mm cells, so the valve let out a cell
    no check had seen: the oracle itself then broke the cold-line limit on H3.
    """
    plant = Plant(load_house("H2"))
    loop = plant.loops[0]
    wide, narrow = plant.hot[loop]
    assert wide.cell_volume_l > 1.5 * narrow.cell_volume_l
    emitted: list[int] = []
    push = narrow.push

    def counting_push(volume_l: float, temp_c: float) -> list[tuple[float, float]]:
        out = push(volume_l, temp_c)
        emitted[-1] += len(out)
        return out

    narrow.push = counting_push  # type: ignore[method-assign]
    plant.set_valve(loop, True)
    plant.set_pump(True)
    while plant.t_s < 60.0:
        emitted.append(0)
        plant.advance(0.25)
    # 0.25 s of flow is less than a narrow cell: never two cells out of the valve in a step.
    assert max(emitted) == 1
    assert sum(emitted) > 50


def test_water_waiting_to_fill_a_cell_cools_with_the_pipe() -> None:
    """A part-filled cell left by a cycle must not carry its heat through hours of standby."""
    plant = Plant(load_house("R0"))
    segment = plant.hot["bathroom"][0]
    segment.push(segment.cell_volume_l / 2, 50.0)
    for _ in range(720):
        segment.exchange(0.0, 5.0)  # one hour standing
    segment.push(segment.cell_volume_l / 2, plant.house.ambient_c)
    # Kept apart, the parcel would make a 35 °C cell now; it cooled with the pipe instead.
    assert segment.water[0] == pytest.approx(plant.house.ambient_c, abs=0.5)


@pytest.mark.parametrize("house", ["R0", "H2", "H3", "H4"])
def test_the_oracle_never_breaks_the_cold_line_limit(house: str) -> None:
    """The physical limit stops on the water at the valve, before any of it passes the seat."""
    from hil.bench.runner import COLD_LINE_MAX_C, run_day

    for seed in range(3):
        day = run_day(house, "oracle", seed)
        peaks = [e["cold_line_peak_c"] for e in day["events"]]
        peaks = [p for p in peaks if p is not None]
        assert all(e["outcome"] in ("hot", "already_hot") for e in day["events"])
        if house != "H2":  # a return line has no cold-line peak to judge
            assert peaks and max(peaks) <= COLD_LINE_MAX_C


def test_a_plant_stepped_by_uneven_steps_keeps_its_memory() -> None:
    """The emulator steps the plant by whatever time passed (the wall clock, or a sum of
    floats in the soak): the exchange factors cached per step must not grow with every step
    (they did, by one entry per segment per step, for ever)."""
    import gc
    import random

    from hil.plant.pipes import Segment

    plant = Plant(load_house("H4"))
    plant.set_valve("far", True)
    plant.set_pump(True)
    rng = random.Random(1)
    for _ in range(3000):
        plant.advance(rng.uniform(0.001, 0.05))
    segments = [o for o in gc.get_objects() if isinstance(o, Segment)]
    assert segments and max(len(s._factors) for s in segments) <= 64
