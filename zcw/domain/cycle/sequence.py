"""The cycle's sequence: valves open before the pump starts, the pump stops before they close.

It moves the phases by their table (:mod:`.phases`), ends loops and cycles, and sums a
finished cycle up. What decides *when* a loop is done is elsewhere (:mod:`.stops`).
"""

from __future__ import annotations

from zcw.domain.cycle.events import EventLog
from zcw.domain.cycle.phases import Move, Phase, next_phase
from zcw.domain.cycle.run import Cycle, LoopRun, LoopState
from zcw.domain.cycle.teacher import Teacher
from zcw.domain.cycle.views import CycleSummary
from zcw.domain.model import Params, Relays, Request, Source


class Sequencer:
    """The current (or last) cycle and its phase; dated by the event log's clock."""

    def __init__(self, params: Params, log: EventLog, teacher: Teacher) -> None:
        self._p = params
        self.log = log
        self._log = log
        self._teacher = teacher
        self.phase = Phase.IDLE
        self.cycle = Cycle(Source.CLI, log.now_s)
        self.last_end_s: float | None = None
        self.last_cycle: CycleSummary | None = None

    @property
    def idle(self) -> bool:
        return self.phase is Phase.IDLE

    def _move(self, move: Move) -> None:
        self.phase = next_phase(self.phase, move)

    def begin(self, cycle: Cycle) -> None:
        self.cycle = cycle
        if self._p.has_pump:
            self._move(Move.START)
        else:  # a drain: the open valve is the flow, so "pump on" is now
            self._move(Move.START_PUMPLESS)
            cycle.pump_on_s = self._log.now_s

    def pump_due(self) -> bool:
        """Start the pump once the valves have led by valve_lead_s; True when it started."""
        now = self._log.now_s
        if self.phase is Phase.STARTING and now - self.cycle.started_s >= self._p.valve_lead_s:
            self._move(Move.PUMP_ON)
            self.cycle.pump_on_s = now
            return True
        return False

    def valves_due(self) -> None:
        """Close the valves once the pump has been off valve_lag_s."""
        now, off = self._log.now_s, self.cycle.pump_off_s
        stopping = self.phase is Phase.STOPPING and off is not None
        if stopping and now - (off or now) >= self._p.valve_lag_s:
            self.finish()

    def cap_reached(self) -> bool:
        """The pump ran as long as its longest loop may, or the bridge's cap (I3)."""
        cycle = self.cycle
        if cycle.pump_on_s is None:
            return False
        longest = max(r.params.max_run_s for r in cycle.runs.values())
        return self._log.now_s - cycle.pump_on_s >= min(longest, self._p.bridge_cap_s)

    def stop(self, req: Request) -> None:
        """A stop request: one loop's valve, or the whole cycle."""
        if self.phase in (Phase.IDLE, Phase.STOPPING):
            return
        runs = self.cycle.runs
        if req.loop is not None and req.loop in runs:
            run = runs[req.loop]
            if run.state == "heating":
                run.state = "aborted"
                self._log.emit("cycle_stopped", loop=req.loop, source=req.source)
            if self.cycle.heating():
                run.valve_open = False
                return
        self.cycle.outcome = "stopped"
        if req.loop is None:
            self._log.emit("cycle_stopped", source=req.source)
        for run in self.cycle.heating():
            run.state = "aborted"
        self.begin_stop()

    def end_loop(self, run: LoopRun, state: LoopState, reason: str) -> None:
        run.state = state
        self._log.emit("cycle_aborted", loop=run.name, source=run.source, reason=reason)
        if state == "aborted":
            self.cycle.outcome = reason
        if self.cycle.heating():
            run.valve_open = False

    def abort(self, reason: str, *, hard: bool) -> None:
        """End the cycle now. ``hard`` skips the valve-lag (cold-line overrun, lost bridge)."""
        for run in self.cycle.heating():
            run.state = "aborted"
        if self.phase is Phase.IDLE:
            return
        self.cycle.outcome = reason
        self._log.emit("cycle_aborted", reason=reason, source=self.cycle.source)
        if hard or self.phase is Phase.STARTING:
            self.cycle.pump_off_s = self._log.now_s
            self.finish()
        elif self.phase is Phase.RUNNING:
            self.begin_stop()

    def begin_stop(self) -> None:
        """Pump off; the valves follow valve_lag_s later. A pump that never ran (the cycle
        ended on the tick it was due) needs no valve lag: holding the valve open would
        only break I1."""
        now, on = self._log.now_s, self.cycle.pump_on_s
        never_ran = on is None or on >= now
        self.cycle.pump_off_s = now
        if self.phase is Phase.STARTING or not self._p.has_pump or never_ran:
            self.finish()
        else:
            self._move(Move.STOP)

    def finish(self) -> None:
        cycle, now = self.cycle, self._log.now_s
        end = cycle.pump_off_s if cycle.pump_off_s is not None else now
        pump_s = end - cycle.pump_on_s if cycle.pump_on_s is not None else 0.0
        flows = [r.params.flow_hint_lpm for r in cycle.runs.values() if r.params.flow_hint_lpm]
        first_hot = cycle.first_hot_s
        self.last_cycle = CycleSummary(
            loops=tuple(cycle.runs),
            source=str(cycle.source),
            started_s=cycle.started_s,
            ended_s=now,
            time_to_hot_s=None if first_hot is None else round(first_hot - cycle.started_s, 1),
            volume_l=round(pump_s * min(flows) / 60.0, 2) if flows else None,
            outcome=cycle.outcome,
        )
        self.last_end_s = end
        self._move(Move.FINISH)
        self._teacher.end_cycle(cycle, end)
        for run in cycle.runs.values():
            run.valve_open = False

    def desired_relays(self) -> Relays:
        valves = dict.fromkeys(self._p.loop_names, False)
        if self.phase is Phase.IDLE:
            return Relays(pump=False, valves=valves)
        for name, run in self.cycle.runs.items():
            valves[name] = run.valve_open and run.params.has_valve
        pump = self.phase is Phase.RUNNING and self._p.has_pump
        return Relays(pump=pump, valves=valves)
