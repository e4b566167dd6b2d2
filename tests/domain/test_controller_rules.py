"""Table tests: one test per rule of the cycle and per invariant I1–I7 (docs/safety.md),
driven through the scripted rig."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from zcw.domain.controller import Phase
from zcw.domain.learning import SLUG_FORGET_CYCLES, WEIGHT, Learned
from zcw.domain.model import HEATER_OUT, LoopParams, Params, Source
from zcw.testing.rig import Rig

BATH = LoopParams(name="bathroom", ready_c=38.0, max_run_s=180.0, sensor_tau_s=0.0)
KITCHEN = LoopParams(name="kitchen", ready_c=38.0, max_run_s=180.0, sensor_tau_s=0.0)


def rig(*loops: LoopParams, start_c: float = 20.0, **kw: object) -> Rig:
    params = Params(loops=loops or (BATH,), **kw)  # type: ignore[arg-type]
    r = Rig(params)
    for lp in params.loops:
        r.set_loop(lp.name, start_c)
    r.run(2.0)
    return r


def heat(r: Rig, loop: str = "bathroom", to_c: float = 40.0) -> None:
    r.set_loop(loop, to_c)


# --- rule 1: already hot -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("temp_c", "expected"),
    [
        (38.5, "already_hot"),
        (45.0, "already_hot"),
        (38.4, "cycle_started"),
        (35.9, "cycle_started"),
    ],
)
def test_already_hot_only_when_the_water_is_surely_hot(temp_c: float, expected: str) -> None:
    """A DS18B20 reads within ±0.5 K: only a reading that far past ready_c (38 °C here) is
    surely hot water; nothing moves then."""
    r = rig(start_c=temp_c)
    d = r.request("start")
    assert [e.kind for e in d.events] == [expected]
    if expected == "already_hot":
        r.run(2.0)
        assert r.history == []


def test_in_doubt_a_crossover_runs_a_short_cycle_and_stops_if_the_pipe_is_no_cooler() -> None:
    """A reading of ready_c up to ready_c + 0.5 K may be water just under ready_c: rather
    than answer already_hot, a cycle replaces the water at the valve with the pipe's own from
    upstream; no cooler (the reading holds), it stops there, a few seconds on, instead of
    waiting for a front a lagging sensor sees late on a warm pipe (hot water into the cold
    line)."""
    r = rig(start_c=38.2)  # ready 38: reads hot, in doubt by the sensor's accuracy
    assert [e.kind for e in r.request("start").events] == ["cycle_started"]
    d = r.run_until(lambda d: any(e.kind == "hot_ready" for e in d.events), 8.0)
    assert d is not None and r.changes("pump")[-1][1] is False
    pumped = r.changes("pump")[-1][0] - r.changes("pump")[0][0]
    assert 5.0 <= pumped <= 6.0


def test_in_doubt_under_ready_a_crossover_waits_for_the_front() -> None:
    """A reading under ready_c (in the hysteresis): water no cooler than that is still not
    hot, so the cycle does not settle on it; it waits for the heater's front. Keeping a
    learned window hot with settled pushes kept only the last metre warm while the pipe
    behind it cooled (docs/learning.md)."""
    r = rig(start_c=37.5)  # ready 38, hysteresis 2: in doubt, and under ready_c
    assert [e.kind for e in r.request("start").events] == ["cycle_started"]
    r.run(10.0)  # past the doubtful push; the reading holds
    assert r.controller.phase is Phase.RUNNING
    heat(r, to_c=39.0)
    assert r.run_until(lambda d: any(e.kind == "hot_ready" for e in d.events), 3.0) is not None


def test_in_doubt_a_cooler_pipe_upstream_makes_it_a_plain_cycle_for_the_front() -> None:
    r = rig(start_c=38.2)
    r.request("start")
    r.run(2.0)
    r.set_loop("bathroom", 36.0)  # cooler water from upstream: not hot after all
    r.run(10.0)
    assert r.controller.phase is Phase.RUNNING
    heat(r, to_c=39.0)
    assert r.run_until(lambda d: any(e.kind == "hot_ready" for e in d.events), 3.0) is not None


def test_in_doubt_a_return_line_waits_for_hot_water_it_sees_come() -> None:
    """No cold line at stake: the doubtful cycle stops only on water seen a sensor's accuracy
    past its aim, not on the doubtful water itself."""
    r = rig(start_c=37.5, topology="return_line")  # ready 38, hysteresis 2: in doubt
    assert [e.kind for e in r.request("start").events] == ["cycle_started"]
    r.run(15.0)
    assert r.controller.phase is Phase.RUNNING
    heat(r, to_c=41.0)
    assert r.run_until(lambda d: any(e.kind == "hot_ready" for e in d.events), 3.0) is not None


def test_a_pipe_cooling_under_its_lagging_reading_is_judged_by_the_water() -> None:
    """A reading of 38.6 °C falling 0.1 K/s through a 8 s lag is water at ≈ 37.8 °C: in
    doubt, so a cycle, where the reading alone said already hot."""
    lagging = LoopParams(name="bathroom", ready_c=38.0, sensor_tau_s=8.0)
    r = rig(lagging, start_c=42.0)
    temp = 42.0
    for _ in range(34 * 4):  # 34 s of a pipe cooling 0.1 K/s
        temp -= 0.025
        r.set_loop("bathroom", temp)
        r.tick()
    assert temp == pytest.approx(38.6)
    assert [e.kind for e in r.request("start").events] == ["cycle_started"]


# --- rule 2: valve lead, then pump ----------------------------------------------------------


def test_valve_opens_first_and_pump_follows_after_valve_lead() -> None:
    r = rig()
    t0 = r.now_s
    r.request("start")
    r.run(2.0)
    assert r.changes("bathroom") == [(t0, True)]
    assert r.changes("pump") == [(t0 + 0.5, True)]


# --- rule 3: stop on arrival, pump first, valve valve_lag_s later ---------------------------


def test_hot_arrival_stops_pump_then_closes_valve_after_lag() -> None:
    r = rig()
    r.request("start")
    r.run(10.0)
    heat(r)
    d = r.run_until(lambda d: any(e.kind == "hot_ready" for e in d.events), 3.0)
    t_hot = d.snapshot.at_s
    r.run(2.0)
    assert r.changes("pump")[-1] == (t_hot, False)
    assert r.changes("bathroom")[-1] == (t_hot + 0.5, False)
    assert r.controller.phase is Phase.IDLE
    assert r.last is not None and r.last.snapshot.last_cycle is not None
    assert r.last.snapshot.last_cycle.outcome == "hot"


def test_prediction_stops_before_the_lagging_sensor_reaches_ready() -> None:
    """With a sensor lag τ the controller stops on the predicted water, not the reading."""
    lagging = LoopParams(name="bathroom", sensor_tau_s=8.0)
    r = rig(lagging)
    r.request("start")
    temp = 20.0
    stopped_at_reading = None
    for _ in range(400):
        temp += 0.25 * 0.5  # the reading climbs 0.5 K/s, like a sensor behind a front
        r.set_loop("bathroom", temp)
        d = r.tick()
        if not d.relays.pump and r.changes("pump"):
            stopped_at_reading = temp
            break
    assert stopped_at_reading is not None
    # Lead ≈ τ·slope = 8 s × 0.5 K/s = 4 K: it stops around 34 °C, well before 38 °C.
    assert 32.0 < stopped_at_reading < 36.0


def _reading_at_stop(
    topology: str, transit_s: float | None = None, hint_s: float | None = None
) -> float:
    lp = LoopParams(name="bathroom", sensor_tau_s=8.0, transit_hint_s=hint_s)
    r = rig(lp, topology=topology)
    if transit_s is not None:
        r.controller.restore_learned({"bathroom": Learned(transit_s=transit_s, lead_gain=1.5)})
    return _climb_to_stop(r, 20.0)


def _climb_to_stop(r: Rig, from_c: float) -> float:
    """Start a cycle and let the reading climb 0.5 K/s: the reading when the pump stopped."""
    r.request("start")
    temp = from_c
    for _ in range(400):
        temp += 0.25 * 0.5
        r.set_loop("bathroom", temp)
        d = r.tick()
        if not d.relays.pump and r.changes("pump"):
            return temp
    raise AssertionError("never stopped")


def test_a_return_line_looks_ahead_as_a_crossover_does() -> None:
    """The water goes on moving after the last conversion into a return pipe or down a drain
    as it does into the cold line: the same prediction stops there too long before the
    lagging reading gets there (it used to wait for the recovered water itself, past
    ready_c, and sent hot water down the drain on nearly every event). It aims 1 K later:
    no cold line is at stake, and a stop a little late costs a fraction of a litre."""
    crossover, return_line = _reading_at_stop("crossover"), _reading_at_stop("return_line")
    # 0.5 K/s through an 8 s lag: the recovered water is the reading + 4 K; the margin is
    # two seconds of that climb.
    assert return_line == pytest.approx(crossover + 1.0)
    assert return_line < 36.0


def _reading_at_stop_from(start_c: float, learned: Learned) -> float:
    r = rig(LoopParams(name="bathroom", sensor_tau_s=8.0), start_c=start_c)
    r.controller.restore_learned({"bathroom": learned})
    return _climb_to_stop(r, start_c)


def test_a_warm_pipe_looks_ahead_with_the_warm_gain_a_cooled_one_with_its_own() -> None:
    # ready 38: a start at 32 °C is within COLD_START_K of it (warm), 20 °C is not (cooled).
    warm_only = Learned(lead_gain=0.0, warm_lead_gain=1.5)
    cold_only = Learned(lead_gain=1.5, warm_lead_gain=0.0)
    assert _reading_at_stop_from(32.0, warm_only) < _reading_at_stop_from(32.0, cold_only) - 0.5
    assert _reading_at_stop_from(20.0, cold_only) < _reading_at_stop_from(20.0, warm_only) - 0.5


def test_no_look_ahead_before_the_heaters_water_can_have_reached_the_valve() -> None:
    """A rise in the first half of a cooled pipe's transit is the pipe's own water on the
    move (a warm slug): extrapolated, it would stop the pump with cold water behind it."""
    # The same climb both times; the stop lands ≈ 28 s after the start, well past half of a
    # 20 s transit and well before half of a 200 s one.
    early_front = _reading_at_stop("crossover", transit_s=20.0)
    slug = _reading_at_stop("crossover", transit_s=200.0)
    # Without the look-ahead it waits for the recovered water (reading + τ·slope = +4 K)
    # itself to reach ready_c (38 °C), a conversion late; with it, it stops sooner.
    assert slug == pytest.approx(38.0 - 4.0, abs=0.6)
    assert early_front < slug - 0.5
    # What the pipe taught beats a hint (here a pump flow guessed far too low).
    assert _reading_at_stop("crossover", transit_s=20.0, hint_s=200.0) == early_front


STEP_FRONT = Learned(
    tau_s=8.0,
    # Stops on the estimate left the water 7 K over the cold-line limit: the clamp cannot
    # follow this front. From a 15 °C start the water arrived 30 s after pump on, every time.
    sensor_over_c=7.0,
    arrivals=((15.0, 30.0), (15.0, 30.1), (15.0, 29.9)),
)


def _pump_off_after_pump_on(learned: Learned, *, front: bool, r: Rig | None = None) -> float | None:
    r = r or rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=15.0)
    r.controller.restore_learned({"bathroom": learned})
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    pump_on = r.now_s
    reading = 15.0
    while r.now_s < pump_on + 40.0:
        if front and r.now_s >= pump_on + 24.0:
            # The clamp creeps up behind the front (1 K/s): far below ready_c, though the
            # recovered water (reading + τ·slope ≈ +8 K) is out of the cooled-pipe range.
            reading += 0.25
        r.set_loop("bathroom", reading)
        if not r.tick().relays.pump:
            return r.now_s - pump_on
    return None


def test_a_front_the_estimate_cannot_catch_stops_on_the_learned_arrival() -> None:
    # Learned arrival 30 s; the stop comes a spin-down (0.3 s) ahead of it, on a 0.25 s tick.
    stopped = _pump_off_after_pump_on(STEP_FRONT, front=True)
    assert stopped is not None and 29.6 <= stopped <= 30.0
    # The reading was ≈ 21 °C then: the estimate alone stops seconds later.
    alone = _pump_off_after_pump_on(replace(STEP_FRONT, sensor_over_c=None), front=True)
    assert alone is not None and alone > stopped + 3.0


def test_no_stop_on_the_learned_arrival_before_the_outlet_proves_the_burner_lit() -> None:
    """I6 keeps its say: a front the loop sensor seems to show, with the heater outlet cold,
    is no arrival; the cycle runs on and aborts as heater_not_firing."""
    lp = LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0)
    # The learned arrival is due at 30 s; the burner gets until 33 s to prove it lit.
    r = rig(lp, start_c=15.0, has_heater_out=True, ignition_timeout_s=33.0)
    r.temps[HEATER_OUT] = 15.0  # the burner never lights
    assert _pump_off_after_pump_on(STEP_FRONT, front=True, r=r) is not None
    assert [f.code for f in r.controller.faults] == ["heater_not_firing"]
    assert "hot_ready" not in r.kinds()


def test_a_stop_on_the_learned_arrival_that_came_out_cold_sends_the_next_to_the_estimate() -> None:
    r = rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=15.0)
    on_line = _pump_off_after_pump_on(STEP_FRONT, front=True, r=r)
    assert on_line is not None
    r.run(65.0)  # the reading stands at ≈ 16 °C: the water never reached ready_c
    learned = r.controller.learned["bathroom"]
    assert learned.arrival_doubted
    assert learned.arrivals == STEP_FRONT.arrivals  # no arrival was seen, none is added
    # So the next cycle runs on to the estimate, which sees the front arrive.
    on_estimate = _pump_off_after_pump_on(learned, front=True)
    assert on_estimate is not None and on_estimate > on_line + 3.0


def test_the_learned_arrival_needs_the_front_to_show_and_the_estimate_to_be_late() -> None:
    # A heater that lit late, or not at all: no rise, so the learned time alone never stops.
    assert _pump_off_after_pump_on(STEP_FRONT, front=False) is None
    # Where stops on the estimate stayed under the limit, the estimate keeps the stop.
    stopped = _pump_off_after_pump_on(replace(STEP_FRONT, sensor_over_c=-0.5), front=True)
    assert stopped is not None and stopped > 33.0
    # And a warm slug that rises 3 K but stays in the cooled-pipe range is not the front.
    r = rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=15.0)
    r.controller.restore_learned({"bathroom": STEP_FRONT})
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    r.run(22.0)
    reading = 15.0
    for _ in range(52):  # 0.4 K/s to 35 s: the recovered water rises ≈ 8 K, to ≈ 23 °C
        reading += 0.1
        r.set_loop("bathroom", reading)
        assert r.tick().relays.pump


def _learned_arrival_stop(rise_k: float, start_c: float = 24.0) -> float | None:
    """From a 24 °C start (cooled, just), the reading climbs ``rise_k`` by 25 s and holds."""
    warmish = replace(STEP_FRONT, arrivals=((start_c, 30.0), (start_c, 30.1), (start_c, 29.9)))
    r = rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=start_c)
    r.controller.restore_learned({"bathroom": warmish})
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    pump_on = r.now_s
    while r.now_s < pump_on + 40.0:
        reading = start_c + rise_k * min(1.0, max(0.0, (r.now_s - pump_on - 15.0) / 10.0))
        r.set_loop("bathroom", round(reading / 0.0625) * 0.0625)
        if not r.tick().relays.pump:
            return r.now_s - pump_on
    return None


def test_the_learned_arrival_wants_a_3_k_rise_not_just_water_out_of_the_cold_range() -> None:
    """I6 without an outlet sensor: the learned time is due, the water reads out of the
    cooled-pipe range (≥ 26 °C), yet it rose under FRONT_EVIDENCE_K (3 K) in this cycle: the
    pipe's own water on the move, not the heater's front. No stop, no hot_ready."""
    assert _learned_arrival_stop(2.5) is None
    # The same cycle with the front showing (a 4 K rise) stops on the learned arrival.
    stopped = _learned_arrival_stop(4.0)
    assert stopped is not None and 29.6 <= stopped <= 30.0


def test_a_warm_pipe_gets_no_learned_arrival_before_the_outlet_proves_the_burner_lit() -> None:
    """I6 for the warm-start line too: the front seems to show at 27 °C + 4 K, the outlet
    stays cold, and the cycle ends as heater_not_firing, never as hot_ready."""
    lp = LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0)
    r = rig(lp, start_c=27.0, has_heater_out=True, ignition_timeout_s=33.0)
    r.temps[HEATER_OUT] = 27.0  # the burner never lights
    warmish = replace(STEP_FRONT, arrivals=((27.0, 30.0), (27.0, 30.1), (27.0, 29.9)))
    r.controller.restore_learned({"bathroom": warmish})
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    pump_on = r.now_s
    while r.now_s < pump_on + 40.0:
        reading = 27.0 + 4.0 * min(1.0, max(0.0, (r.now_s - pump_on - 15.0) / 10.0))
        r.set_loop("bathroom", round(reading / 0.0625) * 0.0625)
        r.tick()
    assert "hot_ready" not in r.kinds()
    assert [f.code for f in r.controller.faults] == ["heater_not_firing"]


def test_a_warm_pipe_stops_on_the_learned_arrival_too() -> None:
    """A second shower from a pipe still at 27 °C: the front comes in as a step on top of
    the pipe's own warm water, faster than the estimate can follow, yet on time by the line."""
    stopped = _learned_arrival_stop(4.0, start_c=27.0)
    assert stopped is not None and 29.6 <= stopped <= 30.0
    assert _learned_arrival_stop(2.5, start_c=27.0) is None  # the front must still show


