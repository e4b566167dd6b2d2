"""The safety supervisor alone, against a broken controller (docs/safety.md, layer 3).

No controller here: hypothesis plays a controller that wishes at random and feeds raw sensor
samples of every kind (good, 85.0, −127, CRC, out of range, jumps, silence that goes stale)
and random ``force_off``, on an irregular clock. It plays a *program* of segments: each holds
one wish (pump, valve 0, valve 1) for a moment, for most of a cycle, past the cap, for less
or more than ``min_rest_s``, now and then toggled tick by tick, with each sensor good, over
the cold-line limit, failing in one way or in every way. So the runs that meet the cap, a
short stop in the middle of a run, a release and reclaim soon after a cap veto, and a valve
opening just after the pump stopped are played in every run, not once in a while. The clock
ticks finely in short segments and in big strides through long ones (a segment never takes
more than ``TICKS_PER_SEGMENT`` ticks).

The oracle below is written from the rules in docs/safety.md, independently of the
supervisor: it sees only what went in (wishes, samples, ``force_off``, the clock) and the
relays that came out, and checks I1–I5, I7, "a veto holds until the wish is withdrawn, after
an I3 veto also until ``min_rest_s`` has passed" and "nothing is on without a wish" on every
output at every tick.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zcw.domain.model import (
    LoopParams,
    Params,
    Relays,
    SensorSample,
    Topology,
    cold_key,
    loop_key,
)
from zcw.domain.safety import SafetySupervisor

SLACK_S = 0.3  # one tick of sequencing slack
STALE_PERIODS = 3
NAMES = ("bathroom", "kitchen")
KEYS = tuple(loop_key(n) for n in NAMES) + tuple(cold_key(n) for n in NAMES)
TICKS_PER_SEGMENT = 40
# Readings of one sensor that never differ by more than this are never a jump no water can
# make, whatever the sensor period: the oracle relies on that, and only then, to know that
# the supervisor took a loop reading as valid.
STEADY_SPAN_C = 5.0


@st.composite
def installations(draw: st.DrawFn) -> Params:
    topology: Topology = draw(st.sampled_from(["crossover", "crossover", "return_line", "drain"]))
    loops = tuple(
        LoopParams(
            name=NAMES[i],
            # 900 s: the bridge's 600 s cap (bridge_cap_s) is the one that counts.
            max_run_s=draw(st.sampled_from([5.0, 10.0, 30.0, 900.0])),
            has_cold_sensor=draw(st.booleans()),
        )
        for i in range(draw(st.integers(1, 2)))
    )
    return Params(
        loops=loops,
        topology=topology,
        has_pump=topology != "drain",
        valve_lead_s=draw(st.sampled_from([0.0, 0.5, 2.0])),
        valve_lag_s=draw(st.sampled_from([0.0, 0.5, 2.0])),
        min_rest_s=draw(st.sampled_from([0.0, 5.0, 30.0])),
        cold_line_max_c=38.0,
    )


def cap_of(p: Params) -> float:
    """I3's cap, from docs/safety.md: ``max_run_s``, and the bridge caps every relay anyway."""
    return min(max(lp.max_run_s for lp in p.loops), p.bridge_cap_s)


# What a sensor does through a segment: mostly good readings under the limit, so wishes get
# far enough to meet the caps and the windows; or at and over the cold-line limit; or one
# kind of bad sample every tick ("silent": nothing new, the last one goes stale); or any of
# these at random, tick by tick.
BAD = ("85", "-127", "crc", "range", "silent")
SENSOR_MODES = ("good",) * 8 + ("near", "hot", "chaos", *BAD)


@dataclass(frozen=True)
class Segment:
    wish: tuple[bool, bool, bool]  # pump, valve 0, valve 1
    duration_s: float
    tick_s: float
    flip_p: float  # each tick, each wish is the other way round with this probability
    force_p: float  # each tick, force_off with this probability
    sensors: tuple[str, str, str, str]  # loop 0, loop 1, cold 0, cold 1


