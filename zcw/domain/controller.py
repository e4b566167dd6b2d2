"""The cycle controller: requests and sensor readings in, relay wishes and events out.

This is the pure core of zcw (PRODUCT.md §2). It does no I/O and reads no clock: every call
to :meth:`Controller.step` gets ``now_s`` from the caller, so a test can drive it from a table
and the bench can run it 1000× faster than real time.

One cycle, per requested loop:

1. already hot (valid T_loop ≥ ready_c − hysteresis_c) → ``already_hot``, nothing moves;
2. otherwise open the valve, wait ``valve_lead_s``, start the pump;
3. when hot water *arrives* close that valve, or, if it was the last loop heating, stop the
   pump first and close the valve ``valve_lag_s`` later. Arrival is predicted from the
   lagging sensor, or, where that is known to come too late for a steady front, taken from
   the arrival the loop learned (:mod:`zcw.domain.learning`);
4. limits: ``max_run_s``, ``min_rest_s``, and a trigger during a cycle joins it.

The :class:`~zcw.domain.safety.SafetySupervisor` filters every output; when it has to veto
something the controller aborts the cycle, so the two never disagree for long.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from zcw.domain import faults as F
from zcw.domain.arrival import SPIN_DOWN_S, ArrivalEstimator
from zcw.domain.faults import Fault
from zcw.domain.learning import (
    STANDING_TARGET_K,
    LagTrace,
    Learned,
)
from zcw.domain.model import (
    HEATER_OUT,
    BridgeNotice,
    Event,
    EventKind,
    LoopParams,
    Mode,
    Params,
    Relays,
    Request,
    SensorSample,
    Source,
    cold_key,
    loop_key,
)
from zcw.domain.safety import SafetySupervisor, Veto
from zcw.domain.sensors import SensorValidator, Verdict

# I6: how much the heater outlet must rise to prove the burner lit, and the loop sensor when
# there is no outlet sensor (smaller: it sees the front through the pipe wall).
HEATER_RISE_C = 3.0
LOOP_RISE_C = 2.0
# A loop whose sensor never reads ready_c (it learned stops_on_rise) stops when its reading
# has risen this much in the cycle: a dry clip on PPR starts to warm only as the front is
# already at the valve, so the earliest clear sign is the best one. H4's near tap, 20 seeds:
# a 2 K rise stopped 13-20 s late (21 events over cold_line_max_c, 7 cold); 1 K gave 5 and
# 13; 0.5 K gave 3 and 30, the pipe's own warm water on the move passing for the front.
RISE_ARRIVAL_K = 1.0
# A loop that stops on its first warming has learned when a cooled pipe's reading rises
# (Learned.rise_s). If by SLUG_JUDGED_AT of that its reading had already moved SLUG_RISE_K
# (four steps of a 12-bit DS18B20, past its jitter), the rise is a lukewarm slug from a
# shared trunk creeping the sensor up ahead of the front. The front itself can then only be
# at the valve from SLUG_EARLIEST_RISE of the learned rise on: the clean rise comes a sensor
# delay after the water (H4's near tap: 3-14 s). At 0.8, H4's 20 seeds miss 8 events
# instead of 12 with no more water over the limit; 0.75 missed 13, 0.85 let one more event
# over the limit and 0.9 three more. The creep threshold hardly matters: 0.0625-0.25 K gave
# the same figures.
SLUG_RISE_K = 0.25
SLUG_JUDGED_AT = 0.5
SLUG_EARLIEST_RISE = 0.8
# A cycle that starts this far below ready_c starts from a cooled pipe: its transit is learned.
COLD_START_K = 10.0
# The heater's front cannot reach the valve before the pipe's own water has been pushed out,
# so the look-ahead waits for this fraction of the transit a cooled pipe takes. Before that a
# rise is standing water on the move (a warm slug), which the look-ahead would extrapolate
# into a stop with cold water behind it. Warm pipes arrive earlier (R0: ≈ 0.65 of a cold
# start, when hot water stood upstream), so the fraction stays below that.
FRONT_EARLIEST_TRANSIT = 0.5
# A stop on the learned arrival waits for the recovered water to have risen this much in the
# cycle, and out of the cooled-pipe range: the front is at the valve's sensor, not an
# ignition retry or a heater that never lit.
FRONT_EVIDENCE_K = 3.0
# Where no cold line is at stake, stop this far past ready_c (DS18B20 accuracy, plus noise).
NO_COLD_LINE_MARGIN_K = 0.5
# A sensor that catches up to this far over cold_line_max_c after the stop shows a late stop:
# no sensor reads standing water high but for a DS18B20's +0.5 K, so water over the limit
# was at the valve, and it entered the cold line.
LATE_STOP_MARGIN_K = 0.5
# A loop whose cooled-pipe cycles, this many of them, never once gave a first-order lag fit
# and whose stops still come late has a sensor the estimate cannot invert (see _judge_stop).
UNFITTED_CYCLES = 3
# Faults that tell of something the bridge did by itself: shown until the next cycle starts.
BRIDGE_EVENT_FAULTS = frozenset({"bridge_local_close", "bridge_dead_man"})
# A start asked before anything is wrong but before the loop has a reading (the daemon just
# started, the bridge just reconnected) waits this many sensor periods for one.
HOLD_PERIODS = 2.0
# Two max_run aborts in a row latch: something is broken, not just a cold day.
MAX_RUN_REPEAT_LATCH = 2
# Right after start-up the bridge is still connecting and no reading has arrived yet; that
# is not worth a fault (everything is off, and a start is still refused) for this long.
STARTUP_GRACE_S = 5.0


def _cooled(lp: LoopParams, temp_c: float) -> bool:
    """A loop reading this low means a cooled pipe (COLD_START_K below ready_c)."""
    return temp_c <= lp.ready_c - COLD_START_K


def _rose(run: _LoopRun, by_c: float) -> bool:
    """Has the loop's reading risen ``by_c`` above the lowest it read in this cycle?"""
    low, now = run.min_seen_c, run.last_value_c
    return low is not None and now is not None and now - low >= by_c