def test_a_sensor_that_warms_but_never_reads_ready_teaches_the_loop_to_stop_on_the_rise() -> None:
    """A dry clip on plastic (docs/physics.md §4) can sit below ready_c with hot water flowing."""
    r = rig(LoopParams(name="bathroom", max_run_s=20.0, sensor_tau_s=0.0), min_rest_s=0.0)
    r.request("start")
    r.run(5.0)
    r.set_loop("bathroom", 31.0)  # warmed by 11 K, and no further
    r.run(20.0)
    fault = next(f for f in r.controller.faults if f.code == "max_run")
    assert "never read ready_c" in fault.hint and "cold_sensor" in fault.hint
    assert r.controller.learned["bathroom"].stops_on_rise
    r.set_loop("bathroom", 20.0)
    r.run(5.0)
    r.request("start")
    r.run(5.0)
    assert r.controller.phase is Phase.RUNNING
    r.set_loop("bathroom", 20.9)  # under WARMING_K (1 K): not yet
    r.run(3.0)
    assert r.controller.phase is Phase.RUNNING and "hot_ready" not in r.kinds()
    r.set_loop("bathroom", 21.0)  # the first clear warming is now the arrival
    d = r.run_until(lambda d: any(e.kind == "hot_ready" for e in d.events), 3.0)
    assert not d.relays.pump
    # The installer re-seats the sensor on the valve body, as the hint says, and resets.
    r.request("reset")
    assert not r.controller.learned["bathroom"].stops_on_rise