@st.composite
def segments(draw: st.DrawFn, p: Params) -> Segment:
    """One wish held for a while, sized by the cap and ``min_rest_s`` that matter here."""
    cap, rest = cap_of(p), p.min_rest_s
    kind = draw(st.sampled_from(["moment", "moment", "run", "past_cap", "stop", "rest"]))
    f = draw(st.floats(0.0, 1.0))
    if kind == "run":  # most of a cycle
        duration = cap * (0.3 + 0.69 * f)
    elif kind == "past_cap":
        duration = cap * (1.0 + 1.5 * f)
    elif kind == "stop" and rest > 0:  # a stop too short to end the cycle
        duration = rest * (0.05 + 0.9 * f)
    elif kind == "rest" and rest > 0:  # just long enough
        duration = rest * (1.0 + 0.3 * f) + 0.1
    else:  # a tick or two, a toggle, a sequencing window
        duration = 0.05 + 3.0 * f
    fine = draw(st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0, 2.0]))
    return Segment(
        wish=(draw(st.booleans()), draw(st.booleans()), draw(st.booleans())),
        duration_s=duration,
        tick_s=max(fine, duration / TICKS_PER_SEGMENT),
        flip_p=draw(st.sampled_from([0.0, 0.0, 0.0, 0.1, 0.4])),
        force_p=draw(st.sampled_from([0.0] * 6 + [0.1, 0.5, 1.0])),
        sensors=(
            draw(st.sampled_from(SENSOR_MODES)),
            draw(st.sampled_from(SENSOR_MODES)),
            draw(st.sampled_from(SENSOR_MODES)),
            draw(st.sampled_from(SENSOR_MODES)),
        ),
    )


def steady(wish: tuple[bool, bool, bool], duration_s: float, tick_s: float = 0.25) -> Segment:
    """A wish held with every sensor good, no toggling, no force_off."""
    tick = max(tick_s, duration_s / TICKS_PER_SEGMENT)
    return Segment(wish, duration_s, tick, 0.0, 0.0, ("good",) * 4)


@st.composite
def handovers(draw: st.DrawFn) -> list[Segment]:
    """The pump runs with one valve and stops; a moment later the other valve opens, finely
    ticked: it was not open while the pump ran, so only its lead window covers it, not the
    lag window of the valve that was."""
    first = draw(st.booleans())
    kept_open = draw(st.booleans())
    ran = (True, first, not first)
    stopped = (False, first and kept_open, not first and kept_open)
    joined = (False, True, True) if kept_open else (False, not first, first)
    return [
        steady(ran, draw(st.floats(0.5, 3.0))),
        steady(stopped, draw(st.floats(0.05, 2.0)), tick_s=0.05),
        steady(joined, 3.0, tick_s=0.1),
    ]


@st.composite
def reclaims(draw: st.DrawFn, p: Params) -> list[Segment]:
    """A run that stops just short of the cap; a stop shorter than ``min_rest_s``, through
    which the cap passes; the wish back (I3 vetoes it: the stop did not end the cycle), dropped
    for a moment and back once the stop has lasted ``min_rest_s`` but the veto has not: it must
    wait for ``min_rest_s`` after the veto, not after the stop."""
    cap, rest = cap_of(p), max(p.min_rest_s, 1.0)
    on = (True, True, draw(st.booleans()))  # the pump with a valve, or a pumpless valve
    off = (False, False, on[2])
    stop = rest * draw(st.floats(0.1, 0.9))
    vetoed_for = draw(st.floats(0.05, 1.0))
    return [
        steady(on, max(cap - stop * draw(st.floats(0.1, 0.9)), 0.25)),
        steady(off, stop),
        steady(on, vetoed_for),
        steady(off, max(rest - stop - vetoed_for, 0.0) + stop * draw(st.floats(0.05, 0.8))),
        steady(on, rest * draw(st.floats(0.3, 1.5))),
    ]


