"""The draw detector on traces written out by hand: a draw, a flick, a cycle's tail, a tank's
thermostat, a noisy night; what it sees and what it must never see."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from zcw.domain.draws import DrawDetector, Found, LoopHints

HINTS = {"bathroom": LoopHints(transit_s=30.0, tau_s=8.0, ready_c=36.0)}
Trace = Callable[[float], float | None]


def flat(value: float) -> Trace:
    return lambda t: value


def ramp(t0: float, t1: float, a: float, b: float) -> Trace:
    """a until t0, then linearly to b at t1, then b."""

    def f(t: float) -> float:
        if t <= t0:
            return a
        if t >= t1:
            return b
        return a + (b - a) * (t - t0) / (t1 - t0)

    return f


def run(
    det: DrawDetector,
    seconds: float,
    loop: Trace,
    out: Trace | None = None,
    *,
    pumping: Callable[[float], bool] = lambda t: False,
    dt: float = 1.0,
    start: float = 0.0,
) -> Found:
    found = Found()
    t = start
    while t < start + seconds:
        got = det.step(
            t,
            pumping=pumping(t),
            loop_c={"bathroom": loop(t)},
            out_c=None if out is None else out(t),
            hints=HINTS,
        )
        found.draws += got.draws
        found.flicks += got.flicks
        t += dt
    return found


def test_a_draw_is_dated_by_the_burner_and_ends_when_the_water_stands() -> None:
    det = DrawDetector(["bathroom"], has_outlet=True)
    # Tap opens at 100 s: the burner lights (outlet 20 → 50 °C from 105 s), hot water
    # reaches the valve at 130 s and runs until 400 s; then the standing water cools.
    out = ramp(105.0, 125.0, 20.0, 50.0)

    def loop(t: float) -> float:
        if t < 130.0:
            return 20.0
        if t < 400.0:
            return min(46.0, 20.0 + (t - 130.0))
        return 46.0 - (t - 400.0) * 0.02

    found = run(det, 700.0, loop, out)
    assert found.flicks == []
    (draw,) = found.draws
    assert draw.loop == "bathroom" and draw.via == "outlet+loop"
    assert 100.0 <= draw.start_s <= 106.0
    assert draw.duration_s is not None and 250.0 <= draw.duration_s <= 310.0


def test_without_an_outlet_sensor_the_draw_is_dated_back_by_the_transit() -> None:
    det = DrawDetector(["bathroom"], has_outlet=False)
    found = run(
        det, 700.0, lambda t: 20.0 if t < 130.0 else min(46.0, 20.0 + t - 130.0, 56.0 - t / 40.0)
    )
    (draw,) = found.draws
    assert draw.via == "loop" and 95.0 <= draw.start_s <= 101.0


def test_a_flick_is_an_outlet_rise_that_no_loop_answers() -> None:
    det = DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"])
    out = ramp(105.0, 115.0, 20.0, 34.0)  # the burner lit for 2 s, then the tap closed
    found = run(det, 400.0, flat(20.0), out)
    (flick,) = found.flicks
    assert flick.loop == "bathroom" and 100.0 <= flick.onset_s <= 106.0
    # It waits for as long as a real draw's hot water could take to show (2 × 30 s transit
    # plus the sensor's lag), no longer.
    assert flick.at_s - flick.onset_s <= 2 * 30.0 + 3 * 8.0 + 2.0
    assert found.draws == []


def test_no_flick_without_the_option_or_on_a_hot_pipe() -> None:
    out = ramp(105.0, 115.0, 20.0, 34.0)
    plain = run(DrawDetector(["bathroom"], has_outlet=True), 400.0, flat(20.0), out)
    assert plain.flicks == [] and [d.loop for d in plain.draws] == [None]
    hot = run(
        DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"]), 400.0, flat(37.0), out
    )
    assert hot.flicks == []


def test_a_long_draw_is_never_a_flick() -> None:
    det = DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"])
    out = ramp(105.0, 125.0, 20.0, 50.0)
    found = run(
        det,
        900.0,
        lambda t: 20.0 if t < 150.0 else min(45.0, 20.0 + t - 150.0, 58.0 - t / 40.0),
        out,
    )
    assert found.flicks == []
    assert [d.loop for d in found.draws] == ["bathroom"]


def test_pump_flow_and_the_tail_of_a_cycle_are_never_draws() -> None:
    det = DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"])

    def pumping(t: float) -> bool:
        return 100.0 <= t < 140.0

    # The pump brings the front at 130 s; a lagging sensor goes on rising for 90 s after
    # the stop (catch-up), and the outlet clamp too, then everything cools slowly.
    def loop(t: float) -> float:
        if t < 130.0:
            return 20.0
        if t < 230.0:
            return 20.0 + 16.0 * (1 - math.exp(-(t - 130.0) / 30.0))
        return 35.4 - (t - 230.0) * 0.01

    out = ramp(104.0, 150.0, 20.0, 50.0)
    found = run(det, 1200.0, loop, out, pumping=pumping)
    assert found.draws == [] and found.flicks == []


def test_a_draw_right_after_a_pre_heat_still_counts() -> None:
    """The sensor is still catching up on the cycle when the person opens the tap: the
    burner says a tap opened, and the loop zcw just heated is the one in use."""
    det = DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"])
    pumping = lambda t: 100.0 <= t < 130.0  # noqa: E731

    def out(t: float) -> float:
        if t < 104.0:
            return 20.0
        if t < 160.0:
            return 50.0
        if t < 164.0:
            return 40.0  # cold mains in the warm exchanger while the burner ignites
        return 50.0

    def loop(t: float) -> float:
        return 20.0 if t < 125.0 else min(38.0, 20.0 + (t - 125.0) * 0.5)

    found = run(det, 500.0, loop, out, pumping=pumping)
    assert found.flicks == []
    (draw,) = found.draws
    assert draw.loop == "bathroom" and 159.0 <= draw.start_s <= 164.0


def test_a_tanks_thermostat_is_too_slow_to_be_a_draw() -> None:
    det = DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"])

    def out(t: float) -> float:  # 50 → 46 °C over 40 min, back to 50 in 10 min
        phase = t % 3000.0
        return 50.0 - phase / 600.0 if phase < 2400.0 else 46.0 + (phase - 2400.0) / 150.0

    found = run(det, 4 * 3600.0, flat(21.0), out, dt=2.0)
    assert found.draws == [] and found.flicks == []


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), jitter=st.floats(0.0, 0.3), drift=st.floats(-2.0, 2.0))
def test_a_noisy_night_is_never_a_draw(seed: int, jitter: float, drift: float) -> None:
    """DS18B20 quantisation, jitter up to 0.3 K, spikes of a few steps and the house warming
    or cooling 2 K an hour: eight hours of it, sampled at 1 Hz."""
    rng = random.Random(seed)
    det = DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"])

    def noisy(base: float) -> Trace:
        def f(t: float) -> float:
            v = base + drift * t / 3600.0 + rng.gauss(0.0, jitter / 3)
            if rng.random() < 0.002:
                v += rng.choice((-1, 1)) * 0.25
            return round(v / 0.0625) * 0.0625

        return f

    found = run(det, 8 * 3600.0, noisy(21.0), noisy(20.0))
    assert found.draws == [] and found.flicks == []


def test_a_draw_during_a_cycles_tail_shows_as_the_heaters_water_at_the_valve() -> None:
    """No outlet sensor: the reading is still catching up on the stop (which leaves at most
    cold_line_max_c at the valve) when the tap opens and brings 46 °C water."""
    det = DrawDetector(["bathroom"], has_outlet=False)
    pumping = lambda t: 100.0 <= t < 130.0  # noqa: E731

    def loop(t: float) -> float:
        if t < 125.0:
            return 20.0
        if t < 140.0:
            return 20.0 + (t - 125.0)  # catching up on the stop
        return min(46.0, 35.0 + (t - 140.0) * 0.8)  # a tap opened at 140 s

    found = run(
        det, 600.0, lambda t: loop(t) if t < 400.0 else 46.0 - (t - 400.0) / 20.0, pumping=pumping
    )
    (draw,) = found.draws
    assert draw.loop == "bathroom" and draw.via == "loop"


def test_a_rising_reading_holds_keep_warm_back() -> None:
    det = DrawDetector(["bathroom"], has_outlet=True)
    run(det, 100.0, flat(30.0), flat(20.0))
    assert not det.drawing
    run(det, 3.0, flat(30.5), flat(20.0), start=100.0)  # the valve water starts to move
    assert det.drawing


def test_a_step_fronts_tail_is_judged_against_the_heaters_water() -> None:
    """A storage tank on copper, no outlet sensor: a stop on time leaves 41.5 °C at the clamp
    a few cells from the valve, over ready_c + 4 K. Once a draw has shown the tank's 52 °C
    there, that tail is no draw; a tap opened in the next tail still is."""
    det = DrawDetector(["bathroom"], has_outlet=False)
    pumping = lambda t: 1000.0 <= t < 1035.0 or 3000.0 <= t < 3035.0  # noqa: E731

    def loop(t: float) -> float:
        if t < 100.0:
            return 20.0
        if t < 700.0:  # a shower: the tank's water, then it stands and cools
            return min(52.0, 20.0 + (t - 100.0) * 2.0) if t < 400.0 else 52.0 - (t - 400) / 30
        if t < 1030.0:
            return 20.0
        if t < 3000.0:  # the cycle's tail catches up on 41.5 °C, which then cools
            return 41.5 - 21.5 * math.exp(-(t - 1030.0) / 8.0) - max(t - 1090.0, 0.0) / 100
        if t < 3040.0:
            return 30.0
        if t < 3300.0:
            return min(51.0, 30.0 + (t - 3040.0) * 2.0)  # a tap opened in the tail
        return 51.0 - (t - 3300.0) / 30.0

    found = run(det, 3600.0, loop, pumping=pumping)
    shower, in_tail = found.draws
    assert shower.start_s < 100.0 and in_tail.start_s >= 3000.0
    assert det.draw_peaks["bathroom"][0] == 52.0


def test_only_draws_from_a_cooled_pipe_set_how_long_a_flick_waits_for_its_answer() -> None:
    """A draw on a pipe still warm from the last one shows at the loop within seconds; a
    dozen of those must not shorten the wait that tells a flick from a cold-pipe draw
    (whose water takes a minute), or that draw is taken for a flick."""
    det = DrawDetector(["bathroom"], has_outlet=True, tapflick=["bathroom"])

    def draws(start: float, before_c: float, delay_s: float, n: int) -> Found:
        """n draws 1000 s apart: the burner lights, the loop warms ``delay_s`` later."""

        def phase(t: float) -> float:
            return (t - start) % 1000.0

        def out(t: float) -> float:
            return 50.0 if 10.0 <= phase(t) < 300.0 else 20.0

        def loop(t: float) -> float:
            p = phase(t)
            return 45.0 if 10.0 + delay_s <= p < 300.0 else before_c

        return run(det, n * 1000.0, loop, out, start=start)

    draws(0.0, 15.0, 60.0, 3)  # three from a cooled pipe
    draws(3000.0, 28.0, 5.0, 14)  # more than a dozen from a warm one
    assert det.answer_s(HINTS) >= 60.0
    found = draws(17000.0, 15.0, 62.0, 1)  # a cold-pipe draw a little slower than seen
    assert found.flicks == [] and len(found.draws) == 1