def test_no_stop_on_a_slow_sensors_warming_before_the_outlet_proves_the_burner_lit() -> None:
    """I6 for a loop that stops on its sensor's first warming: a warm slug lifts the clip
    1 K while the heater outlet stays cold. No hot_ready; the cycle aborts, heater_not_firing."""
    lp = LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0)
    r = rig(lp, start_c=15.0, has_heater_out=True, ignition_timeout_s=20.0)
    r.controller.restore_learned({"bathroom": Learned(stops_on_rise=True)})
    r.temps[HEATER_OUT] = 15.0  # the burner never lights
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    r.run(5.0)
    r.set_loop("bathroom", 17.0)  # the pipe's own warmer water reaches the clip
    r.run(20.0)
    assert [f.code for f in r.controller.faults] == ["heater_not_firing"]
    assert "hot_ready" not in r.kinds()
    assert r.controller.phase is not Phase.RUNNING


def test_a_slow_sensors_warming_is_no_front_before_the_front_can_have_come() -> None:
    """Warm water standing in a shared trunk reaches a short branch long before the heater's
    front: a 1 K warming that early is not the arrival (FRONT_EARLIEST_TRANSIT of 60 s)."""
    lp = LoopParams(name="near", ready_c=36.0, sensor_tau_s=8.0)
    r = rig(lp, start_c=10.0)
    r.controller.restore_learned({"near": Learned(stops_on_rise=True, transit_s=60.0)})
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    pump_on = r.now_s
    r.run(10.0)
    r.set_loop("near", 11.5)  # the trunk's warm water at the clip, 10 s in
    r.run(15.0)
    assert r.tick().relays.pump and "hot_ready" not in r.kinds()
    # Half the transit on, the same warming may be the front.
    d = r.run_until(lambda d: not d.relays.pump, 10.0)
    assert not d.relays.pump and "hot_ready" in r.kinds()
    assert 30.0 <= r.now_s - pump_on <= 30.5