@st.composite
def programs(draw: st.DrawFn) -> tuple[Params, list[Segment], int]:
    params = draw(installations())
    parts = draw(
        st.lists(
            st.one_of(segments(params).map(lambda s: [s]), reclaims(params), handovers()),
            min_size=1,
            max_size=8,
        )
    )
    program = [seg for part in parts for seg in part]
    return params, program, draw(st.integers(0, 2**32 - 1))  # the seed for tick-level noise


@dataclass
class Oracle:
    """The rules of docs/safety.md from the outside: what each output may do, given what came
    before.

    A veto holds until its wish is withdrawn; an I3 veto also until ``min_rest_s`` after it,
    and that rest ends when it ends, even if the wish came back during it (as
    ``test_a_pump_wished_on_for_200_s_runs_max_run_s_then_rests`` shows: the pump runs again
    at 90 s, wished since 70.5 s). So an output refused while it may be in such a rest is not
    held past it, and an I3 veto is known to be one (and its rest checked) only when no other
    rule can have refused the output.
    """

    p: Params
    latest: dict[str, SensorSample] = field(default_factory=dict)
    ever_good: set[str] = field(default_factory=set)
    span: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (min, max) read
    opened_at: dict[str, float] = field(default_factory=dict)
    run_since: dict[str, float] = field(default_factory=dict)
    off_at: dict[str, float] = field(default_factory=dict)
    was: dict[str, bool] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)  # wished but off at the last tick
    vetoed: set[str] = field(default_factory=set)  # of those, held until the wish is withdrawn
    at_cap_at: dict[str, float] = field(default_factory=dict)  # last tick wished, off, at cap
    # The last tick at cap before the wish was last withdrawn: till min_rest_s after it, a
    # refusal may be the rest of an I3 veto whose wish came back, not a veto of its own.
    withdrawn_after_cap: dict[str, float] = field(default_factory=dict)
    rest_until: dict[str, float] = field(default_factory=dict)  # after a known I3 veto

    def feed(self, key: str, sample: SensorSample) -> None:
        self.latest[key] = sample
        if sample.value_c is not None:
            lo, hi = self.span.get(key, (sample.value_c, sample.value_c))
            self.span[key] = (min(lo, sample.value_c), max(hi, sample.value_c))

    def good(self, key: str, now: float) -> float | None:
        """The value of a trustworthy reading, or None."""
        s = self.latest.get(key)
        if s is None or s.error is not None or s.value_c is None:
            return None
        if now - s.at_s > STALE_PERIODS * self.p.sensor_period_s:
            return None
        v = s.value_c
        if not -10.0 <= v <= 100.0 or v == -127.0:
            return None
        if v == 85.0 and key not in self.ever_good:
            return None
        return v

    def note_good(self, now: float) -> None:
        for key in self.latest:
            if self.good(key, now) is not None:
                self.ever_good.add(key)

    def capped(self) -> list[str]:
        """The outputs I3 caps: the pump, or without one each valve (the valve is the flow)."""
        return ["pump"] if self.p.has_pump else list(self.p.loop_names)

    def check(self, now: float, wish: dict[str, bool], force: bool, out: Relays) -> None:
        p = self.p
        o = {"pump": out.pump, **out.valves}
        assert not out.pump or p.has_pump
        for name, on in o.items():  # it vetoes or forces OFF, it never turns anything ON
            assert not on or wish[name], f"{name} on without a wish"
        if force:  # I7
            assert not any(o.values()), "I7: force_off left something on"
        for name in self.vetoed:  # a veto holds while the wish stands
            if wish[name]:
                assert not o[name], f"veto on {name} undone by the next refresh"
        cap = cap_of(p)
        for name in p.loop_names:
            if not o[name]:
                continue
            assert self.good(loop_key(name), now) is not None, f"I4: {name} open on a bad reading"
            cold = self.good(cold_key(name), now)
            if p.topology == "crossover" and p.loop(name).has_cold_sensor:
                assert cold is not None, f"I5: {name} open with its cold-line sensor blind"
        for lp in p.loops:
            cold = self.good(cold_key(lp.name), now)
            if cold is not None and cold >= p.cold_line_max_c:
                assert not out.pump, "I5: pump on with a cold line over the limit"
                assert not o[lp.name], f"I5: {lp.name} open with its cold line over the limit"
        if p.topology == "crossover" and out.pump:
            assert out.any_valve_open, "I2: deadhead"
        if p.has_pump and p.topology != "drain" and not out.pump:
            for name in p.loop_names:
                if o[name]:
                    opened = self.opened_at.get(name, now) if self.was.get(name) else now
                    lead_ok = now - opened <= p.valve_lead_s + SLACK_S
                    off = now if self.was.get("pump") else self.off_at.get("pump")
                    lag_ok = (
                        off is not None and opened <= off and now - off <= p.valve_lag_s + SLACK_S
                    )
                    assert lead_ok or lag_ok, f"I1: {name} open with the pump off"
        for name in self.capped():  # I3
            start = self._run_start(name, now)  # of the run it is in, or would be if on now
            if o[name]:
                assert now - start < cap, f"I3: {name} on for {now - start:.1f} s (cap {cap})"
            if now < self.rest_until.get(name, -math.inf):
                assert not o[name], f"I3: {name} back on within min_rest_s of its cap veto"
            if wish[name] and not o[name] and now - start >= cap:
                if self._only_the_cap_refuses(name, now, force, o):
                    self.rest_until[name] = now + p.min_rest_s
                self.at_cap_at[name] = now
        self._remember(now, wish, o)

    def _only_the_cap_refuses(self, name: str, now: float, force: bool, o: dict[str, bool]) -> bool:
        """Whether ``name``, wished, at its cap and off, can have been turned down by I3 alone,
        so that the veto is I3's and holds for ``min_rest_s`` (docs/safety.md, layer 3)."""
        p = self.p
        if force or name in self.refused:  # I7, or an earlier veto still holding it
            return False
        if now < self.at_cap_at.get(name, -math.inf) + p.min_rest_s:
            return False  # an earlier I3 veto may still be holding it
        colds = {lp.name: self.good(cold_key(lp.name), now) for lp in p.loops}
        if name == "pump":
            if any(c is not None and c >= p.cold_line_max_c for c in colds.values()):
                return False  # I5
            return p.topology != "crossover" or any(o[n] for n in p.loop_names)  # not I2
        cold = colds[name]
        if cold is not None and cold >= p.cold_line_max_c:
            return False  # I5
        if p.topology == "crossover" and p.loop(name).has_cold_sensor and cold is None:
            return False  # I5, blind
        lo, hi = self.span.get(loop_key(name), (0.0, math.inf))
        return self.good(loop_key(name), now) is not None and hi - lo <= STEADY_SPAN_C  # not I4

    def _run_start(self, name: str, now: float) -> float:
        if self.was.get(name):
            return self.run_since[name]
        off = self.off_at.get(name)
        if off is not None and now - off < self.p.min_rest_s and name in self.run_since:
            return self.run_since[name]
        return now

    def _remember(self, now: float, wish: dict[str, bool], o: dict[str, bool]) -> None:
        for name, on in o.items():
            if on and not self.was.get(name):
                self.run_since[name] = self._run_start(name, now)
                self.opened_at[name] = now
            elif not on and self.was.get(name):
                self.off_at[name] = now
        rest = self.p.min_rest_s
        for name in o:
            if not wish[name]:
                self.withdrawn_after_cap[name] = self.at_cap_at.get(name, -math.inf)
        self.was = dict(o)
        self.refused = {n for n in o if wish[n] and not o[n]}
        self.vetoed = {
            n for n in self.refused if now >= self.withdrawn_after_cap.get(n, -math.inf) + rest
        }