class Phase(StrEnum):
    """Where the cycle is. IDLE also covers min_rest after a cycle."""

    IDLE = "idle"
    STARTING = "starting"  # valves open, waiting valve_lead_s before the pump
    RUNNING = "running"
    STOPPING = "stopping"  # pump off, waiting valve_lag_s before closing valves


LoopState = Literal["idle", "heating", "hot", "aborted"]


@dataclass(slots=True)
class _LoopRun:
    params: LoopParams
    source: Source
    started_s: float
    estimator: ArrivalEstimator
    state: LoopState = "heating"
    valve_open: bool = True
    min_seen_c: float | None = None
    cold_min_c: float | None = None
    risen: bool = False
    hot_at_s: float | None = None
    last_value_c: float | None = None
    changed_at_s: float = 0.0
    on_arrival: bool = False
    start_c: float | None = None
    warm: bool = False  # began within COLD_START_K of ready_c: the warm gain's cycle
    rise_at_s: float | None = None  # since when it has read RISE_ARRIVAL_K over its lowest
    slug: bool | None = None  # a slug crept the sensor up early (None: not judged yet)


@dataclass(frozen=True, slots=True)
class LoopView:
    """What the world sees of one loop."""

    temp_c: float | None
    water_est_c: float | None
    valve: bool
    state: LoopState


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """The outcome of the last finished cycle."""

    loops: tuple[str, ...]
    source: str
    started_s: float
    ended_s: float
    time_to_hot_s: float | None
    volume_l: float | None
    outcome: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One typed picture per control tick; MQTT, the dashboard and the logs all read it."""

    at_s: float
    state: Literal["idle", "heating", "fault", "away"]
    phase: Phase
    mode: Mode
    pump: bool
    loops: Mapping[str, LoopView]
    faults: tuple[Fault, ...]
    last_cycle: CycleSummary | None
    heater_out_c: float | None = None
    cold_c: Mapping[str, float | None] = field(default_factory=dict)
    learned: Mapping[str, Learned] = field(default_factory=dict)

    @property
    def fault(self) -> Fault | None:
        """The fault to show first: a latched one, else the bridge being offline (which makes
        every sensor go stale too: the cause before its symptoms), else the oldest."""
        latched = [f for f in self.faults if f.latching]
        offline = [f for f in self.faults if f.code == "bridge_offline"]
        ordered = latched or offline or list(self.faults)
        return ordered[0] if ordered else None


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of one step: what the relays should be, and what happened."""

    relays: Relays
    events: tuple[Event, ...]
    snapshot: Snapshot
    vetoes: tuple[Veto, ...] = ()