def _near(learned: Learned, *, start_c: float = 10.0) -> tuple[Rig, float]:
    """A near tap that stops on its clip's first warming, started; returns it at pump on."""
    # A short τ: the estimate stays out of it, this is the rise stop alone.
    r = rig(LoopParams(name="near", ready_c=36.0, sensor_tau_s=0.5), start_c=start_c)
    r.controller.restore_learned({"near": learned})
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    return r, r.now_s


# The clip of a cooled near tap first rose 70 s after pump on in its clean cycles.
NEAR = Learned(stops_on_rise=True, transit_s=60.0, transit_cycles=3, rise_s=70.0)


def _near_cycle(
    creep_c: float, learned: Learned = NEAR, *, start_c: float = 10.0
) -> tuple[Rig, float]:
    """The reading creeps ``creep_c`` by 20 s (a slug from the shared trunk, or nothing),
    then warms 1 K at 40 s. Returns the rig and when the pump went off, after pump on."""
    r, pump_on = _near(learned, start_c=start_c)
    r.run(20.0)
    r.set_loop("near", start_c + creep_c)
    r.run(20.0)
    r.set_loop("near", start_c + 1.0)
    r.run_until(lambda d: not d.relays.pump, 40.0)
    assert "hot_ready" in r.kinds()
    return r, r.now_s - pump_on


def test_a_slugs_creep_holds_a_first_warming_back_to_most_of_the_learned_rise() -> None:
    """A lukewarm slug from a shared trunk creeps a slow clip up long before the heater's
    front can be there (H4's near tap after the far one). A reading that had moved
    SLUG_RISE_K by half the learned rise (35 s) stops only from SLUG_EARLIEST_RISE of it
    (56 s); one that held still, or moved one step of jitter, stops on its 1 K warming at
    once (40 s)."""
    _, slug_stop = _near_cycle(creep_c=0.25)
    assert 56.0 <= slug_stop <= 56.5
    # A slug that lifts it the whole 1 K by 20 s is held too: until it is judged at 35 s,
    # a warming is not yet the front's.
    _, early_slug_stop = _near_cycle(creep_c=1.0)
    assert 56.0 <= early_slug_stop <= 56.5
    for jitter_c in (0.0, 0.0625):
        r, clean_stop = _near_cycle(creep_c=jitter_c)
        assert 40.0 <= clean_stop <= 40.5
    # The clean cycle's early rise moves the learned one, by the weight.
    rise_s = r.controller.learned["near"].rise_s
    assert rise_s == pytest.approx(70.0 + WEIGHT * (clean_stop - 70.0), abs=0.5)


def test_a_slugs_cycle_teaches_neither_the_rise_nor_the_transit() -> None:
    r, _ = _near_cycle(creep_c=0.25)
    learned = r.controller.learned["near"]
    assert learned.rise_s == 70.0 and learned.slug_cycles == 1
    assert learned.transit_s == 60.0 and learned.transit_cycles == 3


def test_a_front_that_always_looks_like_a_slug_gets_its_rise_measured_anew() -> None:
    """A faster pump brings the front before half the learned rise: every cycle would be
    held as a slug's and teach nothing. After SLUG_FORGET_CYCLES in a row the rise is
    forgotten, and the next cycle stops on its warming and measures it."""
    learned = NEAR
    for _ in range(SLUG_FORGET_CYCLES):
        r, stop = _near_cycle(creep_c=0.25, learned=learned)
        assert stop >= 56.0
        learned = r.controller.learned["near"]
    assert learned.rise_s is None
    r, stop = _near_cycle(creep_c=0.25, learned=learned)
    assert 40.0 <= stop <= 40.5
    assert r.controller.learned["near"].rise_s == pytest.approx(40.0, abs=0.5)


def test_a_warm_pipes_first_warming_is_never_held_as_a_slugs() -> None:
    """The rise is learned from cooled pipes; a warm one's front comes early, and its
    reading moves as the front comes in on top of its own warm water."""
    for creep_c in (0.25, 0.0):
        r, stop = _near_cycle(creep_c=creep_c, start_c=30.0)
        assert 40.0 <= stop <= 40.5
        learned = r.controller.learned["near"]
        assert learned.rise_s == 70.0 and learned.slug_cycles == 0  # nor does it teach


