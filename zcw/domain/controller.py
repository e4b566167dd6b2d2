"""The cycle controller: requests and sensor readings in, relay wishes and events out.

This is the pure core of zcw (its rules: docs/safety.md). It does no I/O and reads no
clock: every call to :meth:`Controller.step` gets ``now_s`` from the caller, so a test can
drive it from a table and the bench can run it 1000× faster than real time.

One cycle, per requested loop:

1. already hot (valid T_loop ≥ ready_c − hysteresis_c) → ``already_hot``, nothing moves
   (:mod:`~zcw.domain.cycle.admission`);
2. otherwise open the valve, wait ``valve_lead_s``, start the pump
   (:mod:`~zcw.domain.cycle.phases`);
3. when hot water *arrives* close that valve, or, if it was the last loop heating, stop the
   pump first and close the valve ``valve_lag_s`` later. Whether it has arrived is the stop
   policies' question (:mod:`~zcw.domain.cycle.stops`);
4. limits: ``max_run_s``, ``min_rest_s``, I5 (:mod:`~zcw.domain.cycle.cold_line`), I6
   (:mod:`~zcw.domain.cycle.heater_check`), and a trigger during a cycle joins it.

Each part holds its own state and answers one question; this class only sequences them.
The :class:`~zcw.domain.safety.SafetySupervisor` filters every output; when it has to veto
something the controller aborts the cycle, so the two never disagree for long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zcw.domain import faults as F
from zcw.domain.arrival import ArrivalEstimator
from zcw.domain.cycle.admission import Situation, admit, blocking_fault, loop_ready
from zcw.domain.cycle.blind_hold import BlindHold
from zcw.domain.cycle.bridge import BRIDGE_EVENT_FAULTS, on_notice
from zcw.domain.cycle.cold_line import ColdLineGuard
from zcw.domain.cycle.events import EventLog, FaultBook
from zcw.domain.cycle.heater_check import HeaterCheck, HeaterFailed
from zcw.domain.cycle.judge import LoopJudge
from zcw.domain.cycle.phases import Phase
from zcw.domain.cycle.run import Cycle, LoopRun, LoopState, cooled
from zcw.domain.cycle.sensor_board import SensorBoard, loop_of, sensor_fault
from zcw.domain.cycle.sequence import Sequencer
from zcw.domain.cycle.stops import StopChain
from zcw.domain.cycle.teacher import Teacher
from zcw.domain.cycle.views import CycleSummary, Decision, LoopView, Snapshot, overall_state
from zcw.domain.faults import Fault
from zcw.domain.learning import Learned
from zcw.domain.model import (
    HEATER_OUT,
    BridgeNotice,
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

__all__ = ["Controller", "CycleSummary", "Decision", "LoopState", "LoopView", "Phase", "Snapshot"]

# Right after start-up the bridge is still connecting: a missing reading is no fault yet.
STARTUP_GRACE_S = 5.0


class Controller:
    """Stateful, deterministic, I/O-free. Feed it with :meth:`step` on every control tick."""

    def __init__(self, params: Params, *, now_s: float = 0.0, mode: Mode = "auto") -> None:
        if not params.loops:
            raise ValueError("at least one loop is required")
        self.params = params
        self.mode: Mode = mode
        self._now_s = now_s
        self._created_s = now_s
        self._log = EventLog(now_s)
        self._faults = FaultBook(self._log)
        self._board = SensorBoard(params)
        self._cold = ColdLineGuard(params, self._faults)
        self._teacher = Teacher(params, self._cold)
        self._heater = HeaterCheck(params)
        self._blind = BlindHold()
        self._supervisor = SafetySupervisor(params)
        self._seq = Sequencer(params, self._log, self._teacher)
        parts = (self._board, self._cold, self._heater, self._teacher, self._faults)
        self._judge = LoopJudge(params, self._seq, StopChain(), *parts)
        self._relays = Relays.off(params.loop_names)
        self._bridge_online = True
        # Starts asked before the bridge or the loop's first reading was there (admission).
        self._held: list[tuple[Request, float]] = []

    # ------------------------------------------------------------------ public API

    @property
    def phase(self) -> Phase:
        return self._seq.phase

    @property
    def holding(self) -> bool:
        """A start is held, waiting for the bridge or its loop's first reading (admission):
        the next steps decide it, so the daemon keeps ticking at full pace."""
        return bool(self._held)

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self._faults.all

    @property
    def learned(self) -> Mapping[str, Learned]:
        """What each loop has taught so far; the history recorder persists it on change."""
        return dict(self._teacher.learned)

    def warm_pipe_wait_s(self, name: str) -> float | None:
        """How long an automatic start at ``name`` would still be refused as ``warm_pipe``."""
        return self._blind.wait_s(name, self._teacher.learned.get(name), self._now_s)

    def restore_heated(self, name: str, ago_s: float) -> None:
        """An earlier run's last cycle through ``name`` ended ``ago_s`` ago (from the store)."""
        self._blind.heated(name, self._now_s - ago_s)

    def restore_learned(self, learned: Mapping[str, Learned]) -> None:
        """What an earlier run learned (from the store); loops no longer configured are dropped."""
        self._teacher.restore(learned)

    def raise_external_fault(self, fault: Fault) -> None:
        """Report an adapter's transient fault (e.g. MQTT login refused) in the snapshot.

        External faults are informational: they never latch and never stop a cycle, because
        losing the broker or the Mi Home proxy must not block local control.
        """
        if fault.latching:
            raise ValueError("external faults cannot latch")
        self._faults.raise_(fault)

    def clear_external_fault(self, code: str) -> None:
        self._faults.clear(code)

    def notify_bridge_rebooted(self) -> None:
        """The bridge restarted: its relays are OFF, so a running cycle is over.

        Its sensors are fresh too, so 85.0 °C is a power-on value again.
        """
        self._board.reset()
        self._supervisor.forget_readings()
        self._seq.abort("bridge_rebooted", hard=True)

    def step(
        self,
        now_s: float,
        readings: Mapping[str, SensorSample],
        requests: Sequence[Request] = (),
        *,
        bridge_online: bool = True,
        notices: Sequence[BridgeNotice] = (),
    ) -> Decision:
        self._at(now_s)
        self._bridge_online = bridge_online
        self._validate(readings)
        self._teacher.tick(now_s)
        self._update_bridge_fault(bridge_online)
        self._blind.observe(
            now_s, self._seq.last_cycle, self._board.value(HEATER_OUT), pumping=self._relays.pump
        )
        for notice in notices:
            self._on_bridge(notice)
        held, self._held = self._held, []
        for req, since_s in held:
            self._start(req, since_s)
        for req in requests:
            self._handle(req)
        self._advance()
        relays, vetoes = self._supervisor.filter(
            self._seq.desired_relays(), now_s, readings=readings, force_off=self._must_be_off()
        )
        if vetoes:
            # The supervisor disagreed: the cycle can no longer be trusted, so end it at once.
            self._seq.abort("safety_veto:" + ",".join(sorted({v.rule for v in vetoes})), hard=True)
        return self._decide(relays, vetoes)

    def fail_safe(self, now_s: float, what: str) -> Decision:
        """I7: something unexpected happened outside the controller; everything goes OFF."""
        self._at(now_s)  # the fault is dated now, not at the last good tick
        self._faults.raise_(F.internal_error(what))
        return self._all_off(now_s, "internal_error")

    def shut_down(self, now_s: float) -> Decision:
        """The daemon is stopping: a running cycle ends as ``shutdown`` and everything is OFF.

        Not a fault: observers (the history store, MQTT's retained state) see the cycle end
        and an idle state, rather than a cycle frozen at "heating" by the last tick.
        """
        return self._all_off(now_s, "shutdown")

    def snapshot(self) -> Snapshot:
        now, runs = self._now_s, self._seq.cycle.runs
        loops = {
            lp.name: LoopView(
                temp_c=self._board.value(loop_key(lp.name)),
                water_est_c=runs[lp.name].estimator.water_c(now) if lp.name in runs else None,
                valve=self._relays.valves.get(lp.name, False),
                state=runs[lp.name].state if lp.name in runs else "idle",
            )
            for lp in self.params.loops
        }
        faults = self._faults.all
        return Snapshot(
            at_s=now,
            state=overall_state(faults, self._seq.phase, self.mode),
            phase=self._seq.phase,
            mode=self.mode,
            pump=self._relays.pump,
            loops=loops,
            faults=faults,
            last_cycle=self._seq.last_cycle,
            heater_out_c=self._board.value(HEATER_OUT),
            cold_c={lp.name: self._board.value(cold_key(lp.name)) for lp in self.params.loops},
            learned=dict(self._teacher.learned),
        )

    # ------------------------------------------------------------------ each step

    def _at(self, now_s: float) -> None:
        self._now_s = self._log.now_s = now_s

    def _all_off(self, now_s: float, reason: str) -> Decision:
        self._at(now_s)
        self._seq.abort(reason, hard=True)
        relays, vetoes = self._supervisor.filter(
            Relays.off(self.params.loop_names), now_s, readings=self._board.raw, force_off=True
        )
        return self._decide(relays, vetoes)

    def _decide(self, relays: Relays, vetoes: tuple[Veto, ...]) -> Decision:
        self._relays = relays
        # The events include external faults raised since the last step.
        return Decision(relays, self._log.drain(), self.snapshot(), vetoes)

    def _validate(self, readings: Mapping[str, SensorSample]) -> None:
        starting = self._now_s - self._created_s < STARTUP_GRACE_S
        for key, verdict, sample in self._board.validate(readings, self._now_s):
            loop = loop_of(key)
            if not (starting and verdict.error == "missing"):
                blocks = loop is not None and self._cold.needs(loop)
                sensor_fault(self._faults, key, verdict, blocks=blocks)
            self._teacher.feed(key, verdict, sample)
            run = self._seq.cycle.runs.get(loop) if loop and key.startswith("loop:") else None
            if run is not None and verdict.value_c is not None and sample is not None:
                run.observe(sample.at_s, verdict.value_c, self._now_s)

    def _update_bridge_fault(self, online: bool) -> None:
        if online:
            self._faults.clear("bridge_offline")
        elif self._now_s - self._created_s < STARTUP_GRACE_S and self._seq.idle:
            pass  # still connecting at start-up: not a fault yet (relays are off anyway)
        else:
            self._faults.raise_(F.bridge_offline())
            self._seq.abort("bridge_offline", hard=True)

    def _on_bridge(self, notice: BridgeNotice) -> None:
        ended = on_notice(notice, self._faults)
        if ended is None:
            return
        if ended.loop is None:
            self._seq.abort(ended.reason, hard=True)
            return
        run = self._seq.cycle.runs.get(ended.loop)
        if run is not None and run.state == "heating":
            self._seq.end_loop(run, "aborted", ended.reason)
        if run is not None:
            run.valve_open = False  # the bridge has it closed and will refuse it

    def _must_be_off(self) -> bool:
        return not self._bridge_online or self._faults.latched

    # ------------------------------------------------------------------ requests

    def _handle(self, req: Request) -> None:
        if req.action == "reset":
            # The max_run hint asks to re-seat a sensor that never read ready_c, then reset:
            # so a reset also makes each loop judge its sensor anew.
            self._faults.clear_latched()
            self._judge.max_run_streak = 0
            self._teacher.judged_anew()
        elif req.action == "mode":
            if req.mode is not None and req.mode != self.mode:
                self.mode = req.mode
                self._log.emit("mode_changed", source=req.source, reason=req.mode)
        elif req.action == "stop":
            self._seq.stop(req)
        else:  # start, or commission
            self._start(req)

    def _start(self, req: Request, since_s: float | None = None) -> None:
        name = req.loop or self.params.default_loop
        since = self._now_s if since_s is None else since_s
        answer = admit(req, name, self.params, self._situation(name), since)
        if answer.kind == "hold":
            self._held.append((req, since))
            return
        if answer.kind == "join":
            run = self._new_run(self.params.loop(name), req.source)
            run.confirm = answer.confirm
            self._seq.cycle.runs[name] = run
        elif answer.kind == "begin":
            kind = "commission" if req.action == "commission" else ""
            kind = "confirm" if answer.confirm else kind
            self._begin_cycle(self.params.loop(name), req.source, kind)
        self._log.emit(
            answer.event, loop=name, source=req.source, reason=answer.reason, data=answer.data
        )

    def _situation(self, name: str) -> Situation:
        run = self._seq.cycle.runs.get(name)
        ready = loop_ready(name, self._board, self._cold, self._faults)
        blocked = self._must_be_off() or not ready
        return Situation(
            now_s=self._now_s,
            phase=self._seq.phase,
            mode=self.mode,
            blocked=blocked,
            blocking=blocking_fault(name, self._faults.all) if blocked else None,
            bridge_online=self._bridge_online,
            heating=run is not None and run.state == "heating",
            temp_c=self._board.value(loop_key(name)),
            last_end_s=self._seq.last_end_s,
            water_c=self._water_now(name),
            blind_wait_s=self.warm_pipe_wait_s(name),
        )

    def _water_now(self, name: str) -> float | None:
        """The water at the valve now: the reading, less its trend's lag behind the water."""
        if name not in self.params.loop_names:
            return None
        reading = self._board.value(loop_key(name))
        trend = self._board.trend_c_per_s(loop_key(name))
        if reading is None or trend is None:
            return reading
        return reading + self._teacher.tau_s(self.params.loop(name)) * trend

    # ------------------------------------------------------------------ the cycle

    def _new_run(self, lp: LoopParams, source: Source) -> LoopRun:
        value = self._board.value(loop_key(lp.name))
        sample = self._board.raw.get(loop_key(lp.name))
        warm = value is not None and not cooled(lp, value)
        tau, gain = self._teacher.tau_s(lp), self._teacher.lead_gain(lp, warm=warm)
        estimator = ArrivalEstimator(tau_s=tau, lead_gain=gain)
        reading = (sample.at_s, value) if value is not None and sample is not None else None
        return LoopRun.begin(lp, source, self._now_s, estimator, reading, warm=warm)

    def _begin_cycle(self, lp: LoopParams, source: Source, kind: str = "") -> None:
        """``kind``: "commission" (a watched first cycle), "confirm" (begun in doubt of hot
        water already there), or a plain cycle."""
        # What the bridge did by itself last time is shown until the next cycle starts.
        for code, loop in [k for k in self._faults.raised() if k[0] in BRIDGE_EVENT_FAULTS]:
            self._faults.clear(code, loop)
        run = self._new_run(lp, source)
        run.commissioning, run.confirm = kind == "commission", kind == "confirm"
        self._teacher.begin_cycle(lp, commissioning=run.commissioning)
        self._heater.begin()
        self._seq.begin(Cycle(source, self._now_s, runs={lp.name: run}))

    def _advance(self) -> None:
        seq = self._seq
        if seq.pump_due():
            self._heater.pump_started(self._board.value(HEATER_OUT))
        if self._cold.overrun(self._board) and not seq.idle:
            seq.abort("cold_line_overrun", hard=True)
        if seq.phase is Phase.RUNNING:
            for run in seq.cycle.heating():
                self._judge.check(run)
            if seq.phase is Phase.RUNNING:
                self._check_heater()
                if seq.cap_reached():  # I3 for the whole cycle
                    seq.abort("max_run", hard=False)
            if seq.phase is Phase.RUNNING and not seq.cycle.heating():
                seq.begin_stop()
        seq.valves_due()

    def _check_heater(self) -> None:
        cycle = self._seq.cycle
        verdict = self._heater.check(
            self._now_s,
            cycle.since_pump_s(self._now_s),
            self._board.value(HEATER_OUT),
            list(cycle.runs.values()),
            self._teacher.transit_s,
        )
        if verdict == "proven":
            self._faults.clear("heater_not_firing")
        elif isinstance(verdict, HeaterFailed):
            self._faults.raise_(F.heater_not_firing(None, verdict.timeout_s, verdict.via))
            self._seq.abort("heater_not_firing", hard=False)