def sample(kind: str, value: float, now: float) -> SensorSample | None:
    if kind == "ok":
        return SensorSample(value, now)
    if kind == "85":
        return SensorSample(85.0, now)
    if kind == "-127":
        return SensorSample(-127.0, now)
    if kind == "range":
        return SensorSample(120.0, now)
    if kind == "crc":
        return SensorSample(None, now, "crc")
    return None  # silent: nothing new, the last one ages


def reading(mode: str, base_c: float, rng: random.Random) -> tuple[str, float]:
    """One tick of a sensor in ``mode``: a sample kind and a value."""
    if mode == "chaos":
        mode = rng.choice(("good", "good", "near", "hot", *BAD))
    if mode == "good":
        return "ok", base_c + rng.uniform(-1.0, 1.0)
    if mode == "near":  # either side of the cold-line limit
        return "ok", rng.uniform(34.0, 42.0)
    if mode == "hot":
        return "ok", rng.uniform(38.0, 60.0)
    return mode, 0.0


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples every run: the mutation table must not be luck
    suppress_health_check=[HealthCheck.too_slow],
)
@given(program=programs(), bases=st.lists(st.floats(12.0, 34.0), min_size=4, max_size=4))
def test_the_supervisor_alone_holds_every_invariant_against_a_random_controller(
    program: tuple[Params, list[Segment], int], bases: list[float]
) -> None:
    params, segs, seed = program
    rng = random.Random(seed)
    sup = SafetySupervisor(params)
    oracle = Oracle(params)
    names = params.loop_names
    readings: dict[str, SensorSample] = {}
    now = 0.0
    for seg in segs:
        end = now + seg.duration_s
        while True:
            now = round(now + seg.tick_s * rng.uniform(0.5, 1.5), 6)
            flipped = [w != (rng.random() < seg.flip_p) for w in seg.wish]
            wish = dict(zip(["pump", *NAMES], flipped, strict=True))
            wish = {"pump": wish["pump"], **{n: wish[n] for n in names}}
            force = rng.random() < seg.force_p
            for key, mode, base in zip(KEYS, seg.sensors, bases, strict=True):
                s = sample(*reading(mode, base, rng), now)
                if s is not None:
                    readings[key] = s
                    oracle.feed(key, s)
            desired = Relays(pump=wish["pump"], valves={n: wish[n] for n in names})
            out, _ = sup.filter(desired, now, readings=dict(readings), force_off=force)
            oracle.check(now, wish, force, out)
            oracle.note_good(now)
            if now >= end:
                break