def test_a_bump_that_falls_back_is_not_the_rise_it_learns() -> None:
    """A 1 K bump at 15 s that falls back by 20 s, then the front's warming at 65 s: the
    stop is on the second, and so is what the loop learns of its rise."""
    r, pump_on = _near(NEAR)
    r.run(15.0)
    r.set_loop("near", 11.0)
    r.run(5.0)
    r.set_loop("near", 10.0)
    r.run(45.0)
    assert r.tick().relays.pump
    r.set_loop("near", 11.0)
    r.run_until(lambda d: not d.relays.pump, 5.0)
    stop = r.now_s - pump_on
    assert 65.0 <= stop <= 66.5
    rise_s = r.controller.learned["near"].rise_s
    assert rise_s == pytest.approx(70.0 + WEIGHT * (stop - 70.0), abs=0.5)


def test_a_max_run_cycle_whose_clip_warmed_teaches_when_it_did() -> None:
    """The first cycle of a clip that never reads ready_c runs to max_run_s; when it first
    warmed 1 K is the rise the next cycles judge a slug by."""
    r, _ = _near(Learned(), start_c=10.0)
    r.run(60.0)
    r.set_loop("near", 11.0)
    r.run(10.0)
    r.set_loop("near", 20.0)
    r.run_until(lambda d: "cycle_aborted" in [e.kind for e in d.events], 130.0)
    learned = r.controller.learned["near"]
    assert learned.stops_on_rise
    assert learned.rise_s == pytest.approx(60.0, abs=1.0)


def test_a_learned_rise_past_max_run_holds_nothing() -> None:
    """A rise learned before max_run_s was lowered would hold every slug's stop to max_run."""
    _, stop = _near_cycle(creep_c=0.25, learned=replace(NEAR, rise_s=300.0))
    assert 40.0 <= stop <= 40.5


def _cycle_then_catch_up(
    r: Rig, after_stop_c: float, *, steps: int = 60, lag_s: float | None = None
) -> None:
    """One cycle from a cooled pipe, stopped on the estimate; then the sensor climbs in a
    straight line to ``after_stop_c`` over the minute after the stop, as a clamp on plastic
    catches up with water the stop left at the valve (never a first-order lag: no fit); or,
    with ``lag_s``, as a sensor with that lag catches up with it."""
    r.set_loop("bathroom", 15.0)
    r.run(35.0)  # rested, and the sensor reads the cooled pipe
    r.request("start")
    r.run_until(lambda d: d.relays.pump, 2.0)
    r.run(20.0)
    r.set_loop("bathroom", 36.5)  # the estimate reads ready_c: stop
    r.run_until(lambda d: not d.relays.pump, 3.0)
    if lag_s is None:
        r.run(1.0)
    for k in range(1, steps + 1):
        done = k / steps if lag_s is None else 1.0 - math.exp(-k / lag_s)
        r.set_loop("bathroom", 36.5 + (after_stop_c - 36.5) * done)
        r.run(1.0)
    r.run(5.0)  # the minute after the stop is over: the controller judges it


def test_a_sensor_that_catches_up_past_the_limit_after_the_stop_raises_late_stop() -> None:
    """I5 without T_cold, after the fact: the water the stop left at the valve read 40 °C,
    over cold_line_max_c (38 °C), so water that hot entered the cold line."""
    r = rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=15.0)
    _cycle_then_catch_up(r, 40.0)
    fault = next(f for f in r.controller.faults if f.code == "late_stop")
    assert not fault.latching and "40.0 °C" in fault.message and "valve body" in fault.hint
    assert not r.controller.learned["bathroom"].stops_on_rise  # one cycle proves little
    assert r.controller.phase is Phase.IDLE  # a warning: the next request still starts
    # A stop on time (the water standing at 37 °C) clears it.
    _cycle_then_catch_up(r, 37.0)
    assert "late_stop" not in [f.code for f in r.controller.faults]


def test_a_sensor_no_lag_fit_explains_that_keeps_stopping_late_stops_on_its_warming() -> None:
    """A clamp on bare PPR reads the water through the wall, 52 s late (docs/physics.md §4): after
    three cooled-pipe cycles without one first-order fit, a late stop sends the loop to its
    sensor's first warming, as a sensor that never reads ready_c is sent by max_run."""
    unfitted = Learned(transit_s=25.0, transit_cycles=3)
    r = rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=15.0)
    r.controller.restore_learned({"bathroom": unfitted})
    _cycle_then_catch_up(r, 44.0)
    assert r.controller.learned["bathroom"].stops_on_rise
    fault = next(f for f in r.controller.faults if f.code == "late_stop")
    assert "first warms" in fault.hint
    # A sensor whose lag did fit is one the estimate can invert: the warning only. (It
    # catches up as that lag does: climbing in a straight line for a minute, it would show
    # water drawn, not standing.)
    fitted = replace(unfitted, tau_s=8.0, tau_fits=3, tau_weight=1.0)
    r = rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=15.0)
    r.controller.restore_learned({"bathroom": fitted})
    _cycle_then_catch_up(r, 44.0, lag_s=8.0)
    assert not r.controller.learned["bathroom"].stops_on_rise
    assert "late_stop" in [f.code for f in r.controller.faults]


def test_reset_forgets_what_was_concluded_of_the_sensor_not_what_was_measured() -> None:
    r = rig(LoopParams(name="bathroom", ready_c=36.0, sensor_tau_s=8.0), start_c=15.0)
    doubted = replace(STEP_FRONT, arrival_doubted=True, stops_on_rise=True, rise_s=70.0)
    r.controller.restore_learned({"bathroom": doubted})
    r.request("reset")
    learned = r.controller.learned["bathroom"]
    assert learned.sensor_over_c is None and not learned.arrival_doubted
    assert not learned.stops_on_rise and learned.rise_s is None  # the re-seated sensor's own
    assert learned.arrivals == STEP_FRONT.arrivals and learned.tau_s == STEP_FRONT.tau_s
    assert learned.arrival_for(15.0) is None  # the estimate is judged anew first


def test_falling_reading_never_counts_as_arrival() -> None:
    r = rig(LoopParams(name="bathroom", sensor_tau_s=30.0))
    r.set_loop("bathroom", 35.0)
    r.run(3.0)
    r.request("start")
    for step in range(40):
        r.set_loop("bathroom", 35.0 - 0.2 * step)
        r.tick()
    assert "hot_ready" not in r.kinds()
    assert r.controller.phase is Phase.RUNNING


# --- rule 4: max_run_s, min_rest_s, re-trigger joins ---------------------------------------


