"""What each loop learns from its own cycles (:mod:`zcw.domain.learning`), and when.

During a cycle it keeps the loop's readings (a :class:`LagTrace`); a minute after a lone
loop's stop, when the water has stood still long enough, it fits the sensor's lag, the
look-ahead gain and the arrival, and has the cold-line guard judge the stop. At each stop on
hot water it learns the transit and, for a slow sensor, when it first warmed; a loop with a
cold-line probe learns how far that probe trails the water (:mod:`.probe_lag`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from zcw.domain.arrival import SPIN_DOWN_S
from zcw.domain.commission import WATCH_S, measure
from zcw.domain.cycle.cold_line import ColdLineGuard
from zcw.domain.cycle.draw import SensorModel, spoiled_from
from zcw.domain.cycle.probe_lag import ProbeWatch
from zcw.domain.cycle.run import Cycle, LoopRun
from zcw.domain.cycle.stops import standing_target_c
from zcw.domain.learning import LagTrace, Learned
from zcw.domain.model import HEATER_OUT, LoopParams, Params, SensorSample, cold_key, loop_key
from zcw.domain.sensors import Verdict

# A fit this much slower than a lag known from this much fitting (weights of with_tau: one
# full fit is 1) is not the sensor's: a draw stretched its catch-up.
SLOWER_TAU_FACTOR = 1.5
TRUSTED_TAU_WEIGHT = 1.0
TRUSTED_TAU_FITS = 3


class Teacher:
    """Every loop's :class:`Learned`, and the trace of the cycle being learned from."""

    def __init__(self, params: Params, guard: ColdLineGuard) -> None:
        self._p = params
        self._guard = guard
        self.learned = {lp.name: Learned() for lp in params.loops}
        self._trace: LagTrace | None = None
        self._probe: ProbeWatch | None = None

    def restore(self, learned: Mapping[str, Learned]) -> None:
        """What an earlier run learned (from the store); loops no longer configured are dropped."""
        for name, value in learned.items():
            if name in self.learned:
                self.learned[name] = value

    def judged_anew(self) -> None:
        """``zcw reset``: the loop judges its sensor anew (see Learned.judged_anew)."""
        for name, learned in self.learned.items():
            self.learned[name] = learned.judged_anew()

    # ------------------------------------------------------------------ what it knows

    def tau_s(self, lp: LoopParams) -> float:
        learned = self.learned[lp.name].tau_s
        return learned if learned is not None else lp.sensor_tau_s

    def lead_gain(self, lp: LoopParams, *, warm: bool) -> float:
        """The look-ahead's gain: the water goes on moving after the last conversion, in every
        topology (into the cold line, the return pipe, or down the drain)."""
        return self.learned[lp.name].gain_for(warm=warm)

    def cold_lag_s(self, lp: LoopParams) -> float:
        """How far the loop's cold-line probe trails the water entering the cold line: what its
        catch-ups showed, and never less than what no catch-up can show: the reading's age (a
        sensor period) and the flow after the stop (the pump's spin-down). The water between
        the valve and the probe never reaches it once the flow stops."""
        floor = self._p.sensor_period_s + SPIN_DOWN_S
        return max(self.learned[lp.name].cold_lag_s or 0.0, floor)

    def transit_s(self, lp: LoopParams) -> float | None:
        """Pump start → hot at the valve: the config's hint, else what the loop taught."""
        return lp.transit_hint_s or self.learned[lp.name].transit_s

    def measured_transit_s(self, lp: LoopParams) -> float | None:
        """The same, what the pipe taught first: a hint twice too long (a pump flow guessed
        low) must not hold the look-ahead back past the front itself."""
        return self.learned[lp.name].transit_s or lp.transit_hint_s

    # ------------------------------------------------------------------ during a cycle

    def begin_cycle(self, lp: LoopParams, *, commissioning: bool = False) -> None:
        """Only a lone loop's cycle is a clean experiment: its water stands still at the stop.
        A commissioning cycle's is watched for minutes: a clamp on plastic catches up slowly."""
        self._trace = LagTrace(lp.name) if lp.sensor_tau_s > 0 or commissioning else None
        self._probe = None  # the pump moves the cold line's water again
        if self._trace is not None and commissioning:
            self._trace.commissioning = True
            self._trace.window_s = WATCH_S

    def feed(self, key: str, verdict: Verdict, sample: SensorSample | None) -> None:
        probe = self._probe
        if probe is not None and key == cold_key(probe.loop) and verdict.value_c is not None:
            probe.add(verdict.value_c)
        trace = self._trace
        if trace is None:
            return
        if key == HEATER_OUT:
            if verdict.value_c is not None and sample is not None:
                trace.add_outlet(sample.at_s, verdict.value_c)
            return
        if key != loop_key(trace.loop):
            return
        if verdict.value_c is None or sample is None:
            self._trace = None  # a gap or a bad reading: this trace can't be trusted
        else:
            trace.add(sample.at_s, verdict.value_c)

    def learn_hot(self, run: LoopRun, since_pump_s: float | None, *, lone: bool) -> None:
        """The loop is hot: a cooled pipe's cycle on its own measured the transit."""
        if run.measures_the_pipe(lone=lone) and since_pump_s is not None:
            name = run.name
            self.learned[name] = self.learned[name].with_transit(since_pump_s)

    def learn_rise(self, run: LoopRun, pump_on_s: float | None, *, lone: bool) -> None:
        """A cooled pipe's cycle, on its own: when its reading first warmed, if no slug moved
        it. A slug held the stop: after SLUG_FORGET_CYCLES of those in a row the learned rise
        itself is suspect (a faster pump, a shorter pipe), so it is forgotten and measured
        anew."""
        warming = run.rise.warming_at_s
        if warming is None or pump_on_s is None or not run.measures_the_pipe(lone=lone):
            return
        learned = self.learned[run.name]
        if run.rise.slug:
            self.learned[run.name] = learned.after_slug()
        else:
            self.learned[run.name] = learned.with_rise(warming - pump_on_s)

    def watch_probe(self, loop: str, now_s: float, cold_c: float, slope_c_per_s: float) -> None:
        """A lone loop stopped with its cold-line probe at ``cold_c``, rising so: watch it catch
        up with the last water that entered."""
        self._probe = ProbeWatch(loop, now_s, cold_c, slope_c_per_s, cold_c)

    def learn_never_hot(self, run: LoopRun) -> None:
        """It ran to max_run_s although its sensor clearly warmed: stop on the first warming."""
        self.learned[run.name] = replace(self.learned[run.name], stops_on_rise=True)

    def end_cycle(self, cycle: Cycle, end_s: float) -> None:
        """The cycle is over: a lone loop's that ended hot is worth a fit after the minute."""
        trace = self._trace
        if trace is None:
            return
        if not (cycle.lone and cycle.outcome == "hot" and cycle.pump_on_s is not None):
            self._trace = None
            return
        trace.stop_s = end_s
        run = next(iter(cycle.runs.values()))
        trace.warm = run.warm
        if cycle.pump_off_s is not None:
            trace.pump_s = (cycle.pump_on_s, cycle.pump_off_s)
            trace.start_c = run.start_c
            trace.on_arrival = run.on_arrival
            trace.cooled = run.measures_the_pipe(lone=cycle.lone)

    # ------------------------------------------------------------------ after a cycle

    def _commissioned(self, trace: LagTrace, lp: LoopParams, learned: Learned) -> Learned:
        """What the watched first cycle measured, unless a draw spoiled it (then nothing:
        the installer commissions again)."""
        if trace.pump_s is None or trace.spoiled_s is not None:
            return learned
        on, off = trace.pump_s
        found = measure(
            trace.samples,
            trace.pump_s,
            ready_c=lp.ready_c,
            lag_after_s=self._p.valve_lag_s,
            flow_lpm=lp.flow_hint_lpm,
            warming_s=off - on,
        )
        if found is None:
            return learned
        return learned.with_commission(
            transit_s=found.transit_s,
            lag_s=found.lag_s,
            first_order=found.first_order,
            volume_l=found.volume_l,
            warming_s=found.warming_s,
            slow=not found.good,
            guarded=lp.has_cold_sensor and self._p.topology == "crossover",
        )

    def _drawn_from(self, trace: LagTrace, lp: LoopParams, learned: Learned) -> float | None:
        """When the minute after the stop shows water drawn (see zcw.domain.cycle.draw)."""
        if trace.stop_s is None:
            return None
        fitted = learned.tau_s is not None and learned.tau_fits > 0
        sensor = SensorModel(
            tau_s=self.tau_s(lp),
            fitted=fitted and (learned.commissioned or learned.tau_weight >= TRUSTED_TAU_WEIGHT),
            # Commissioning measures the lag: it is not judged by the lag it measures.
            first_order=not trace.commissioning and (fitted or lp.sensor_first_order is True),
        )
        return spoiled_from(trace.samples, trace.stop_s, sensor, trace.outlet)

    @staticmethod
    def _unlike(tau_s: float, learned: Learned) -> bool:
        """A fit far slower than the lag the sensor has shown (commissioning measured it, or
        several full fits agree on it): standing water seen through that sensor never looks
        like this, a draw does."""
        known = learned.tau_fits >= TRUSTED_TAU_FITS and learned.tau_weight >= TRUSTED_TAU_WEIGHT
        return (
            (known or learned.commissioned)
            and learned.tau_s is not None
            and tau_s > SLOWER_TAU_FACTOR * learned.tau_s
        )

    def tick(self, now_s: float) -> None:
        """A minute after the stop: learn from the water standing at the valve (and, sooner,
        from the cold-line probe's catch-up)."""
        probe = self._probe
        if probe is not None and probe.done(now_s):
            self._probe = None
            lag = probe.lag_s()
            if lag is not None:
                self.learned[probe.loop] = self.learned[probe.loop].with_cold_lag(lag)
        trace = self._trace
        if trace is None or not trace.complete(now_s):
            return
        self._trace = None
        name, lp = trace.loop, self._p.loop(trace.loop)
        learned = self.learned[name]
        trace.spoiled_s = self._drawn_from(trace, lp, learned)
        if trace.commissioning:
            self.learned[name] = self._commissioned(trace, lp, learned)
            return
        fit = trace.fit()
        if fit is not None and self._unlike(fit.tau_s, learned):
            trace.spoiled_s, fit = trace.stop_s, None  # not this sensor's catch-up: a draw
        if fit is not None:
            learned = learned.with_tau(fit.tau_s, fit.catch_up_c)
            target = standing_target_c(self._p, lp)
            learned = learned.with_standing(fit.standing_c, target, warm=trace.warm)
        self.learned[name] = learned
        if self._p.topology != "crossover":
            return
        self.learned[name] = self._guard.judge_stop(trace, learned)
        self.learned[name] = trace.arrival_lesson(
            self.learned[name],
            ready_c=lp.ready_c,
            cold_line_max_c=self._p.cold_line_max_c,
            tau_s=self.tau_s(lp),
            lag_s=self._p.valve_lag_s,
            standing_c=None if fit is None else fit.standing_c,
        )
