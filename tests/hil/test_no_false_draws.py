"""A week with no draws, on the plant model: pump cycles (from a cooled pipe and warm re-heats
whose return water makes a gas burner cycle at its minimum power), their tails, a tank-like
thermostat cycling the outlet by itself, and DS18B20 noise. The draw detector, sampling
once a second, must find nothing at all."""

from __future__ import annotations

import random

import pytest

from hil.bench.week import week_house
from hil.plant import Plant
from zcw.domain.draws import DrawDetector, Found, LoopHints

DAY_S = 86400.0
READY_C = 36.0


def noisy(value: float, rng: random.Random) -> float:
    v = value + rng.gauss(0.0, 0.05)
    if rng.random() < 0.002:
        v += rng.choice((-1, 1)) * 0.25  # a spike of four steps
    return round(v / 0.0625) * 0.0625


def thermostat_c(t: float) -> float:
    """What a storage tank's own reheating adds at the outlet: every 2 h it falls 4 K over
    100 min and the element brings it back at 0.4 K/min (no water moves)."""
    phase = t % 7200.0
    return -4.0 * phase / 6000.0 if phase < 6000.0 else -4.0 + 4.0 * (phase - 6000.0) / 600.0


@pytest.mark.parametrize(("house", "days"), [("R0", 7), ("H4", 3)])
def test_a_week_without_draws_has_no_draw_and_no_flick(house: str, days: int) -> None:
    plant = Plant(week_house(house, 3))
    loops = plant.loops
    det = DrawDetector(loops, has_outlet=True, tapflick=loops[:1])
    rng = random.Random(7)
    hints = {n: LoopHints(transit_s=40.0 if house == "R0" else 170.0) for n in loops}
    found = Found()
    pumping = False
    cycle_end = 0.0
    next_cycle = 3600.0
    reheats = 0
    loop_ix = 0
    t = 0.0
    while t < days * DAY_S:
        if not pumping and t >= next_cycle:
            loop = loops[loop_ix % len(loops)]
            plant.set_valve(loop, True)
            plant.set_pump(True)
            pumping, started = True, t
        if pumping:
            loop = loops[loop_ix % len(loops)]
            if plant.water_at_valve_c(loop) >= READY_C or t - started > 300.0:
                plant.set_pump(False)
                plant.set_valve(loop, False)
                pumping, cycle_end = False, t
                # Three warm re-heats 3 min apart, then a pause of 3 h (the pipe cools).
                reheats += 1
                if reheats % 4:
                    next_cycle = t + 180.0
                else:
                    next_cycle, loop_ix = t + 3 * 3600.0, loop_ix + 1
        plant.advance(1.0)
        t += 1.0
        # The bridge still reports the pump for a spin-down after the relay opens.
        got = det.step(
            t,
            pumping=pumping or t - cycle_end < 1.0,
            loop_c={n: noisy(plant.sensor_c(n), rng) for n in loops},
            out_c=noisy(plant.sensor_c("heater_out") + thermostat_c(t), rng),
            hints=hints,
        )
        found.draws += got.draws
        found.flicks += got.flicks
    assert reheats >= 6 * days
    assert found.draws == [] and found.flicks == []