def test_max_run_aborts_and_second_in_a_row_latches_until_reset() -> None:
    r = rig(LoopParams(name="bathroom", max_run_s=20.0, sensor_tau_s=0.0, transit_hint_s=60))
    r.request("start")
    r.run(25.0)
    assert "cycle_aborted" in r.kinds()
    codes = {f.code: f.latching for f in r.controller.faults}
    assert codes == {"max_run": False}
    assert r.relays is not None and r.relays.all_off
    r.run(31.0)  # min_rest
    r.request("start")
    r.run(25.0)
    assert {f.code: f.latching for f in r.controller.faults} == {"max_run": True}
    r.run(31.0)
    d = r.request("start")
    assert [(e.kind, e.reason) for e in d.events] == [("rejected", "fault")]
    r.request("reset")
    assert not r.controller.faults
    r.run(1.0)
    assert [e.kind for e in r.request("start").events] == ["cycle_started"]


def test_min_rest_rejects_then_allows() -> None:
    r = rig(min_rest_s=30.0)
    r.request("start")
    r.run(3.0)
    r.request("stop")
    r.run(1.0)
    d = r.request("start")
    assert [(e.kind, e.reason) for e in d.events] == [("rejected", "rest")]
    r.run(30.0)
    assert [e.kind for e in r.request("start").events] == ["cycle_started"]


def test_retrigger_joins_running_cycle_without_a_second_start() -> None:
    r = rig()
    r.request("start", source=Source.BUTTON)
    r.run(5.0)
    d = r.request("start", source=Source.MQTT)
    assert [e.kind for e in d.events] == ["joined"]
    assert r.kinds().count("cycle_started") == 1
    assert len(r.changes("pump")) == 1


# --- several loops on one pump -------------------------------------------------------------


def test_two_loops_share_the_pump_and_close_independently() -> None:
    r = rig(BATH, KITCHEN)
    r.request("start", "bathroom")
    r.run(3.0)
    assert [e.kind for e in r.request("start", "kitchen").events] == ["joined"]
    r.run(3.0)
    heat(r, "bathroom")
    r.run(3.0)
    assert r.relays is not None
    assert r.relays.pump and r.relays.valves["kitchen"] and not r.relays.valves["bathroom"]
    heat(r, "kitchen")
    d = r.run_until(lambda d: not d.relays.pump, 3.0)
    assert d.relays.valves["kitchen"]  # valve lag: pump first
    r.run(1.0)
    assert r.relays.all_off
    assert [e.loop for e in r.events if e.kind == "hot_ready"] == ["bathroom", "kitchen"]


def test_unknown_loop_is_rejected() -> None:
    r = rig()
    d = r.request("start", "garage")
    assert [(e.kind, e.reason) for e in d.events] == [("rejected", "unknown_loop")]


def test_stop_request_stops_pump_first() -> None:
    r = rig()
    r.request("start")
    r.run(5.0)
    t = r.now_s
    r.request("stop")
    r.run(1.0)
    assert r.changes("pump")[-1] == (t, False)
    assert r.changes("bathroom")[-1] == (t + 0.5, False)


# --- away mode -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (Source.SCHEDULE, ("rejected", "away")),
        (Source.LEARNED, ("rejected", "away")),
        (Source.BUTTON, ("cycle_started", None)),
        (Source.MIHOME, ("cycle_started", None)),
    ],
)
def test_away_suppresses_automatic_triggers_only(
    source: Source, expected: tuple[str, str | None]
) -> None:
    r = rig()
    r.request("mode", mode="away")
    d = r.request("start", source=source)
    assert [(e.kind, e.reason) for e in d.events] == [expected]


# --- sensor validation (I4) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("power_on_85", "sensor_invalid"),
        ("minus_127", "sensor_invalid"),
        ("crc", "sensor_invalid"),
        ("out_of_range", "sensor_invalid"),
        ("stale", "sensor_stale"),
    ],
)
def test_invalid_loop_reading_rejects_start_and_names_the_fault(setup: str, code: str) -> None:
    params = Params(loops=(BATH,))
    r = Rig(params)
    if setup == "power_on_85":
        r.set_loop("bathroom", 85.0)
    elif setup == "minus_127":
        r.set_loop("bathroom", -127.0)
    elif setup == "crc":
        r.errors["loop:bathroom"] = "crc"
    elif setup == "out_of_range":
        r.set_loop("bathroom", 120.0)
    else:
        r.set_loop("bathroom", 20.0)
        r.run(1.0)
        r.frozen.add("loop:bathroom")
        r.run(4.0)
    r.run(1.0)
    d = r.request("start")
    assert [(e.kind, e.reason) for e in d.events] == [("rejected", "fault")]
    assert [f.code for f in r.controller.faults] == [code]
    fault = r.controller.faults[0]
    assert fault.message and fault.hint and not fault.latching
    assert r.history == []


def test_reading_lost_as_the_pump_is_due_closes_the_valve_at_once_without_a_veto() -> None:
    """The loop sensor goes stale during the valve lead: the pump never runs, so the valve
    closes on that tick instead of waiting out a valve lag (which would break I1)."""
    r = rig()
    r.tick()  # a conversion at 2.0 s, the last one: 3 periods later, during the lead, it is stale
    r.frozen.add("loop:bathroom")
    r.run(2.5)
    t0 = r.now_s
    assert [e.kind for e in r.request("start").events] == ["cycle_started"]
    d = r.run_until(lambda d: any(e.kind == "cycle_aborted" for e in d.events), 10.0)
    assert d.vetoes == ()
    assert not d.relays.pump and not any(d.relays.valves.values())
    assert r.changes("pump") == []
    assert r.changes("bathroom") == [(t0, True), (d.snapshot.at_s, False)]
    assert r.controller.phase is Phase.IDLE


def test_85_after_valid_readings_is_a_jump_not_a_power_on() -> None:
    r = rig()
    r.set_loop("bathroom", 85.0)
    r.run(1.0)
    assert [f.code for f in r.controller.faults] == ["sensor_invalid"]
    assert "jumped" in r.controller.faults[0].message


def test_transient_sensor_fault_clears_when_the_sensor_recovers() -> None:
    r = rig()
    r.set_loop("bathroom", -127.0)
    r.run(2.0)
    assert r.controller.faults
    r.set_loop("bathroom", 20.0)
    r.run(2.0)
    assert not r.controller.faults
    assert "fault_cleared" in r.kinds()


def test_sensor_failing_mid_cycle_aborts_and_closes_valve() -> None:
    r = rig()
    r.request("start")
    r.run(5.0)
    r.set_loop("bathroom", -127.0)
    r.run(3.0)
    assert r.relays is not None and r.relays.all_off
    assert "cycle_aborted" in r.kinds()


