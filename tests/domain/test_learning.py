"""Learned loop parameters: how they move, and how they survive a round trip through JSON."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zcw.domain.learning import (
    ARRIVAL_POINTS,
    LEAD_GAIN_RANGE,
    SLUG_FORGET_CYCLES,
    WEIGHT,
    LagTrace,
    Learned,
    crossing_s,
    fit_after_stop,
)
from zcw.ui.wording import learned_text


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


def test_a_later_rise_is_taken_at_once_an_earlier_one_only_by_the_weight() -> None:
    # A slug not yet told apart only makes a rise early: the clean rise never comes before
    # the water, so the later of two is the likelier truth.
    learned = Learned().with_rise(44.0)
    assert learned.rise_s == 44.0
    learned = learned.with_rise(74.0)
    assert learned.rise_s == 74.0
    learned = learned.with_rise(64.0)
    assert learned.rise_s == round(74.0 - WEIGHT * 10.0, 2)
    # Clean rises from a shorter pipe (replumbed) still get there within a few cycles (and
    # fronts too early to be told from a slug's are after_slug's to catch).
    for _ in range(12):
        learned = learned.with_rise(40.0)
    assert learned.rise_s is not None and abs(learned.rise_s - 40.0) < 2.0


def test_slug_cycles_in_a_row_forget_the_rise_and_a_clean_one_ends_the_row() -> None:
    learned = Learned(rise_s=70.0)
    for n in range(1, SLUG_FORGET_CYCLES):
        learned = learned.after_slug()
        assert learned.rise_s == 70.0 and learned.slug_cycles == n
    assert learned.with_rise(70.0).slug_cycles == 0
    learned = learned.after_slug()
    assert learned.rise_s is None and learned.slug_cycles == 0
    assert Learned.from_json({"slug_cycles": 2, "rise_s": 70.0}) == Learned(
        rise_s=70.0, slug_cycles=2
    )
    assert Learned.from_json({"slug_cycles": -1}).slug_cycles == 0


@given(
    st.floats(0.5, 3600.0),
    st.integers(0, 10_000),
    st.floats(0.5, 140.0),
    st.floats(*LEAD_GAIN_RANGE),
    st.booleans(),
    st.none() | st.floats(0.5, 3600.0),
)
def test_json_round_trip(
    transit_s: float, cycles: int, tau_s: float, gain: float, on_rise: bool, rise_s: float | None
) -> None:
    learned = Learned(
        transit_s=transit_s,
        transit_cycles=cycles,
        tau_s=tau_s,
        tau_fits=3,
        lead_gain=gain,
        stops_on_rise=on_rise,
        rise_s=rise_s,
    )
    assert Learned.from_json(learned.to_json()) == learned


@given(st.dictionaries(st.text(max_size=20), st.none() | st.booleans() | st.floats() | st.text()))
def test_junk_rows_read_as_nothing_learned_never_raise(data: dict[str, object]) -> None:
    learned = Learned.from_json(data)
    assert learned.transit_s is None or 0 < learned.transit_s <= 3600


def _lagged(
    tau_s: float, water: list[tuple[float, float]], start_c: float
) -> list[tuple[float, float]]:
    """A DS18B20-like reading: first-order lag τ on the water, 1 Hz, 0.0625 °C steps."""
    out, body, t = [], start_c, 0.0
    step = 0.05
    w = iter(water)
    t_next, value = next(w)
    current = start_c
    while t <= water[-1][0]:
        if t >= t_next:
            current = value
            t_next, value = next(w, (float("inf"), value))
        body += (current - body) * (1 - math.exp(-step / tau_s))
        if abs(t - round(t)) < step / 2:
            out.append((float(round(t)), round(body / 0.0625) * 0.0625))
        t += step
    return out


@pytest.mark.parametrize("tau_s", [1.0, 2.0, 8.0, 12.0])
def test_fit_after_stop_recovers_tau_and_the_standing_water(tau_s: float) -> None:
    # Cold water, then a front at 30 s, the pump stops at 32 s and the water stands at 37 °C.
    water = [(0.0, 20.0), (30.0, 37.0), (200.0, 37.0)]
    samples = _lagged(tau_s, water, 20.0)
    fit = fit_after_stop(samples, 32.0)
    assert fit is not None
    assert fit.tau_s == pytest.approx(tau_s, rel=0.1)
    assert fit.standing_c == pytest.approx(37.0, abs=0.5)


def test_a_slow_sensor_is_refused_rather_than_fitted_wrong() -> None:
    # τ 30 s amplifies the 0.0625 °C steps thirty-fold: the fit cannot tell, and says so.
    samples = _lagged(30.0, [(0.0, 20.0), (30.0, 37.0), (200.0, 37.0)], 20.0)
    fit = fit_after_stop(samples, 32.0)
    assert fit is None or fit.tau_s == pytest.approx(30.0, rel=0.15)


def test_fit_after_stop_refuses_a_stop_that_left_nothing_to_see() -> None:
    # Stopped before the front: the reading is flat, so nothing can be said about τ.
    samples = [(float(t), 20.0) for t in range(120)]
    assert fit_after_stop(samples, 30.0) is None


def test_fit_after_stop_refuses_a_reading_that_keeps_climbing() -> None:
    # A clamp on plastic (H4) keeps rising for minutes: no first-order lag fits it flat.
    samples = [(float(t), round((20.0 + 0.1 * t) / 0.0625) * 0.0625) for t in range(150)]
    assert fit_after_stop(samples, 30.0) is None


def test_lead_gain_moves_towards_the_target_and_stays_in_range() -> None:
    learned = Learned()
    hot = learned.with_standing(standing_c=40.0, target_c=36.7)  # stopped late: look further
    cold = learned.with_standing(standing_c=33.0, target_c=36.7)  # stopped early: less far
    assert cold.lead_gain < learned.lead_gain < hot.lead_gain
    for _ in range(100):
        learned = learned.with_standing(standing_c=60.0, target_c=36.7)
    assert learned.lead_gain == LEAD_GAIN_RANGE[1]


def test_a_warm_start_teaches_its_own_gain_and_leaves_the_cold_one_alone() -> None:
    learned = Learned()
    warm = learned.with_standing(standing_c=40.0, target_c=36.7, warm=True)
    assert warm.gain_for(warm=True) > learned.gain_for(warm=True)
    assert warm.gain_for(warm=False) == learned.gain_for(warm=False)
    cold = warm.with_standing(standing_c=33.0, target_c=36.7)
    assert cold.gain_for(warm=False) < warm.gain_for(warm=False)
    assert cold.gain_for(warm=True) == warm.gain_for(warm=True)
    assert Learned.from_json(json.loads(json.dumps(cold.to_json()))) == cold


def test_a_row_from_before_the_warm_gain_starts_it_afresh() -> None:
    learned = Learned.from_json({"lead_gain": 1.2})
    assert learned.lead_gain == 1.2
    assert learned.warm_lead_gain == Learned().warm_lead_gain


def test_tau_is_averaged_geometrically() -> None:
    # Two fits that weigh the same: their geometric mean, not the arithmetic one (101 s).
    learned = Learned().with_tau(2.0).with_tau(200.0)
    assert learned.tau_s == pytest.approx(20.0, rel=0.01)
    assert learned.tau_fits == 2
    # Settled, a new fit moves it by WEIGHT of the way, in the logarithm.
    for _ in range(10):
        learned = learned.with_tau(20.0)
    assert learned.with_tau(200.0).tau_s == pytest.approx(20.0 * 10**WEIGHT, rel=0.01)


def test_a_short_catch_up_neither_sets_tau_nor_moves_a_settled_one() -> None:
    # H3, seed 18: an early stop left 1 K to catch up and fitted τ 2.4 s for a τ 8 s clamp.
    # Taken first and at full weight it held the learned τ at 5.7 s through the whole day,
    # and the look-ahead ran 2 s late on every cycle.
    learned = Learned().with_tau(2.4, catch_up_c=1.0)
    for _ in range(4):
        learned = learned.with_tau(8.0, catch_up_c=15.0)
    assert learned.tau_s == pytest.approx(8.0, rel=0.03)
    settled = learned.with_tau(2.4, catch_up_c=1.0)
    assert settled.tau_s == pytest.approx(8.0, rel=0.03)
    # The same fit with a full catch-up is believed: a re-seated sensor is relearned.
    reseated = learned.with_tau(2.4, catch_up_c=15.0).tau_s
    assert reseated is not None and reseated < 6.0


def test_a_row_from_before_the_weights_keeps_its_tau_settled() -> None:
    row = {"tau_s": 8.0, "tau_fits": 6}
    learned = Learned.from_json(row)
    assert learned.tau_weight == 1.0
    assert learned.with_tau(2.0, catch_up_c=1.0).tau_s == pytest.approx(8.0, rel=0.05)


# --- the learned arrival --------------------------------------------------------------------


@pytest.mark.parametrize("tau_s", [4.0, 8.0, 12.0])
def test_crossing_finds_when_the_water_itself_passed_ready(tau_s: float) -> None:
    # A storage tank's front: 15 °C, then 5 K/s from 30 s up to 52 °C: 36 °C at 34.2 s,
    # while the lagging sensor reads barely 20 °C then.
    ramp = [(30.0 + k * 0.05, min(52.0, 15.0 + 0.25 * k)) for k in range(200)]
    samples = _lagged(tau_s, [(0.0, 15.0), *ramp, (200.0, 52.0)], 15.0)
    assert crossing_s(samples, tau_s, 36.0, (0.0, 100.0)) == pytest.approx(34.2, abs=0.4)
    assert crossing_s(samples, tau_s, 36.0, (0.0, 33.0)) is None  # after the window's end


def _steady(over_c: float | None = 7.0) -> Learned:
    learned = Learned(sensor_over_c=over_c)
    # A warmer copper pipe retards the front less: ≈ 0.25 s earlier per kelvin of start.
    for start, arrival in [(15.0, 34.0), (22.0, 32.2), (15.0, 34.1), (18.0, 33.3)]:
        learned = learned.with_arrival(start, arrival)
    return learned


def test_the_arrival_follows_a_line_through_the_start_reading() -> None:
    learned = _steady()
    cold, warm = learned.arrival_for(15.0), learned.arrival_for(21.0)
    assert cold is not None and warm is not None
    assert cold == pytest.approx(34.05, abs=0.15)
    assert warm == pytest.approx(32.5, abs=0.2)


def test_no_arrival_to_stop_on_unless_the_estimate_overshoots_and_the_line_holds() -> None:
    assert _steady(over_c=None).arrival_for(15.0) is None  # nothing known of the estimate
    assert _steady(over_c=-0.5).arrival_for(15.0) is None  # the estimate does fine
    two = Learned(sensor_over_c=7.0).with_arrival(15.0, 34.0).with_arrival(16.0, 33.8)
    assert two.arrival_for(15.0) is None  # too few cycles
    scattered = Learned(sensor_over_c=7.0)
    for arrival in (34.0, 36.0, 33.0):
        scattered = scattered.with_arrival(15.0, arrival)
    assert scattered.arrival_for(15.0) is None  # a gas heater's ignition, a shared trunk
    rising = Learned(sensor_over_c=7.0)
    for start, arrival in [(15.0, 30.0), (20.0, 32.0), (25.0, 34.0)]:
        rising = rising.with_arrival(start, arrival)
    assert rising.arrival_for(20.0) is None  # a warmer pipe never arrives later
    assert _steady().arrival_for(30.0) is None  # far from any start seen: no extrapolation


def _lesson_after_a_stop_on_the_line(
    learned: Learned, *, last_reading_c: float, standing_c: float | None, on_arrival: bool = True
) -> Learned:
    """A cooled-pipe cycle whose reconstruction never crossed ready_c (36 °C)."""
    trace = LagTrace("bathroom")
    for t in range(100):
        trace.add(float(t), min(15.0 + 0.5 * max(t - 20, 0), last_reading_c))
    trace.stop_s, trace.pump_s, trace.start_c = 30.0, (0.0, 30.0), 15.0
    trace.on_arrival, trace.cooled = on_arrival, True
    return trace.arrival_lesson(
        learned, ready_c=36.0, cold_line_max_c=38.0, tau_s=8.0, lag_s=0.5, standing_c=standing_c
    )


def test_a_clearly_cold_stop_on_the_line_sends_the_next_cycle_to_the_estimate() -> None:
    # The pipe got slower (a weaker pump, a longer run): the stop came before the front, and
    # with no arrival seen the line alone would never learn it.
    doubted = _lesson_after_a_stop_on_the_line(_steady(), last_reading_c=20.0, standing_c=20.0)
    assert doubted.arrival_doubted and doubted.arrival_for(15.0) is None
    assert doubted.arrivals == _steady().arrivals
    # Without a fit, the reading a minute after the stop tells it just as well.
    assert _lesson_after_a_stop_on_the_line(
        _steady(), last_reading_c=20.0, standing_c=None
    ).arrival_doubted
    # The estimate's cycle puts its arrival on the line, and the line is trusted again.
    trusted = _lesson_after_a_stop_on_the_line(
        doubted, last_reading_c=40.0, standing_c=40.0, on_arrival=False
    )
    assert not trusted.arrival_doubted


def _warm_lesson(learned: Learned, step_at_s: float, *, on_arrival: bool = False) -> Learned:
    """A lone cycle from a warm pipe (28 °C): a step front reaches the valve ``step_at_s``
    after pump on, and the pump stops a second later."""
    samples = _lagged(8.0, [(0.0, 28.0), (step_at_s, 45.0), (step_at_s + 70.0, 45.0)], 28.0)
    trace = LagTrace("bathroom")
    trace.warm = True
    for at, value in samples:
        trace.add(at, value)
    trace.stop_s, trace.pump_s, trace.start_c = step_at_s + 1.5, (0.0, step_at_s + 1.0), 28.0
    trace.on_arrival = on_arrival
    return trace.arrival_lesson(
        learned, ready_c=36.0, cold_line_max_c=38.0, tau_s=8.0, lag_s=0.5, standing_c=None
    )


def test_a_warm_starts_front_joins_the_line_and_the_line_reaches_it() -> None:
    learned = replace(_steady(), transit_s=34.0)
    assert learned.arrival_for(28.0) is None  # 6 K warmer than any start seen
    assert learned.arrival_for(26.0) is not None  # 4 K warmer: the line still reaches it
    warm = _warm_lesson(learned, 31.0)
    start, arrival = warm.arrivals[-1]
    assert start == 28.0 and arrival == pytest.approx(31.0, abs=0.4)
    at = warm.arrival_for(28.0)
    assert at is not None and at == pytest.approx(31.0, abs=0.5)
    # A warm pipe's stop on the estimate judges neither the estimate nor the line.
    assert warm.sensor_over_c == learned.sensor_over_c and not warm.arrival_doubted


def test_hot_water_standing_upstream_is_no_front_and_stays_off_the_line() -> None:
    # A second draw soon after the first: the water at ready_c came in 12 s, against a
    # cooled-pipe transit of 34 s. No reading at the valve foretells that; off the line.
    learned = replace(_steady(), transit_s=34.0)
    assert _warm_lesson(learned, 12.0).arrivals == learned.arrivals
    # Nor is a warm start's arrival put on a line with no cooled-pipe transit to judge it by.
    assert _warm_lesson(_steady(), 31.0).arrivals == _steady().arrivals


def test_a_stop_right_on_the_arrival_is_not_called_cold() -> None:
    # Water standing at ready_c reads a little under it through a ±0.5 K sensor and a fit
    # that reads low. Doubting the line there sent good cycles to the slower estimate (H3).
    for standing in (35.0, 34.5):
        learned = _lesson_after_a_stop_on_the_line(
            _steady(), last_reading_c=35.0, standing_c=standing
        )
        assert not learned.arrival_doubted and learned.arrival_for(15.0) is not None


def test_one_odd_cycle_does_not_hold_the_line_back() -> None:
    learned = _steady().with_arrival(15.0, 36.5)  # the day's first cycle, 2.5 s slow
    at = learned.arrival_for(15.0)
    assert at == pytest.approx(34.05, abs=0.15)
    # Two odd ones are no longer an outlier: the arrivals are not steady, so no line.
    assert learned.with_arrival(15.0, 31.5).arrival_for(15.0) is None


def test_a_replumbed_loop_keeps_only_its_latest_arrivals() -> None:
    learned = _steady()
    for _ in range(ARRIVAL_POINTS):
        learned = learned.with_arrival(15.0, 50.0)
    assert learned.arrivals == ((15.0, 50.0),) * ARRIVAL_POINTS
    assert learned.arrival_for(15.0) == pytest.approx(50.0)


def test_arrival_learning_survives_json_and_junk_in_it_is_dropped() -> None:
    learned = _steady().with_arrival_doubted(True)
    assert Learned.from_json(learned.to_json()) == learned
    assert Learned.from_json(json.loads(json.dumps(learned.to_json()))) == learned
    junk = Learned.from_json(
        {"arrivals": [[1, "x"], [True, 3.0], [20.0, 30.0], "row"], "sensor_over_c": "hot"}
    )
    assert junk.arrivals == ((20.0, 30.0),)
    assert junk.sensor_over_c is None and not junk.arrival_doubted
    assert not Learned.from_json({"arrival_doubted": "yes"}).arrival_doubted
    # JSON has integers no float holds, and Python's json reads NaN: dropped, not raised.
    huge = Learned.from_json(
        {"tau_s": 10**400, "arrivals": [[20.0, 10**400]], "sensor_over_c": float("nan")}
    )
    assert huge.tau_s is None and huge.arrivals == () and huge.sensor_over_c is None


def test_the_status_summary_says_what_the_loop_stops_on() -> None:
    assert Learned().summary() == {
        "sensor_tau_s": None,
        "transit_s": None,
        "cycles": 0,
        "stops_on_rise": False,
        "first_warming_s": None,
        "stops_on_learned_arrival": False,
        "commissioned": False,
        "sensor_lag_s": None,
        "sensor_reads_water": None,
        "transit_volume_l": None,
    }
    assert "not commissioned" in learned_text(Learned().summary())
    assert _steady().summary()["stops_on_learned_arrival"] is True
    assert _steady(over_c=-1.0).summary()["stops_on_learned_arrival"] is False
    clip = Learned(stops_on_rise=True, rise_s=74.25)
    assert clip.summary()["first_warming_s"] == 74.25
    assert "first warming" in learned_text(clip.summary())
    assert "74 s after pump on" in learned_text(clip.summary())


def test_commissioning_is_kept_across_restarts() -> None:
    """What `zcw commission` measured survives the store's JSON, like the rest; rows written
    before commissioning existed read as not commissioned."""
    done = Learned().with_commission(
        transit_s=28.3,
        lag_s=8.5,
        first_order=True,
        volume_l=3.6,
        warming_s=27.5,
        slow=False,
        guarded=False,
    )
    again = Learned.from_json(json.loads(json.dumps(done.to_json())))
    assert again == done and again.commissioned and again.tau_s == 8.5 and again.tau_fits == 1
    assert again.summary()["sensor_reads_water"] is True
    assert not Learned.from_json({"transit_s": 30.0}).commissioned
    slow = Learned().with_commission(
        transit_s=29.0,
        lag_s=40.0,
        first_order=False,
        volume_l=3.7,
        warming_s=37.0,
        slow=True,
        guarded=False,
    )
    assert slow.stops_on_rise and slow.rise_s == 37.0 and slow.tau_s is None
    guarded = Learned().with_commission(
        transit_s=29.0,
        lag_s=40.0,
        first_order=False,
        volume_l=3.7,
        warming_s=37.0,
        slow=True,
        guarded=True,
    )
    assert not guarded.stops_on_rise  # its cold-line probe stops it in time
