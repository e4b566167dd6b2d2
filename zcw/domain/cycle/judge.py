"""One heating loop, once per step: is it done, and why? The order is the whole story.

1. its reading went bad (I4), or its cold-line probe went blind (I5): aborted;
2. its sensor has not moved while the heater outlet proves hot water is coming (I4);
3. the stop chain (:mod:`.stops`) says the hot water is at the valve: ``hot_ready``, and
   the loop learns its transit (and, for a slow sensor, its first warming);
4. it ran ``max_run_s`` (I3): aborted, and a sensor that warmed without ever reading
   ready_c teaches the loop to stop on its first warming from then on.
"""

from __future__ import annotations

from zcw.domain import faults as F
from zcw.domain.cycle.cold_line import ColdLineGuard
from zcw.domain.cycle.events import EventLog, FaultBook
from zcw.domain.cycle.heater_check import HeaterCheck
from zcw.domain.cycle.probe_lag import SLOPE_SPAN_S
from zcw.domain.cycle.run import LoopRun
from zcw.domain.cycle.sensor_board import SensorBoard
from zcw.domain.cycle.sequence import Sequencer
from zcw.domain.cycle.stops import (
    DOUBT_FALL_K,
    DOUBT_PUSH_MIN_S,
    StopChain,
    StopContext,
    StopReason,
    earliest_front_s,
)
from zcw.domain.cycle.teacher import Teacher
from zcw.domain.model import Params, cold_key, loop_key

# Two max_run aborts in a row latch: something is broken, not just a cold day.
MAX_RUN_REPEAT_LATCH = 2


class LoopJudge:
    """Judges each heating loop with the controller's parts."""

    def __init__(
        self,
        params: Params,
        seq: Sequencer,
        stops: StopChain,
        board: SensorBoard,
        cold: ColdLineGuard,
        heater: HeaterCheck,
        teacher: Teacher,
        faults: FaultBook,
    ) -> None:
        self._p = params
        self._seq = seq
        self._stops = stops
        self._board = board
        self._cold = cold
        self._heater = heater
        self._teacher = teacher
        self._faults = faults
        self._log: EventLog = seq.log
        self.max_run_streak = 0

    def check(self, run: LoopRun) -> None:
        """Is this loop done? Its reading gone bad (I4), its cold-line probe blind (I5), its
        sensor stuck (I4), the hot water there (the stop chain), or max_run_s (I3)."""
        name, now, seq = run.name, self._log.now_s, self._seq
        if not self._board.valid(loop_key(name)):  # I4: the reading went bad mid-cycle
            seq.end_loop(run, "aborted", "sensor_fault")
            return
        if self._cold.blind(name, self._board):  # I5 went blind
            seq.end_loop(run, "aborted", "cold_sensor_fault")
            return
        transit = self._teacher.transit_s(run.params)
        if self._heater.sensor_stuck(run, now, seq.cycle.pump_on_s, transit):
            # I4: hot water is flowing, yet a 12-bit sensor has not changed by a single LSB.
            self._faults.raise_(F.sensor_invalid(name, "loop", "stuck"))
            seq.end_loop(run, "aborted", "sensor_stuck")
            return
        run.rise.watch(now, seq.cycle.since_pump_s(now), self._teacher.learned[name].rise_s)
        if run.confirm and run.rise.fell(run.start_c, DOUBT_FALL_K):
            run.confirm = False  # cooler water upstream: a plain cycle, for the front
        ctx = self._stop_context(run)
        reason = self._stops.should_stop(run, ctx)
        run.on_arrival = reason == "arrival"
        if reason is not None:
            self._loop_hot(run, ctx, reason)
        elif now - run.started_s >= run.params.max_run_s:  # I3 per loop
            self._loop_max_run(run)

    def _stop_context(self, run: LoopRun) -> StopContext:
        cycle, learned = self._seq.cycle, self._teacher.learned[run.name]
        since = cycle.since_pump_s(self._log.now_s)
        earliest = earliest_front_s(run, learned, self._teacher.measured_transit_s(run.params))
        crossover = self._p.topology == "crossover"
        tau = self._teacher.tau_s(run.params)
        cold_c = self._board.value(cold_key(run.name)) if crossover else None
        cold_slope = None
        if cold_c is not None:
            cold_slope = self._board.slope_c_per_s(cold_key(run.name), SLOPE_SPAN_S)
        return StopContext(
            now_s=self._log.now_s,
            since_pump_s=since,
            params=self._p,
            learned=learned,
            front_possible=since is None or since >= earliest,
            burner_unproven=self._heater.burner_unproven,
            lone=cycle.lone,
            cold_c=cold_c,
            cold_slope_c_per_s=cold_slope,
            cold_lag_s=self._teacher.cold_lag_s(run.params),
            doubt_push_s=min(max(tau, DOUBT_PUSH_MIN_S), max(earliest, DOUBT_PUSH_MIN_S)),
        )

    def _loop_hot(self, run: LoopRun, ctx: StopContext, reason: StopReason) -> None:
        cycle, now = self._seq.cycle, self._log.now_s
        run.state, run.hot_at_s = "hot", now
        self.max_run_streak = 0
        if not run.rise.slug and reason != "timed":  # neither measures the pipe
            self._teacher.learn_hot(run, ctx.since_pump_s, lone=cycle.lone)
        if self._stops.first_warming.should_stop(run, ctx):
            self._teacher.learn_rise(run, cycle.pump_on_s, lone=cycle.lone)
        if ctx.cold_c is not None and cycle.lone:
            slope = ctx.cold_slope_c_per_s or 0.0
            self._teacher.watch_probe(run.name, now, ctx.cold_c, slope)
        if cycle.first_hot_s is None:
            cycle.first_hot_s = now
        time_to_hot = round(now - run.started_s, 1)
        self._log.emit(
            "hot_ready", loop=run.name, source=run.source, data={"time_to_hot_s": time_to_hot}
        )
        if cycle.heating():
            run.valve_open = False

    def _loop_max_run(self, run: LoopRun) -> None:
        self.max_run_streak += 1
        repeated = self.max_run_streak >= MAX_RUN_REPEAT_LATCH
        risen = run.rise.risen
        self._faults.raise_(F.max_run(run.name, run.params.max_run_s, repeated, sensor_rose=risen))
        if risen:
            self._teacher.learn_never_hot(run)
            self._teacher.learn_rise(run, self._seq.cycle.pump_on_s, lone=self._seq.cycle.lone)
        self._seq.end_loop(run, "aborted", "max_run")