# --- I5 cold-line overrun ------------------------------------------------------------------


def test_cold_line_overrun_stops_everything_at_once_and_latches() -> None:
    loop = LoopParams(name="bathroom", has_cold_sensor=True, sensor_tau_s=0.0)
    r = rig(loop)
    r.set_cold("bathroom", 15.0)
    r.run(1.0)
    r.request("start")
    r.run(5.0)
    r.set_cold("bathroom", 38.5)
    d = r.run_until(lambda d: not d.relays.pump, 1.5)
    assert d.relays.all_off  # no valve lag: the cold line is already too hot
    # A 23.5 K step in one period is also more than water does: the probe is reported too.
    faults = {(f.code, f.latching) for f in r.controller.faults}
    assert faults == {("cold_line_overrun", True), ("cold_sensor_invalid", False)}
    r.set_cold("bathroom", 15.0)
    r.run(40.0)
    assert [(e.kind, e.reason) for e in r.request("start").events] == [("rejected", "fault")]


def test_cold_side_probe_witnesses_arrival_when_the_loop_sensor_lags() -> None:
    # A dry clip on plastic may never read ready_c; the probe just past the valve sees the
    # water that arrived there, and the cycle ends before the cold line gets too hot.
    loop = LoopParams(name="bathroom", ready_c=36.0, has_cold_sensor=True, sensor_tau_s=0.0)
    r = rig(loop)
    r.set_cold("bathroom", 15.0)
    r.run(1.0)
    r.request("start")
    r.run(20.0)
    r.set_cold("bathroom", 36.5)  # the loop sensor still reads 20 °C
    r.run(2.0)
    assert "hot_ready" in r.kinds()
    assert r.relays is not None and not r.relays.pump
    assert not r.controller.faults


def test_a_warm_slug_left_behind_the_valve_is_not_an_arrival() -> None:
    loop = LoopParams(name="bathroom", ready_c=36.0, has_cold_sensor=True, sensor_tau_s=0.0)
    r = rig(loop)
    r.set_cold("bathroom", 36.5)  # what the last stop left just past the valve
    r.run(1.0)
    r.request("start")
    r.run(20.0)
    assert "hot_ready" not in r.kinds()
    assert r.controller.phase is Phase.RUNNING


def _ramp_cold(r: Rig, from_c: float, to_c: float, k_per_s: float) -> float | None:
    """Raise the cold-line probe k_per_s a second; return the reading it stopped at (None:
    no stop by to_c)."""
    value = from_c
    while value <= to_c:
        r.set_cold("bathroom", value)
        r.run(1.0)
        if "hot_ready" in r.kinds():
            return value
        value += k_per_s
    return None


COLD_PROBED = LoopParams(name="bathroom", ready_c=36.0, has_cold_sensor=True, sensor_tau_s=0.0)


def _probed_cycle(cold_c: float, pump_s: float, learned: Learned | None = None) -> Rig:
    """A loop with a cold-line probe reading ``cold_c``, ``pump_s`` into a cycle."""
    r = rig(COLD_PROBED)
    r.set_cold("bathroom", cold_c)
    r.run(1.0)
    if learned is not None:
        r.controller.restore_learned({"bathroom": learned})
    r.request("start")
    r.run(pump_s)
    return r


def test_the_cold_probe_stop_looks_ahead_by_how_far_the_probe_trails_the_water() -> None:
    """A front climbing 1 K/s past a probe that trails the water by 4 s: stopping when the
    probe reads 36 °C lets 40 °C into the cold line. With the lag it learned, the stop
    comes as the water entering, not the probe, reaches 36 °C (H4 with a tap drawing)."""
    stops = {}
    for lag in (None, 4.0):
        r = _probed_cycle(15.0, 20.0, None if lag is None else Learned(cold_lag_s=lag))
        stops[lag] = _ramp_cold(r, 16.0, 40.0, 1.0)
    # Unlearned it still projects the reading's own age (one period): a kelvin at 1 K/s.
    assert stops[None] == pytest.approx(35.0)
    assert stops[4.0] == pytest.approx(32.0)


def test_a_warm_restart_stops_before_the_cold_line_limit_though_the_probe_never_rose() -> None:
    """A loop re-heated two minutes after its last stop: the probe starts at 36.6 °C (what
    that stop left) and the water behind the valve is hotter still. It never rises the 2 K
    that says a front came, yet the stop comes a sensor's accuracy under the limit (H4's
    keep-warm latched the overrun on its first morning)."""
    r = _probed_cycle(36.6, 5.0)
    stop_c = _ramp_cold(r, 36.6, 38.5, 0.1)
    assert stop_c is not None and stop_c < 37.5
    assert not r.controller.faults


def test_the_probe_lag_is_learned_from_its_catch_up_after_the_stop() -> None:
    r = _probed_cycle(15.0, 20.0)
    stop_c = _ramp_cold(r, 15.5, 40.0, 0.5)
    assert stop_c is not None
    for _ in range(6):  # the last water in: the probe catches up 3 K, then the line cools
        stop_c += 0.5
        r.set_cold("bathroom", stop_c)
        r.run(1.0)
    r.set_cold("bathroom", stop_c - 1.0)
    r.run(30.0)
    lag = r.controller.learned["bathroom"].cold_lag_s
    assert lag is not None and 5.0 <= lag <= 7.5


# --- I6 heater must fire -------------------------------------------------------------------


def test_heater_not_firing_detected_on_outlet_sensor_within_ignition_timeout() -> None:
    r = rig(has_heater_out=True, ignition_timeout_s=30.0)
    r.temps[HEATER_OUT] = 15.0
    r.run(1.0)
    r.request("start")
    r.run(29.0)
    assert not r.controller.faults
    r.run(3.0)
    fault = r.controller.faults[0]
    assert fault.code == "heater_not_firing"
    assert "activation flow" in fault.message
    assert r.relays is not None and r.relays.all_off


def test_heater_outlet_rise_proves_ignition() -> None:
    r = rig(has_heater_out=True, ignition_timeout_s=30.0)
    r.temps[HEATER_OUT] = 15.0
    r.run(1.0)
    r.request("start")
    r.run(5.0)
    r.temps[HEATER_OUT] = 45.0
    for i in range(60):
        r.set_loop("bathroom", 20.0 + 0.1 * (i % 3))  # the stale water wobbles by an LSB or so
        r.run(1.0)
    assert not r.controller.faults
    assert r.controller.phase is Phase.RUNNING