def good_readings(params: Params, now: float, cold_c: float = 15.0) -> dict[str, SensorSample]:
    out = {loop_key(n): SensorSample(20.0, now) for n in params.loop_names}
    out.update({cold_key(n): SensorSample(cold_c, now) for n in params.loop_names})
    return out


def test_a_pump_wished_on_for_200_s_runs_max_run_s_then_rests() -> None:
    # The reviewer's broken controller: it keeps wishing the pump on, valve open, for 200 s.
    params = Params(loops=(LoopParams("bathroom", max_run_s=60.0),), min_rest_s=30.0)
    sup = SafetySupervisor(params)
    on = Relays(pump=True, valves={"bathroom": True})

    def run(wish: Relays, start: float, end: float) -> float:
        on_s, now = 0.0, start
        while now < end:
            out, _ = sup.filter(wish, now, readings=good_readings(params, now))
            on_s += 0.25 if out.pump else 0.0
            now += 0.25
        return on_s

    assert 59.0 <= run(on, 0.0, 200.0) <= 60.0
    # A return pipe with no valve: vetoed at 60 s, withdrawn for a moment and wished again
    # at once. The veto holds until min_rest_s after it, however the wish comes back.
    params = replace(params, topology="return_line")
    sup = SafetySupervisor(params)
    pump_only = Relays(pump=True, valves={"bathroom": False})
    assert 59.0 <= run(pump_only, 0.0, 70.0) <= 60.0
    run(Relays.off(("bathroom",)), 70.0, 70.5)
    assert run(pump_only, 70.5, 90.0) == 0.0
    assert run(pump_only, 90.0, 95.0) > 0.0


