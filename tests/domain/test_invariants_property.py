"""Property tests for the safety invariants I1–I5 (docs/safety.md).

Hypothesis draws an installation (topology, loops, delays, limits) and a random script of
triggers, temperatures (including 85.0, −127, CRC errors, frozen sensors and cold-line
spikes), bridge drop-outs and resets. The rig replays it tick by tick and every invariant
is checked on every tick against an oracle written independently of the controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zcw.domain.model import (
    LoopParams,
    Params,
    Request,
    SensorSample,
    Source,
    Topology,
    cold_key,
    loop_key,
)
from zcw.testing.rig import Rig

EXAMPLES = 500
SLACK_S = 0.3  # one tick of sequencing slack (the supervisor's TICK_SLACK_S)

LOOP_NAMES = ("bathroom", "kitchen")


@st.composite
def installations(draw: st.DrawFn) -> Params:
    topology: Topology = draw(st.sampled_from(["crossover", "crossover", "return_line", "drain"]))
    n = draw(st.integers(1, 2))
    loops = tuple(
        LoopParams(
            name=LOOP_NAMES[i],
            ready_c=draw(st.sampled_from([35.0, 38.0])),
            max_run_s=draw(st.sampled_from([15.0, 30.0, 60.0])),
            has_cold_sensor=draw(st.booleans()),
            sensor_tau_s=draw(st.sampled_from([0.0, 8.0, 40.0])),
            transit_hint_s=draw(st.sampled_from([None, 10.0])),
        )
        for i in range(n)
    )
    return Params(
        loops=loops,
        topology=topology,
        has_pump=topology != "drain",
        has_heater_out=draw(st.booleans()),
        valve_lead_s=draw(st.sampled_from([0.0, 0.5, 2.0])),
        valve_lag_s=draw(st.sampled_from([0.0, 0.5, 2.0])),
        min_rest_s=draw(st.sampled_from([0.0, 5.0, 30.0])),
        ignition_timeout_s=draw(st.sampled_from([5.0, 30.0])),
    )


Op = tuple[str, int, float, int]  # (kind, loop index, value, ticks to run afterwards)

OPS = st.tuples(
    st.sampled_from(
        [
            "start",
            "start",
            "start_schedule",
            "stop",
            "reset",
            "away",
            "auto",
            "walk",
            "walk",
            "walk",
            "hot",
            "glitch85",
            "minus127",
            "crc",
            "freeze",
            "unfreeze",
            "cold_spike",
            "cold_walk",
            "heater",
            "bridge_off",
            "bridge_on",
        ]
    ),
    st.integers(0, 1),
    st.floats(-4.0, 4.0, allow_nan=False),
    st.integers(0, 40),
)


@dataclass
class Trace:
    """What the oracle needs, recorded tick by tick: time, relays, and what the sensors said."""

    params: Params
    ticks: list[tuple[float, bool, dict[str, bool], dict[str, SensorSample]]] = field(
        default_factory=list
    )


def replay(params: Params, ops: list[Op]) -> Trace:
    rig = Rig(params)
    names = params.loop_names
    temps = dict.fromkeys(names, 20.0)
    for name in names:
        rig.set_loop(name, 20.0)
        rig.set_cold(name, 15.0)
    rig.temps["heater_out"] = 15.0
    trace = Trace(params)
    for kind, idx, value, ticks in ops:
        name = names[idx % len(names)]
        requests: list[Request] = []
        if kind in ("start", "start_schedule"):
            source = Source.SCHEDULE if kind == "start_schedule" else Source.BUTTON
            requests.append(Request("start", source, name))
        elif kind == "stop":
            requests.append(Request("stop", Source.CLI))
        elif kind == "reset":
            requests.append(Request("reset", Source.CLI))
        elif kind in ("away", "auto"):
            requests.append(Request("mode", Source.CLI, mode=kind))  # type: ignore[arg-type]
        elif kind == "walk":
            temps[name] = min(max(temps[name] + value, 5.0), 60.0)
            rig.set_loop(name, temps[name])
            rig.errors.pop(loop_key(name), None)
        elif kind == "hot":
            temps[name] = min(temps[name] + 10.0, 60.0)
            rig.set_loop(name, temps[name])
        elif kind == "glitch85":
            rig.set_loop(name, 85.0)
        elif kind == "minus127":
            rig.set_loop(name, -127.0)
        elif kind == "crc":
            rig.errors[loop_key(name)] = "crc"
        elif kind == "freeze":
            rig.frozen.add(loop_key(name))
        elif kind == "unfreeze":
            rig.frozen.discard(loop_key(name))
        elif kind == "cold_spike":
            rig.set_cold(name, 38.0 + abs(value))
        elif kind == "cold_walk":
            rig.set_cold(name, 15.0 + abs(value))
        elif kind == "heater":
            rig.temps["heater_out"] = 15.0 + 10 * abs(value)
        elif kind == "bridge_off":
            rig.bridge_online = False
        elif kind == "bridge_on":
            rig.bridge_online = True
        for i in range(ticks + 1):
            decision = rig.tick(requests if i == 0 else ())
            trace.ticks.append(
                (
                    decision.snapshot.at_s,
                    decision.relays.pump,
                    dict(decision.relays.valves),
                    dict(rig.delivered),
                )
            )
    return trace


def plausible(sample: SensorSample | None, now_s: float, period_s: float) -> bool:
    """The oracle's own, simpler idea of a usable reading (a subset of the validator's)."""
    if sample is None or sample.error is not None or sample.value_c is None:
        return False
    if now_s - sample.at_s > 3 * period_s:
        return False
    return sample.value_c not in (85.0, -127.0) and -10.0 <= sample.value_c <= 100.0


def run_lengths(trace: Trace) -> list[tuple[float, bool, dict[str, bool], float, dict[str, float]]]:
    """Per tick: time, pump, valves, pump-on duration, valve-open-with-pump-off durations."""
    out = []
    pump_on_since: float | None = None
    pump_off_since: float | None = None
    valve_open_since: dict[str, float] = {}
    for t, pump, valves, _ in trace.ticks:
        if pump and pump_on_since is None:
            pump_on_since, pump_off_since = t, None
        if not pump and pump_on_since is not None:
            pump_on_since, pump_off_since = None, t
        for n, is_open in valves.items():
            if is_open:
                valve_open_since.setdefault(n, t)
            else:
                valve_open_since.pop(n, None)
        on_for = t - pump_on_since if pump_on_since is not None else 0.0
        idle_open = {}
        for n, since in valve_open_since.items():
            if not pump:
                lag_window = pump_off_since is not None and t - pump_off_since
                idle_open[n] = min(
                    t - since, lag_window if lag_window is not False else float("inf")
                )
        out.append((t, pump, valves, on_for, idle_open))
    return out


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCRIPTS = st.lists(OPS, min_size=1, max_size=30)


@SETTINGS
@given(installations(), SCRIPTS)
def test_i1_valve_closed_when_pump_has_been_off(params: Params, ops: list[Op]) -> None:
    if params.topology == "drain":
        return  # I1 does not apply to drain: the valve is the flow (covered by I3 instead)
    trace = replay(params, ops)
    bound = max(params.valve_lead_s, params.valve_lag_s) + SLACK_S
    for t, _pump, _valves, _on_for, idle_open in run_lengths(trace):
        for n, open_for in idle_open.items():
            assert open_for <= bound, f"t={t}: valve {n} open {open_for:.2f}s with pump off"


@SETTINGS
@given(installations(), SCRIPTS)
def test_i2_no_deadhead_in_crossover(params: Params, ops: list[Op]) -> None:
    trace = replay(params, ops)
    for t, pump, valves, _ in trace.ticks:
        if params.topology == "crossover" and pump:
            assert any(valves.values()), f"t={t}: pump on with every valve closed"


@SETTINGS
@given(installations(), SCRIPTS)
def test_i3_pump_never_exceeds_max_run(params: Params, ops: list[Op]) -> None:
    trace = replay(params, ops)
    cap = max(lp.max_run_s for lp in params.loops)
    for t, _pump, _valves, on_for, _ in run_lengths(trace):
        assert on_for <= cap, f"t={t}: pump on for {on_for:.2f}s > {cap}"
    if not params.has_pump:
        open_since: dict[str, float] = {}
        for t, _pump, valves, _ in trace.ticks:
            for n, is_open in valves.items():
                if is_open:
                    open_since.setdefault(n, t)
                    assert t - open_since[n] <= cap + SLACK_S
                else:
                    open_since.pop(n, None)


@SETTINGS
@given(installations(), SCRIPTS)
def test_i4_valve_never_opens_without_valid_reading(params: Params, ops: list[Op]) -> None:
    trace = replay(params, ops)
    previous: dict[str, bool] = {}
    for t, _pump, valves, delivered in trace.ticks:
        for n, is_open in valves.items():
            if is_open and not previous.get(n, False):
                sample = delivered.get(loop_key(n))
                assert plausible(sample, t, params.sensor_period_s), f"t={t}: {n} on {sample}"
        previous = valves


@SETTINGS
@given(installations(), SCRIPTS)
def test_i5_cold_line_overrun_closes_valve_and_stops_pump_at_once(
    params: Params, ops: list[Op]
) -> None:
    trace = replay(params, ops)
    limit = params.cold_line_max_c
    cold_loops = [lp.name for lp in params.loops if lp.has_cold_sensor]
    for t, pump, valves, delivered in trace.ticks:
        for n in cold_loops:
            sample = delivered.get(cold_key(n))
            if sample is None or sample.value_c is None:
                continue
            value = sample.value_c
            if value >= limit:
                assert not valves[n], f"t={t}: valve {n} open with cold line at {value}"
                assert not pump, f"t={t}: pump on with cold line at {value}"