@pytest.mark.parametrize(
    ("transit_hint_s", "not_before_s"),
    [(10.0, 10.0 + 60.0), (None, 0.5 * 180.0 + 60.0)],  # unknown transit: half of max_run
)
def test_stuck_loop_sensor_while_heater_fires_aborts_once_the_front_is_due(
    transit_hint_s: float | None, not_before_s: float
) -> None:
    loop = LoopParams(name="bathroom", sensor_tau_s=0.0, transit_hint_s=transit_hint_s)
    r = rig(loop, has_heater_out=True, ignition_timeout_s=30.0)
    r.temps[HEATER_OUT] = 15.0
    r.run(1.0)
    r.request("start")
    pump_on = r.now_s + 0.5
    r.run(5.0)
    r.temps[HEATER_OUT] = 45.0
    r.run_until(lambda d: any(e.reason == "sensor_stuck" for e in d.events), 200.0)
    assert not_before_s <= r.now_s - pump_on <= not_before_s + 1.0
    r.run(1.0)
    assert r.relays is not None and r.relays.all_off


def test_heater_not_firing_without_outlet_sensor_uses_loop_sensor_and_transit() -> None:
    loop = LoopParams(name="bathroom", sensor_tau_s=0.0, transit_hint_s=30.0)
    r = rig(loop, ignition_timeout_s=30.0)
    r.request("start")
    r.run(59.0)
    assert not r.controller.faults
    r.run(2.0)
    assert [f.code for f in r.controller.faults] == ["heater_not_firing"]
    assert "loop sensor" in r.controller.faults[0].message


# --- bridge offline, I7 --------------------------------------------------------------------


def test_bridge_offline_forces_all_off_and_clears_on_return() -> None:
    r = rig()
    r.request("start")
    r.run(5.0)
    r.bridge_online = False
    r.tick()
    assert r.relays is not None and r.relays.all_off
    assert [f.code for f in r.controller.faults] == ["bridge_offline"]
    r.bridge_online = True
    r.run(1.0)
    assert not r.controller.faults


def test_fail_safe_turns_everything_off_and_latches() -> None:
    r = rig()
    r.request("start")
    r.run(5.0)
    d = r.controller.fail_safe(r.now_s, "ZeroDivisionError")
    assert d.relays.all_off
    assert d.snapshot.state == "fault"
    assert d.snapshot.fault is not None and d.snapshot.fault.code == "internal_error"


# --- topologies ----------------------------------------------------------------------------


def test_drain_topology_opens_only_the_valve() -> None:
    r = rig(topology="drain", has_pump=False)
    r.request("start")
    r.run(3.0)
    assert r.relays is not None and r.relays.valves["bathroom"] and not r.relays.pump
    heat(r)
    r.run(2.0)
    assert r.relays.all_off
    assert r.changes("pump") == []


def test_return_line_without_valve_runs_pump_alone() -> None:
    loop = LoopParams(name="bathroom", has_valve=False, sensor_tau_s=0.0)
    r = rig(loop, topology="return_line")
    r.request("start")
    r.run(3.0)
    assert r.relays is not None and r.relays.pump and not r.relays.any_valve_open
    heat(r)
    r.run(2.0)
    assert r.relays.all_off


def test_heater_check_without_outlet_or_transit_leaves_long_pipes_to_max_run() -> None:
    # A 166 s pipe (H4's far tap) with nothing known: a guessed deadline would abort every
    # cycle as a false "heater not firing". max_run_s ends the cycle instead.
    loop = LoopParams(name="bathroom", sensor_tau_s=0.0, max_run_s=180.0)
    r = rig(loop, ignition_timeout_s=30.0)
    r.request("start")
    r.run(170.0)
    assert not r.controller.faults
    assert r.controller.phase is Phase.RUNNING
    r.run(15.0)
    assert [f.code for f in r.controller.faults] == ["max_run"]


def test_learned_transit_bounds_the_heater_check_on_the_next_cycle() -> None:
    loop = LoopParams(name="bathroom", sensor_tau_s=0.0, max_run_s=180.0)
    r = rig(loop, ignition_timeout_s=30.0, min_rest_s=0.0)
    r.request("start")
    r.run(40.0)
    heat(r)  # a cold start, hot after ≈ 40 s of pumping: that is the loop's transit
    r.run(3.0)
    learned = r.controller.learned["bathroom"].transit_s
    assert learned is not None and 39.0 <= learned <= 41.5
    assert r.controller.snapshot().learned["bathroom"].transit_cycles == 1
    r.set_loop("bathroom", 20.0)  # the pipe cools; now the heater fails
    r.run(5.0)
    r.request("start")
    r.run(30.0 + learned - 1.0)
    assert not r.controller.faults
    r.run(3.0)
    assert [f.code for f in r.controller.faults] == ["heater_not_firing"]


def test_a_warm_start_teaches_nothing_about_transit() -> None:
    r = rig(start_c=30.0)  # ready 38: 8 K short of it, the pipe was still warm
    r.request("start")
    r.run(10.0)
    heat(r)
    r.run(3.0)
    assert r.controller.learned["bathroom"].transit_s is None


def test_a_start_before_the_first_reading_is_held_then_answered() -> None:
    r = Rig(Params(loops=(BATH,)))
    d = r.request("start")  # the daemon just started: no reading yet, and nothing is wrong
    assert d.events == ()
    r.set_loop("bathroom", 20.0)
    d = r.run_until(lambda d: bool(d.events), 3.0)
    assert [e.kind for e in d.events] == ["cycle_started"]


def test_a_start_that_never_gets_a_reading_says_so_after_two_periods() -> None:
    r = Rig(Params(loops=(BATH,)))
    r.request("start")
    d = r.run_until(lambda d: bool(d.events), 3.0)
    assert [(e.kind, e.reason) for e in d.events] == [("rejected", "not_ready")]
    assert "no reading from the bathroom sensor yet" in str(d.events[0].data["message"])


def test_rejections_carry_what_a_person_needs() -> None:
    r = rig(min_rest_s=30.0)
    d = r.request("start", "garage")
    assert d.events[0].data == {"loops": "bathroom"}
    r.request("start")
    r.run(3.0)
    r.request("stop")
    r.run(5.0)
    d = r.request("start")
    assert (
        d.events[0].reason == "rest" and 20.0 <= float(d.events[0].data["retry_in_s"] or 0) <= 30.0
    )
    r.set_loop("bathroom", -127.0)
    r.run(31.0)
    d = r.request("start")
    assert d.events[0].reason == "fault" and d.events[0].data["fault"] == "sensor_invalid"