def test_a_pump_toggled_off_for_a_tick_now_and_then_still_gets_max_run_s_in_all() -> None:
    params = Params(loops=(LoopParams("bathroom", max_run_s=60.0),), min_rest_s=30.0)
    sup = SafetySupervisor(params)
    on_s, now = 0.0, 0.0
    while now < 200.0:
        pump = int(now * 4) % 40 != 0  # off for one tick every 10 s
        out, _ = sup.filter(
            Relays(pump=pump, valves={"bathroom": True}), now, readings=good_readings(params, now)
        )
        on_s += 0.25 if out.pump else 0.0
        now += 0.25
    assert on_s <= 60.0


def test_a_drain_valve_wished_open_for_200_s_closes_at_max_run_s() -> None:
    params = Params(
        loops=(LoopParams("bathroom", max_run_s=60.0),), topology="drain", has_pump=False
    )
    sup = SafetySupervisor(params)
    open_s, now = 0.0, 0.0
    while now < 200.0:
        out, _ = sup.filter(
            Relays(pump=False, valves={"bathroom": True}), now, readings=good_readings(params, now)
        )
        open_s += 0.25 if out.valves["bathroom"] else 0.0
        now += 0.25
    assert 59.0 <= open_s <= 60.0


def test_a_valve_wished_open_with_the_pump_off_stays_closed_after_its_lead_window() -> None:
    params = Params(loops=(LoopParams("bathroom"),), valve_lead_s=0.5)
    sup = SafetySupervisor(params)
    open_s = 0.0
    now = 0.0
    while now < 10.0:
        out, _ = sup.filter(
            Relays(pump=False, valves={"bathroom": True}), now, readings=good_readings(params, now)
        )
        open_s += 0.25 if out.valves["bathroom"] else 0.0
        now += 0.25
    assert open_s <= 0.5 + SLACK_S + 0.25


def test_the_lag_window_belongs_to_a_valve_that_was_open_while_the_pump_ran() -> None:
    # kitchen opens just after the pump stopped: it gets a lead window (0 s here), not the
    # lag window bathroom has.
    params = Params(
        loops=(LoopParams("bathroom"), LoopParams("kitchen")), valve_lead_s=0.0, valve_lag_s=2.0
    )
    sup = SafetySupervisor(params)
    both_open = {"bathroom": True, "kitchen": False}
    sup.filter(Relays(True, both_open), 0.0, readings=good_readings(params, 0.0))
    sup.filter(Relays(False, both_open), 1.0, readings=good_readings(params, 1.0))
    wish = Relays(False, {"bathroom": True, "kitchen": True})
    sup.filter(wish, 1.1, readings=good_readings(params, 1.1))
    out, _ = sup.filter(wish, 1.6, readings=good_readings(params, 1.6))
    assert out.valves == {"bathroom": True, "kitchen": False}


def test_a_held_veto_is_reported_once_as_new_then_as_still_holding() -> None:
    params = Params(loops=(LoopParams("bathroom"),))
    sup = SafetySupervisor(params)
    wish = Relays(pump=True, valves={"bathroom": False})
    _, first = sup.filter(wish, 0.0, readings=good_readings(params, 0.0))
    _, second = sup.filter(wish, 0.25, readings=good_readings(params, 0.25))
    assert [(v.rule, v.new) for v in first] == [("I2", True)]
    assert [(v.rule, v.new) for v in second] == [("I2", False)]


def test_a_blind_cold_line_sensor_keeps_its_valve_closed_in_crossover() -> None:
    params = Params(loops=(LoopParams("bathroom", has_cold_sensor=True),))
    sup = SafetySupervisor(params)
    readings = {
        loop_key("bathroom"): SensorSample(20.0, 0.0),
        cold_key("bathroom"): SensorSample(None, 0.0, "disconnected"),
    }
    out, vetoes = sup.filter(Relays(pump=False, valves={"bathroom": True}), 0.0, readings=readings)
    assert not out.valves["bathroom"]
    assert [v.rule for v in vetoes] == ["I5"]
