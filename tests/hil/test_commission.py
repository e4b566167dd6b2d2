"""`zcw commission`: the watched first cycle, on simulated houses, against the plant's truth.

Truth comes from the plant model, never from zcw:

- **transit**: a copy of the same house (same seed, so the same pump flow and pipe losses),
  cooled the same hour, pushed by pump and valve until the true water at the valve
  (``Plant.water_at_valve_c``) first reaches ready_c: the time from pump on;
- **volume**: ``Plant.pumped_volume_l`` at that moment in that copy;
- **sensor lag**, the time to read 63 % of a step of the water:
  for a sensor on a valve body or immersed, the plant's own first-order lag (its ``tau_s``,
  as drawn for the seed): its step response is exactly that exponential;
  for a clamp on plastic, which is no single lag, its response to the front as the plant
  shows it in the commissioning cycle itself: from the moment the true water at the valve
  reached ready_c to the moment the sensor's noise-free body temperature (no offset, no
  quantisation) covered 63 % of the way from where it stood to the highest it reached.

What zcw measured must be within 15 % of each.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pytest

from hil.bench.strategies import Zcw
from hil.house import House, load_house
from hil.plant import Plant
from zcw.domain.learning import Learned
from zcw.domain.model import Request, Source
from zcw.ui.wording import commission_failure, commission_verdict

READY_C = 36.0
COOL_S = 3600.0


@dataclass
class Truth:
    transit_s: float
    volume_l: float
    lag_s: float


def _truth_transit(house: House, loop: str) -> tuple[float, float]:
    plant = Plant(house)
    plant.advance(COOL_S)
    plant.set_valve(loop, True)
    plant.set_pump(True)
    on = plant.t_s
    while plant.water_at_valve_c(loop) < READY_C:
        plant.advance(0.05)
        assert plant.t_s - on < 600
    return plant.t_s - on, plant.pumped_volume_l


def _commission(house: House, loop: str) -> tuple[Learned, list[tuple[float, float, float]]]:
    """Run `commission` through the real daemon; (what it learned, and the plant's trace of
    (time, true water at the valve, the sensor's noise-free body temperature))."""
    logging.getLogger("zcw").setLevel(logging.CRITICAL)
    plant = Plant(house)
    zcw = Zcw(plant, READY_C)
    zcw.idle(COOL_S)
    zcw.daemon.submit(Request("commission", Source.CLI, loop))
    body = plant._sensors[loop][0]  # the plant's own state, for the truth only
    trace = []
    for _ in range(int(700 / 0.25)):
        zcw.tick(0.25)
        trace.append((plant.t_s, plant.water_at_valve_c(loop), body.body_c))
        if zcw.daemon.controller.learned[loop].commissioned:
            break
    return zcw.daemon.controller.learned[loop], trace


def _clamp_lag(trace: list[tuple[float, float, float]]) -> float:
    front = next(t for t, water, _ in trace if water >= READY_C)
    start = next(b for t, _, b in reversed(trace) if t <= front)
    peak = max(b for _, _, b in trace)
    target = start + (1 - math.exp(-1)) * (peak - start)
    return next(t for t, _, b in trace if t > front and b >= target) - front


def _check(learned: Learned, truth: Truth) -> None:
    assert learned.commissioned
    assert learned.transit_s == pytest.approx(truth.transit_s, rel=0.15)
    assert learned.transit_volume_l == pytest.approx(truth.volume_l, rel=0.15)
    assert learned.sensor_lag_s == pytest.approx(truth.lag_s, rel=0.15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_commissioning_r0_finds_a_sensor_that_reads_the_water(seed: int) -> None:
    house = load_house("R0").randomised(seed)
    learned, _ = _commission(house, "bathroom")
    transit, volume = _truth_transit(house, "bathroom")
    _check(learned, Truth(transit, volume, house.taps[0].sensor.tau_s))
    assert learned.sensor_first_order and not learned.stops_on_rise
    assert learned.tau_s == learned.sensor_lag_s and learned.tau_fits == 1
    verdict = commission_verdict(learned.summary())
    assert verdict.startswith("sensor reads the water: good"), verdict


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_commissioning_a_clamp_on_ppr_warns_and_stops_on_its_first_warming(seed: int) -> None:
    house = load_house("hil/houses/unseen/r0-clamp.toml").randomised(seed)
    learned, trace = _commission(house, "bathroom")
    transit, volume = _truth_transit(house, "bathroom")
    _check(learned, Truth(transit, volume, _clamp_lag(trace)))
    assert learned.sensor_first_order is False
    verdict = commission_verdict(learned.summary())
    assert verdict.startswith("clamp on plastic, ~"), verdict
    assert "fit a T_cold probe or move it to the valve body" in verdict
    # No cold-line probe to stop on: from the first cycle on it stops on its first warming,
    # at the time the watched cycle saw it, instead of running to max_run_s to find out.
    assert learned.stops_on_rise and learned.rise_s is not None


def test_commissioning_needs_a_cooled_pipe() -> None:
    plant = Plant(load_house("R0"))
    zcw = Zcw(plant, READY_C)
    plant.set_draw("bathroom", 8.0)  # someone just showered: the pipe is hot
    zcw.idle(120.0)
    plant.set_draw("bathroom", 0.0)
    zcw.daemon.submit(Request("commission", Source.CLI, "bathroom"))
    zcw.tick(0.25)
    (event,) = [e for e in zcw.daemon.status.events if e.kind == "rejected"]  # type: ignore[union-attr]
    assert event.reason == "not_cooled" and "cooled pipe" in str(event.data["message"])
    assert not plant.pump_on


def test_a_commissioned_clamp_on_ppr_stops_before_the_front_not_a_litre_after_it() -> None:
    """After commissioning, a slow sensor with no cold-line probe stops on the transit it
    measured (a little before the front), not on its first warming ≈ 10 s after the water:
    no water over cold_line_max_c reaches the cold line from a cooled pipe."""
    house = load_house("hil/houses/unseen/r0-clamp.toml").randomised(1)
    plant = Plant(house)
    zcw = Zcw(plant, READY_C)
    zcw.idle(COOL_S)
    assert zcw.commission("bathroom")
    zcw.idle(COOL_S)
    plant.reset_metrics()
    zcw.begin("bathroom")
    while zcw.active:
        zcw.tick(0.25)
    zcw.tick(5.0)
    assert plant.cold_line_peak_c < 38.0 and plant.hot_into_cold_l == 0.0


@pytest.mark.parametrize(
    ("reason", "refused", "says"),
    [
        ("rest", True, "the pump rests between cycles. Run `zcw commission bathroom` again"),
        ("not_cooled", True, "the pipe is not cool yet. Run `zcw commission bathroom` again"),
        ("busy", True, "a cycle is running. Run `zcw commission bathroom` again once"),
        ("fault", True, "zcw is in fault. Clear it (see `zcw status`)"),
        ("cycle_stopped", False, "was stopped before it finished, so nothing was stored"),
        ("no_result", False, "Check that bathroom's sensor sits on its hot pipe"),
        ("max_run", False, "ended early (hot water did not arrive within max_run_s)"),
    ],
)
def test_commissioning_that_measured_nothing_says_why_and_what_to_do(
    reason: str, refused: bool, says: str
) -> None:
    text = commission_failure(reason, "bathroom", refused=refused, retry_in_s=9.4)
    assert says in text
    assert "commission bathroom" in text  # what to run next, with the loop named
    assert f": {reason}" not in text and not text.endswith(reason)  # never the bare code
    if reason == "rest":
        assert "(it ends in 9 s)" in text