class Controller:
    """Stateful, deterministic, I/O-free. Feed it with :meth:`step` on every control tick."""

    def __init__(self, params: Params, *, now_s: float = 0.0, mode: Mode = "auto") -> None:
        if not params.loops:
            raise ValueError("at least one loop is required")
        self.params = params
        self._learned = {lp.name: Learned() for lp in params.loops}
        self._trace: LagTrace | None = None
        self.mode: Mode = mode
        self._supervisor = SafetySupervisor(params)
        self._validators = {
            key: SensorValidator(period_s=params.sensor_period_s) for key in self._sensor_keys()
        }
        self._verdicts: dict[str, Verdict] = {}
        self._raw: Mapping[str, SensorSample] = {}
        self._faults: dict[tuple[str, str | None], Fault] = {}
        self._phase = Phase.IDLE
        self._runs: dict[str, _LoopRun] = {}
        self._cycle_source: Source = Source.CLI
        self._cycle_started_s = now_s
        self._pump_on_s: float | None = None
        self._pump_off_s: float | None = None
        self._heater_ref_c: float | None = None
        self._heater_proven = False
        self._heater_proven_s: float | None = None
        self._last_end_s: float | None = None
        self._max_run_streak = 0
        self._last_cycle: CycleSummary | None = None
        self._cycle_outcome = "hot"
        self._first_hot_s: float | None = None
        self._events: list[Event] = []
        self._now_s = now_s
        self._created_s = now_s
        self._relays = Relays.off(params.loop_names)
        self._bridge_online = True
        # Starts asked before the bridge or the loop's first reading was there (HOLD_PERIODS).
        self._held: list[tuple[Request, float]] = []

    # ------------------------------------------------------------------ public API

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(self._faults.values())

    @property
    def learned(self) -> Mapping[str, Learned]:
        """What each loop has taught so far; the history recorder persists it on change."""
        return dict(self._learned)

    def restore_learned(self, learned: Mapping[str, Learned]) -> None:
        """What an earlier run learned (from the store); loops no longer configured are dropped."""
        for name, value in learned.items():
            if name in self._learned:
                self._learned[name] = value

    def raise_external_fault(self, fault: Fault) -> None:
        """Report an adapter's transient fault (e.g. MQTT login refused) in the snapshot.

        External faults are informational: they never latch and never stop a cycle, because
        losing the broker or the Mi Home proxy must not block local control.
        """
        if fault.latching:
            raise ValueError("external faults cannot latch")
        self._raise(fault)

    def clear_external_fault(self, code: str) -> None:
        self._clear(code)

    def notify_bridge_rebooted(self) -> None:
        """The bridge restarted: its relays are OFF, so a running cycle is over.

        Its sensors are fresh too, so 85.0 °C is a power-on value again.
        """
        for validator in self._validators.values():
            validator.reset()
        self._supervisor.forget_readings()
        if self._phase is not Phase.IDLE:
            self._abort("bridge_rebooted", hard=True)

    def step(
        self,
        now_s: float,
        readings: Mapping[str, SensorSample],
        requests: Sequence[Request] = (),
        *,
        bridge_online: bool = True,
        notices: Sequence[BridgeNotice] = (),
    ) -> Decision:
        self._now_s = now_s
        self._bridge_online = bridge_online
        self._validate(readings)
        self._learn_lag()
        self._update_bridge_fault(bridge_online)
        for notice in notices:
            self._on_bridge(notice)
        held, self._held = self._held, []
        for req, since_s in held:
            self._start(req, since_s)
        for req in requests:
            self._handle(req)
        self._advance()
        desired = self._desired_relays()
        relays, vetoes = self._supervisor.filter(
            desired, now_s, readings=readings, force_off=self._must_be_off()
        )
        if vetoes and self._phase is not Phase.IDLE:
            # The supervisor disagreed: the cycle can no longer be trusted, so end it at once.
            self._abort("safety_veto:" + ",".join(sorted({v.rule for v in vetoes})), hard=True)
        return self._decide(relays, vetoes)

    def fail_safe(self, now_s: float, what: str) -> Decision:
        """I7: something unexpected happened outside the controller; everything goes OFF."""
        self._now_s = now_s  # the fault is dated now, not at the last good tick
        self._raise(F.internal_error(what))
        return self._all_off(now_s, "internal_error")

    def shut_down(self, now_s: float) -> Decision:
        """The daemon is stopping: a running cycle ends as ``shutdown`` and everything is OFF.

        Not a fault: observers (the history store, MQTT's retained state) see the cycle end
        and an idle state, rather than a cycle frozen at "heating" by the last tick.
        """
        return self._all_off(now_s, "shutdown")

    def _all_off(self, now_s: float, reason: str) -> Decision:
        self._now_s = now_s
        if self._phase is not Phase.IDLE:
            self._abort(reason, hard=True)
        relays, vetoes = self._supervisor.filter(
            Relays.off(self.params.loop_names), now_s, readings=self._raw, force_off=True
        )
        return self._decide(relays, vetoes)

    def _decide(self, relays: Relays, vetoes: tuple[Veto, ...]) -> Decision:
        self._relays = relays
        events, self._events = tuple(self._events), []  # includes external faults since last step
        return Decision(relays, events, self.snapshot(), vetoes)

    def snapshot(self) -> Snapshot:
        loops: dict[str, LoopView] = {}
        for lp in self.params.loops:
            run = self._runs.get(lp.name)
            loops[lp.name] = LoopView(
                temp_c=self._value(loop_key(lp.name)),
                water_est_c=run.estimator.water_c(self._now_s) if run else None,
                valve=self._relays.valves.get(lp.name, False),
                state=run.state if run else "idle",
            )
        if any(f.latching for f in self._faults.values()):
            state: Literal["idle", "heating", "fault", "away"] = "fault"
        elif self._phase is not Phase.IDLE:
            state = "heating"
        elif self._faults:
            state = "fault"
        elif self.mode == "away":
            state = "away"
        else:
            state = "idle"
        return Snapshot(
            at_s=self._now_s,
            state=state,
            phase=self._phase,
            mode=self.mode,
            pump=self._relays.pump,
            loops=loops,
            faults=self.faults,
            last_cycle=self._last_cycle,
            heater_out_c=self._value(HEATER_OUT),
            cold_c={lp.name: self._value(cold_key(lp.name)) for lp in self.params.loops},
            learned=dict(self._learned),
        )

    # ------------------------------------------------------------------ sensors

    def _sensor_keys(self) -> list[str]:
        keys = [loop_key(lp.name) for lp in self.params.loops]
        keys += [cold_key(lp.name) for lp in self.params.loops if lp.has_cold_sensor]
        if self.params.has_heater_out:
            keys.append(HEATER_OUT)
        return keys

    def _validate(self, readings: Mapping[str, SensorSample]) -> None:
        self._raw = readings
        for key, validator in self._validators.items():
            verdict = validator.check(readings.get(key), self._now_s)
            self._verdicts[key] = verdict
            loop = key.split(":", 1)[1] if ":" in key else None
            starting = self._now_s - self._created_s < STARTUP_GRACE_S
            if not (starting and verdict.error == "missing"):
                self._sensor_fault(key, loop, verdict)
            run = self._runs.get(loop) if loop and key.startswith("loop:") else None
            sample = readings.get(key)
            trace = self._trace
            if trace is not None and key == loop_key(trace.loop):
                if verdict.value_c is None or sample is None:
                    self._trace = None  # a gap or a bad reading: this trace can't be trusted
                else:
                    trace.add(sample.at_s, verdict.value_c)
            if run is not None and verdict.value_c is not None and sample is not None:
                if verdict.value_c != run.last_value_c:
                    run.last_value_c, run.changed_at_s = verdict.value_c, self._now_s
                run.estimator.add(sample.at_s, verdict.value_c)
                if run.min_seen_c is None or verdict.value_c < run.min_seen_c:
                    run.min_seen_c = verdict.value_c
                run.risen = run.risen or _rose(run, LOOP_RISE_C)

    def _sensor_fault(self, key: str, loop: str | None, verdict: Verdict) -> None:
        """Raise or clear the fault of one sensor role: the loop sensor, a loop's cold-line
        sensor, or the heater outlet. Each keeps its own code, so one never hides another."""
        role = {"loop": "loop", "cold": "cold-line"}.get(key.split(":")[0], "heater outlet")
        invalid, stale = F.sensor_codes(role)
        if verdict.error is None:
            self._clear(invalid, loop)
            self._clear(stale, loop)
            return
        blocks = role != "cold-line" or (loop is not None and self._needs_cold(loop))
        fault = F.sensor_invalid(loop, role, verdict.error, blocks=blocks)
        self._clear(stale if fault.code == invalid else invalid, loop)
        self._raise(fault)

    def _needs_cold(self, loop: str) -> bool:
        """In crossover a loop with a cold-line sensor relies on it for I5: it neither starts
        nor runs while that sensor cannot be read (the supervisor holds it too)."""
        return self.params.topology == "crossover" and self.params.loop(loop).has_cold_sensor

    def _learn_lag(self) -> None:
        trace = self._trace
        if trace is None or not trace.complete(self._now_s):
            return
        self._trace = None
        fit = trace.fit()
        learned = self._learned[trace.loop]
        lp = self.params.loop(trace.loop)
        if fit is not None:
            learned = learned.with_tau(fit.tau_s, fit.catch_up_c)
            if self.params.topology == "crossover":  # the look-ahead only runs there
                learned = learned.with_standing(
                    fit.standing_c, lp.ready_c + STANDING_TARGET_K, warm=trace.warm
                )
        self._learned[trace.loop] = learned
        if self.params.topology == "crossover":
            self._judge_stop(trace)
            self._learned[trace.loop] = trace.arrival_lesson(
                self._learned[trace.loop],
                ready_c=lp.ready_c,
                cold_line_max_c=self.params.cold_line_max_c,
                tau_s=self._tau_s(lp),
                lag_s=self.params.valve_lag_s,
                standing_c=None if fit is None else fit.standing_c,
            )

    def _judge_stop(self, trace: LagTrace) -> None:
        """I5 without T_cold, after the fact. In crossover the water standing at the valve
        after the stop is the last water that entered the cold line; a sensor that catches up
        to clearly over cold_line_max_c shows that the stop came late (PHYSICS.md §4: a clamp
        on bare PPR reads 52 s behind the water, and the estimate cannot invert a wall)."""
        if trace.pump_s is None:
            return  # not a lone loop's cycle that ended hot: nothing to judge
        peak = trace.peak_after_stop_c()
        limit = self.params.cold_line_max_c
        if peak is None or peak < limit + LATE_STOP_MARGIN_K:
            self._clear("late_stop", trace.loop)
            return
        learned = self._learned[trace.loop]
        # A sensor whose catch-up never fitted a first-order lag (a clamp on plastic; this
        # cycle's fit is already counted) is one the estimate cannot invert: its first warming
        # is the earliest sign of the front it gives, as for a sensor that never reads ready_c
        # at all (max_run). Not on the first cycles: a step front's first catch-up can miss
        # the fit on copper too (H3: 5 of 20 seeds switched, and 28 events failed).
        unfitted = learned.tau_fits == 0 and learned.transit_cycles >= UNFITTED_CYCLES
        switch = trace.cooled and unfitted
        if switch and not learned.stops_on_rise:
            self._learned[trace.loop] = replace(learned, stops_on_rise=True)
        self._raise(
            F.late_stop(trace.loop, peak, limit, stops_on_rise=switch or learned.stops_on_rise)
        )

    def _tau_s(self, lp: LoopParams) -> float:
        learned = self._learned[lp.name].tau_s
        return learned if learned is not None else lp.sensor_tau_s

    def _lead_gain(self, lp: LoopParams, *, warm: bool) -> float:
        # The look-ahead exists to stop before water over cold_line_max_c enters the cold
        # line. With no cold line at stake (a return pipe, the drain) it would only risk a
        # stop before the water is hot: there the stop waits for the recovered water itself.
        if self.params.topology != "crossover":
            return 0.0
        return self._learned[lp.name].gain_for(warm=warm)

    def _transit_s(self, lp: LoopParams) -> float | None:
        """Pump start → hot at the valve: the config's hint, else what the loop taught."""
        return lp.transit_hint_s or self._learned[lp.name].transit_s

    def _valid(self, key: str) -> bool:
        verdict = self._verdicts.get(key)
        return verdict is not None and verdict.valid

    def _value(self, key: str) -> float | None:
        verdict = self._verdicts.get(key)
        return verdict.value_c if verdict is not None else None

    def _cold_guard_c(self, loop: str) -> float | None:
        """The cold-line reading for I5, erring on the side of safety.

        A fast rise on the cold side is exactly what an overrun looks like, so a reading the
        validator holds back only as a "jump" still counts here.
        """
        key = cold_key(loop)
        verdict = self._verdicts.get(key)
        if verdict is None:
            return None
        if verdict.error == "jump":
            sample = self._raw.get(key)
            return sample.value_c if sample is not None else None
        return verdict.value_c

    # ------------------------------------------------------------------ faults

    def _raise(self, fault: Fault) -> None:
        current = self._faults.get(fault.key)
        if current == fault:
            return
        self._faults[fault.key] = fault
        if current is None or current.code != fault.code:
            self._emit(
                "fault",
                loop=fault.loop,
                reason=fault.code,
                data={"message": fault.message, "hint": fault.hint},
            )

    def _clear(self, code: str, loop: str | None = None) -> None:
        fault = self._faults.get((code, loop))
        if fault is not None and not fault.latching:
            del self._faults[(code, loop)]
            self._emit("fault_cleared", loop=loop, reason=code)

    def _update_bridge_fault(self, online: bool) -> None:
        if online:
            self._clear("bridge_offline")
        elif self._now_s - self._created_s < STARTUP_GRACE_S and self._phase is Phase.IDLE:
            pass  # still connecting at start-up: not a fault yet (relays are off anyway)
        else:
            self._raise(F.bridge_offline())
            if self._phase is not Phase.IDLE:
                self._abort("bridge_offline", hard=True)

    def _on_bridge(self, notice: BridgeNotice) -> None:
        """The bridge acted by itself (PRODUCT §3, layer 1): say so, and end what it ended.
        The bridge's word on its relays is final; the cycle never argues with it."""
        loop, kind = notice.loop, notice.kind
        if kind == "bound":
            if loop is not None:
                self._clear("bridge_binding", loop)
            return
        if kind in ("local_close", "refused", "bind_refused"):
            if loop is None:
                return  # the pump followed its last valve: the valve's own notice says why
            if kind == "bind_refused":
                self._raise(F.bridge_binding(loop, notice.detail))
            else:
                self._raise(F.bridge_local_close(loop, notice.detail, refused=kind == "refused"))
            run = self._runs.get(loop)
            if run is not None and run.state == "heating":
                self._end_loop(run, "aborted", f"bridge_{kind}")
            if run is not None:
                run.valve_open = False  # the bridge has it closed and will refuse it
            return
        if kind == "cap":
            self._raise(F.bridge_cap(loop, notice.detail))
        else:
            self._raise(F.bridge_dead_man(notice.detail))
        if self._phase is not Phase.IDLE:
            self._abort(f"bridge_{kind}", hard=True)

    def _must_be_off(self) -> bool:
        return not self._bridge_online or any(f.latching for f in self._faults.values())

    def _reset(self) -> None:
        for key in [k for k, f in self._faults.items() if f.latching]:
            del self._faults[key]
            self._emit("fault_cleared", loop=key[1], reason=key[0])
        self._max_run_streak = 0
        # The max_run hint asks to re-seat a sensor that never read ready_c, then reset: so a
        # reset also forgets "stop on the first warming" and "stop on the learned arrival",
        # and the loop judges its sensor anew (stops on the arrival never judge it).
        for name, learned in self._learned.items():
            self._learned[name] = learned.judged_anew()

    # ------------------------------------------------------------------ requests

    def _handle(self, req: Request) -> None:
        if req.action == "reset":
            self._reset()
        elif req.action == "mode":
            if req.mode is not None and req.mode != self.mode:
                self.mode = req.mode
                self._emit("mode_changed", source=req.source, reason=req.mode)
        elif req.action == "stop":
            self._stop(req)
        else:
            self._start(req)

    def _stop(self, req: Request) -> None:
        if self._phase in (Phase.IDLE, Phase.STOPPING):
            return
        if req.loop is not None and req.loop in self._runs:
            run = self._runs[req.loop]
            if run.state == "heating":
                run.state = "aborted"
                self._emit("cycle_stopped", loop=req.loop, source=req.source)
            if self._heating():
                run.valve_open = False
                return
        self._cycle_outcome = "stopped"
        if req.loop is None:
            self._emit("cycle_stopped", source=req.source)
        for run in self._runs.values():
            if run.state == "heating":
                run.state = "aborted"
        self._begin_stop()

    def _start(self, req: Request, since_s: float | None = None) -> None:
        name = req.loop or self.params.default_loop
        emit = self._emitter(name, req.source)
        if name not in self.params.loop_names:
            emit("rejected", "unknown_loop", loops=", ".join(self.params.loop_names))
            return
        if self.mode == "away" and req.source.automatic:
            emit("rejected", "away")
            return
        if self._must_be_off() or not self._loop_ready(name):
            blocking = self._blocking_fault(name)
            if blocking is not None:
                emit("rejected", "fault", fault=blocking.code, message=blocking.message)
                return
            # Nothing is wrong yet: the bridge is still connecting or the loop's first
            # reading has not come. Hold the request a little rather than refuse it.
            since_s = self._now_s if since_s is None else since_s
            if self._now_s - since_s < HOLD_PERIODS * self.params.sensor_period_s:
                self._held.append((req, since_s))
                return
            emit("rejected", "not_ready", message=self._not_ready(name))
            return
        lp = self.params.loop(name)
        run = self._runs.get(name)
        if run is not None and run.state == "heating" and self._phase is not Phase.STOPPING:
            emit("joined", None)
            return
        temp = self._value(loop_key(name))
        # A learned request keeps a tap hot for a draw that may come any moment, so the pipe
        # is hot enough only while it reads ready_c itself: at ready_c − hysteresis_c the
        # water a tap delivers in its first seconds has often slipped under ready_c already
        # (docs/learning.md). The hysteresis is for a person's request on a hot-enough pipe.
        bar = lp.ready_c if req.source is Source.LEARNED else lp.ready_c - self.params.hysteresis_c
        if temp is not None and temp >= bar:
            emit("already_hot", None)
            return
        if self._phase in (Phase.STARTING, Phase.RUNNING):
            self._runs[name] = self._new_run(lp, req.source)
            emit("joined", None)
            return
        if self._phase is Phase.STOPPING or self._resting():
            end = self._last_end_s if self._last_end_s is not None else self._now_s
            wait_s = max(self.params.min_rest_s - (self._now_s - end), 0.0)
            if self._phase is Phase.STOPPING:
                wait_s = self.params.valve_lag_s + self.params.min_rest_s
            emit("rejected", "rest", retry_in_s=round(wait_s, 1))
            return
        self._begin_cycle(lp, req.source)
        emit("cycle_started", None)

    def _loop_ready(self, name: str) -> bool:
        """Can this loop's valve open at all: a valid loop reading (I4), a readable cold-line
        sensor where I5 relies on it, and the bridge's local thermostat bound."""
        if not self._valid(loop_key(name)):
            return False
        if self._needs_cold(name) and not self._valid(cold_key(name)):
            return False
        return ("bridge_binding", name) not in self._faults

    def _blocking_fault(self, name: str) -> Fault | None:
        """The fault that keeps ``name`` from starting, if one is raised (latched first)."""
        blocking = {*F.sensor_codes("loop"), *F.sensor_codes("cold-line"), "bridge_binding"}
        faults = [f for f in self._faults.values() if f.latching or f.code == "bridge_offline"]
        faults += [f for f in self._faults.values() if f.loop == name and f.code in blocking]
        return faults[0] if faults else None

    def _not_ready(self, name: str) -> str:
        if not self._bridge_online:
            return "the bridge is not connected yet"
        return f"no reading from the {name} sensor yet; try again in a few seconds"

    def _emitter(self, loop: str, source: Source) -> Callable[..., None]:
        def emit(kind: EventKind, reason: str | None, **data: float | str | None) -> None:
            self._emit(kind, loop=loop, source=source, reason=reason, data=data)

        return emit

    def _resting(self) -> bool:
        return (
            self._last_end_s is not None and self._now_s - self._last_end_s < self.params.min_rest_s
        )

    # ------------------------------------------------------------------ the cycle

    def _new_run(self, lp: LoopParams, source: Source) -> _LoopRun:
        value = self._value(loop_key(lp.name))
        sample = self._raw.get(loop_key(lp.name))
        warm = value is not None and not _cooled(lp, value)
        run = _LoopRun(
            params=lp,
            source=source,
            started_s=self._now_s,
            estimator=ArrivalEstimator(
                tau_s=self._tau_s(lp), lead_gain=self._lead_gain(lp, warm=warm)
            ),
            changed_at_s=self._now_s,
            warm=warm,
        )
        if value is not None and sample is not None:
            run.min_seen_c = run.start_c = value
            run.estimator.add(sample.at_s, value)
        return run

    def _begin_cycle(self, lp: LoopParams, source: Source) -> None:
        # What the bridge did by itself last time is shown until the next cycle starts.
        for code, loop in [k for k in self._faults if k[0] in BRIDGE_EVENT_FAULTS]:
            self._clear(code, loop)
        self._runs = {lp.name: self._new_run(lp, source)}
        # Only a lone loop's cycle is a clean experiment: its water stands still at the stop.
        self._trace = LagTrace(lp.name) if lp.sensor_tau_s > 0 else None
        self._cycle_source = source
        self._cycle_started_s = self._now_s
        self._cycle_outcome = "hot"
        self._first_hot_s = None
        self._pump_on_s = None
        self._pump_off_s = None
        self._heater_ref_c = None
        self._heater_proven = False
        self._heater_proven_s = None
        self._phase = Phase.STARTING if self.params.has_pump else Phase.RUNNING

    def _heating(self) -> list[_LoopRun]:
        return [r for r in self._runs.values() if r.state == "heating"]

    def _advance(self) -> None:
        now = self._now_s
        p = self.params
        if self._phase is Phase.STARTING and now - self._cycle_started_s >= p.valve_lead_s:
            self._phase = Phase.RUNNING
            self._pump_on_s = now
            self._heater_ref_c = self._value(HEATER_OUT)
        self._check_cold_line()
        if self._phase is Phase.RUNNING:
            for run in self._heating():
                self._check_loop(run)
            if self._phase is Phase.RUNNING:
                self._check_heater()
                self._check_cycle_cap()
            if self._phase is Phase.RUNNING and not self._heating():
                self._begin_stop()
        stopping = self._phase is Phase.STOPPING and self._pump_off_s is not None
        if stopping and now - (self._pump_off_s or now) >= p.valve_lag_s:
            self._finish()

    def _stop_threshold_c(self, lp: LoopParams) -> float:
        # I5 without T_cold: in crossover the water at the valve *is* what enters the cold
        # line, so never let it get past cold_line_max_c.
        if self.params.topology == "crossover":
            return min(lp.ready_c, self.params.cold_line_max_c)
        # No cold line at stake (a return pipe, the drain): aim past a DS18B20's ±0.5 K, so
        # a unit that reads high still stops with the water itself at ready_c.
        return lp.ready_c + NO_COLD_LINE_MARGIN_K

    def _check_loop(self, run: _LoopRun) -> None:
        name = run.params.name
        if not self._valid(loop_key(name)):  # I4: the reading went bad mid-cycle
            self._end_loop(run, "aborted", "sensor_fault")
            return
        if self._needs_cold(name) and not self._valid(cold_key(name)):  # I5 went blind
            self._end_loop(run, "aborted", "cold_sensor_fault")
            return
        if self._stuck(run):
            # I4: hot water is flowing, yet a 12-bit sensor has not changed by a single LSB.
            self._raise(F.sensor_invalid(name, "loop", "stuck"))
            self._end_loop(run, "aborted", "sensor_stuck")
            return
        estimate = run.estimator.water_c(self._now_s, look_ahead=self._front_possible(run))
        # In crossover, T_cold sits just past the valve: the water it reads is the water at
        # the valve, one step later, seen by a probe in the flow. It is the better witness of
        # arrival whenever the loop sensor is slow (a clip on plastic may never reach ready_c).
        # It must have risen in this cycle: the slug a previous stop left behind the valve can
        # still be warm when the next cycle starts.
        cold = self._value(cold_key(name)) if self.params.topology == "crossover" else None
        if cold is not None:
            run.cold_min_c = cold if run.cold_min_c is None else min(run.cold_min_c, cold)
            risen = cold - run.cold_min_c >= LOOP_RISE_C
            if risen and (estimate is None or cold > estimate):
                estimate = cold
        # A slow sensor's first warming is the front only once the front can be there: before
        # that it is warm water standing in a shared trunk, on its way out ahead of the front
        # (H4's near tap after the far one: 1 K at 25-50 s, the water itself at 55-70 s).
        self._watch_rise(run)
        rise_is_arrival = (
            self._learned[name].stops_on_rise
            and _rose(run, RISE_ARRIVAL_K)
            and not self._burner_unproven()
            and self._front_possible(run)
            and self._past_slug(run)
        )
        estimated_hot = estimate is not None and estimate >= self._stop_threshold_c(run.params)
        run.on_arrival = not estimated_hot and self._arrival_due(run)
        if rise_is_arrival or estimated_hot or run.on_arrival:
            run.state = "hot"
            run.hot_at_s = self._now_s
            self._max_run_streak = 0
            if not run.slug:  # a slug's hold time is no measure of the pipe
                self._learn_transit(run)
            if rise_is_arrival:
                self._learn_rise(run)
            if self._first_hot_s is None:
                self._first_hot_s = self._now_s
            self._emit(
                "hot_ready",
                loop=name,
                source=run.source,
                data={"time_to_hot_s": round(self._now_s - run.started_s, 1)},
            )
            if self._heating():
                run.valve_open = False
            return
        if self._now_s - run.started_s >= run.params.max_run_s:  # I3 per loop
            self._max_run_streak += 1
            repeated = self._max_run_streak >= MAX_RUN_REPEAT_LATCH
            self._raise(F.max_run(name, run.params.max_run_s, repeated, sensor_rose=run.risen))
            if run.risen:
                self._learned[name] = replace(self._learned[name], stops_on_rise=True)
                self._learn_rise(run)
            self._end_loop(run, "aborted", "max_run")

    def _watch_rise(self, run: _LoopRun) -> None:
        """Note when the reading rose RISE_ARRIVAL_K (again, if a bump fell back), and judge
        at SLUG_JUDGED_AT of the learned rise whether a slug has been creeping it up."""
        if not _rose(run, RISE_ARRIVAL_K):
            run.rise_at_s = None
        elif run.rise_at_s is None:
            run.rise_at_s = self._now_s
        rise_s = self._learned[run.params.name].rise_s
        if run.slug is None and rise_s is not None and self._pump_on_s is not None:
            judged = self._now_s - self._pump_on_s >= SLUG_JUDGED_AT * rise_s
            run.slug = _rose(run, SLUG_RISE_K) if judged else None

    def _past_slug(self, run: _LoopRun) -> bool:
        """May a first warming be the front yet, given what a slug does (SLUG_EARLIEST_RISE)?
        A warm pipe's cycle is never held: its front comes early (≈ 0.65 of a cooled one's
        on R0), and the rise is learned from cooled pipes alone."""
        rise_s = self._learned[run.params.name].rise_s
        if rise_s is None or self._pump_on_s is None or run.warm:
            return True  # nothing learned to judge by: the cycle stops as it did
        if SLUG_EARLIEST_RISE * rise_s >= run.params.max_run_s:
            return True  # a rise learned before max_run_s was lowered: no hold to max_run
        if run.slug is None:
            return False  # too early to tell a slug's creep from the front's own rise
        return not run.slug or self._now_s - self._pump_on_s >= SLUG_EARLIEST_RISE * rise_s

    def _learn_rise(self, run: _LoopRun) -> None:
        """A cooled pipe's cycle, on its own: when its reading rose, if no slug moved it. A
        slug held the stop: after SLUG_FORGET_CYCLES of those in a row the learned rise
        itself is suspect (a faster pump, a shorter pipe: the front before half of it), so
        it is forgotten and the next cycle measures it anew."""
        if run.rise_at_s is None or self._pump_on_s is None or not self._measures_the_pipe(run):
            return
        name = run.params.name
        learned = self._learned[name]
        if run.slug:
            self._learned[name] = learned.after_slug()
        else:
            self._learned[name] = learned.with_rise(run.rise_at_s - self._pump_on_s)

    def _front_possible(self, run: _LoopRun) -> bool:
        """Could the heater's water be near the valve yet (FRONT_EARLIEST_TRANSIT)? Asked of the
        look-ahead and of a slow sensor's first warming, which both read a rise as the front."""
        # What the pipe taught beats the config's hint here: a hint twice too long (a pump
        # flow guessed low) would hold the look-ahead back past the front itself.
        transit = self._learned[run.params.name].transit_s or run.params.transit_hint_s
        if transit is None or self._pump_on_s is None:
            return True
        return self._now_s - self._pump_on_s >= FRONT_EARLIEST_TRANSIT * transit

    def _arrival_due(self, run: _LoopRun) -> bool:
        """Stop on the learned arrival (see zcw.domain.learning): only a lone loop's cycle (a
        second loop on the pump halves the flow), and only once the recovered water shows the
        front is on its way, so a heater that lit late or not at all never gets a stop it did
        not earn. A warm pipe too: its front comes in as a step on top of its own warm water,
        too fast for any look-ahead from a lagging sensor, yet on time by the line."""
        if self.params.topology != "crossover" or self._pump_on_s is None:
            return False
        if not self._lone() or run.start_c is None:
            return False
        arrival = self._learned[run.params.name].arrival_for(run.start_c)
        if arrival is None:
            return False
        # A spin-down ahead of it, as the estimate's look-ahead is: the water goes on moving
        # while the pump runs down and the valve closes. Stopping at the arrival itself came
        # too late (H3: stops 0.25 s after the water crossed ready_c never let water over the
        # limit through; those 1 s after it did one time in three).
        if self._now_s - self._pump_on_s < arrival - SPIN_DOWN_S:
            return False
        if self._burner_unproven():
            return False
        water = run.estimator.water_c(self._now_s, look_ahead=False)
        start = run.min_seen_c
        if water is None or start is None:
            return False
        # Risen, and no longer cooled-pipe water: a warm slug moving in front of a heater
        # that never lit must not earn a hot_ready (I6 would not have had its say yet).
        return water - start >= FRONT_EVIDENCE_K and water >= run.params.ready_c - COLD_START_K

    def _burner_unproven(self) -> bool:
        """The outlet sensor says the burner has not lit (yet). A stop that does not read the
        water itself (the learned arrival, a slow sensor's first warming) must wait for it:
        a warm slug ahead of a heater that never lit would earn a hot_ready, and I6 would
        not have its say."""
        return self.params.has_heater_out and not self._heater_proven

    def _measures_the_pipe(self, run: _LoopRun) -> bool:
        # Only a cold start on its own measures the pipe: a warm pipe arrives early, and a
        # second loop on the same pump halves the flow.
        cold = run.min_seen_c is not None and _cooled(run.params, run.min_seen_c)
        return cold and self._lone()

    def _lone(self) -> bool:
        """Is one loop on the pump in this cycle? (A second one halves the flow.)"""
        return len(self._runs) == 1

    def _learn_transit(self, run: _LoopRun) -> None:
        if self._measures_the_pipe(run) and self._pump_on_s is not None:
            name = run.params.name
            self._learned[name] = self._learned[name].with_transit(self._now_s - self._pump_on_s)

    def _stuck(self, run: _LoopRun) -> bool:
        """A loop sensor frozen while the heater outlet proves hot water is on its way.

        Only judged with a heater-outlet sensor: without one, stale water in a long pipe can
        legitimately hold one value for minutes, and max_run_s is the backstop instead. Even
        then the stale water holds until the front arrives, so the clock starts at the loop's
        transit (hinted or learned), or half of max_run_s while the loop has taught none.
        """
        if not self._heater_proven or self._heater_proven_s is None or self._pump_on_s is None:
            return False
        transit = self._transit_s(run.params) or 0.5 * run.params.max_run_s
        since = max(run.changed_at_s, self._heater_proven_s, self._pump_on_s + transit)
        return self._now_s - since >= self.params.stuck_after_s

    def _end_loop(self, run: _LoopRun, state: LoopState, reason: str) -> None:
        run.state = state
        self._emit("cycle_aborted", loop=run.params.name, source=run.source, reason=reason)
        if state == "aborted":
            self._cycle_outcome = reason
        if self._heating():
            run.valve_open = False

    def _check_cold_line(self) -> None:
        # Every cold sensor counts, not only those of loops in the cycle: hot water in any
        # cold line means a valve leaks or a sensor sits in the wrong place.
        limit = self.params.cold_line_max_c
        for lp in self.params.loops:
            cold = self._cold_guard_c(lp.name)
            if cold is not None and cold >= limit:  # I5
                self._raise(F.cold_line_overrun(lp.name, cold, limit))
                if self._phase is not Phase.IDLE:
                    self._abort("cold_line_overrun", hard=True)
                return

    def _check_heater(self) -> None:
        """I6: the heater must fire. Judged on T_out if present, else on the loop sensor."""
        if self._heater_proven or self._pump_on_s is None or not self.params.has_pump:
            return
        elapsed = self._now_s - self._pump_on_s
        out = self._value(HEATER_OUT)
        if self.params.has_heater_out and out is not None:
            if self._heater_ref_c is None:
                self._heater_ref_c = out
            self._heater_ref_c = min(self._heater_ref_c, out)
            if out - self._heater_ref_c >= HEATER_RISE_C:
                self._heater_proven = True
                self._heater_proven_s = self._now_s
                self._clear("heater_not_firing")
                return
            if elapsed >= self.params.ignition_timeout_s:
                self._heater_failed(self.params.ignition_timeout_s, "heater outlet sensor")
            return
        runs = self._heating()
        if any(r.risen for r in self._runs.values()):
            self._heater_proven = True
            self._clear("heater_not_firing")
            return
        # Without T_out the first sign of heat is the front reaching the loop sensor, so the
        # deadline includes the transport time, hinted or learned. A loop that has taught
        # neither gets no separate deadline: a guess shorter than a long pipe's transit would
        # abort every cycle as a false "heater not firing" (H4's far tap takes ≈ 166 s), and
        # max_run_s still ends the cycle.
        transits = [self._transit_s(r.params) for r in runs]
        deadlines = [self.params.ignition_timeout_s + t for t in transits if t is not None]
        if deadlines and len(deadlines) == len(runs) and elapsed >= min(deadlines):
            self._heater_failed(min(deadlines), "loop sensor")

    def _heater_failed(self, timeout_s: float, via: str) -> None:
        self._raise(F.heater_not_firing(None, timeout_s, via))
        self._abort("heater_not_firing", hard=False)

    def _check_cycle_cap(self) -> None:
        if self._pump_on_s is None:
            return
        cap = min(max(r.params.max_run_s for r in self._runs.values()), self.params.bridge_cap_s)
        if self._now_s - self._pump_on_s >= cap:  # I3 for the whole cycle
            self._abort("max_run", hard=False)

    def _abort(self, reason: str, *, hard: bool) -> None:
        """End the cycle now. ``hard`` skips the valve-lag (cold-line overrun, lost bridge)."""
        for run in self._runs.values():
            if run.state == "heating":
                run.state = "aborted"
        if self._phase in (Phase.IDLE,):
            return
        self._cycle_outcome = reason
        self._emit("cycle_aborted", reason=reason, source=self._cycle_source)
        if hard or self._phase is Phase.STARTING:
            self._pump_off_s = self._now_s
            self._finish()
        elif self._phase is Phase.RUNNING:
            self._begin_stop()

    def _begin_stop(self) -> None:
        # A pump that never ran (the cycle ended on the tick it was due) needs no valve lag:
        # holding the valve open then would only break I1.
        never_ran = self._pump_on_s is None or self._pump_on_s >= self._now_s
        if self._phase is Phase.STARTING or not self.params.has_pump or never_ran:
            self._pump_off_s = self._now_s
            self._finish()
            return
        self._phase = Phase.STOPPING
        self._pump_off_s = self._now_s

    def _finish(self) -> None:
        end = self._pump_off_s if self._pump_off_s is not None else self._now_s
        pump_s = end - self._pump_on_s if self._pump_on_s is not None else 0.0
        flows = [r.params.flow_hint_lpm for r in self._runs.values() if r.params.flow_hint_lpm]
        volume = round(pump_s * min(flows) / 60.0, 2) if flows else None
        self._last_cycle = CycleSummary(
            loops=tuple(self._runs),
            source=str(self._cycle_source),
            started_s=self._cycle_started_s,
            ended_s=self._now_s,
            time_to_hot_s=(
                round(self._first_hot_s - self._cycle_started_s, 1)
                if self._first_hot_s is not None
                else None
            ),
            volume_l=volume,
            outcome=self._cycle_outcome,
        )
        self._last_end_s = end
        self._phase = Phase.IDLE
        trace = self._trace
        if trace is not None:
            lone_and_hot = self._lone() and self._cycle_outcome == "hot"
            if lone_and_hot and self._pump_on_s is not None:
                trace.stop_s = end
                run = next(iter(self._runs.values()))
                trace.warm = run.warm
                if self._pump_off_s is not None:
                    trace.pump_s = (self._pump_on_s, self._pump_off_s)
                    trace.start_c = run.start_c
                    trace.on_arrival = run.on_arrival
                    trace.cooled = self._measures_the_pipe(run)
            else:
                self._trace = None
        for run in self._runs.values():
            run.valve_open = False

    # ------------------------------------------------------------------ outputs

    def _desired_relays(self) -> Relays:
        valves = dict.fromkeys(self.params.loop_names, False)
        if self._phase is Phase.IDLE:
            return Relays(pump=False, valves=valves)
        for name, run in self._runs.items():
            valves[name] = run.valve_open and run.params.has_valve
        pump = self._phase is Phase.RUNNING and self.params.has_pump
        return Relays(pump=pump, valves=valves)

    def _emit(
        self,
        kind: EventKind,
        *,
        loop: str | None = None,
        source: Source | None = None,
        reason: str | None = None,
        data: Mapping[str, float | str | None] | None = None,
    ) -> None:
        self._events.append(
            Event(
                kind=kind,
                at_s=self._now_s,
                loop=loop,
                source=source,
                reason=reason,
                data=dict(data or {}),
            )
        )
