"""I5: no water over ``cold_line_max_c`` into the cold line.

Before the stop, a cold-line probe (T_cold) over the limit ends everything at once, and in
crossover a loop that has one relies on it: it neither starts nor runs while it is blind.
Without T_cold the stop is aimed under the limit (:mod:`.stops`) and judged after the fact:
the water a stop leaves standing at the valve is the last that entered the cold line, and
the sensor catches up with it within the minute (``late_stop``).
"""

from __future__ import annotations

from dataclasses import replace

from zcw.domain import faults as F
from zcw.domain.cycle.events import FaultBook
from zcw.domain.cycle.sensor_board import SensorBoard
from zcw.domain.learning import LagTrace, Learned
from zcw.domain.model import Params, cold_key

# A sensor that catches up this far over cold_line_max_c after a stop shows a late stop: no
# sensor reads standing water high but for a DS18B20's +0.5 K.
LATE_STOP_MARGIN_K = 0.5
# A loop whose cooled-pipe cycles, this many of them, never gave a lag fit and whose stops
# still come late has a sensor the estimate cannot invert (a clamp on plastic).
UNFITTED_CYCLES = 3


class ColdLineGuard:
    """Watches every cold-line probe, and judges each stop after the fact."""

    def __init__(self, params: Params, faults: FaultBook) -> None:
        self._p = params
        self._faults = faults

    def needs(self, loop: str) -> bool:
        """In crossover a loop with a cold-line sensor relies on it for I5: it neither starts
        nor runs while that sensor cannot be read (the supervisor holds it too)."""
        return self._p.topology == "crossover" and self._p.loop(loop).has_cold_sensor

    def blind(self, loop: str, board: SensorBoard) -> bool:
        return self.needs(loop) and not board.valid(cold_key(loop))

    def overrun(self, board: SensorBoard) -> bool:
        """Any cold probe at or over the limit, in the cycle or not (hot water in any cold
        line means a valve leaks or a sensor sits in the wrong place): raise it."""
        limit = self._p.cold_line_max_c
        for lp in self._p.loops:
            cold = board.guard_c(cold_key(lp.name))
            if cold is not None and cold >= limit:
                self._faults.raise_(F.cold_line_overrun(lp.name, cold, limit))
                return True
        return False

    def judge_stop(self, trace: LagTrace, learned: Learned) -> Learned:
        """After the minute that followed a lone loop's stop: did the sensor catch up past the
        limit? A sensor no lag fit explains (this cycle's fit is already counted) is one the
        estimate cannot invert: the loop stops on its first warming from then on, as one
        whose sensor never reads ready_c at all. Not on the first cycles: a step front's
        first catch-up can miss the fit on copper too."""
        if trace.pump_s is None:
            return learned  # not a lone loop's cycle that ended hot: nothing to judge
        peak = trace.peak_after_stop_c()
        limit = self._p.cold_line_max_c
        if peak is None or peak < limit + LATE_STOP_MARGIN_K:
            self._faults.clear("late_stop", trace.loop)
            return learned
        unfitted = learned.tau_fits == 0 and learned.transit_cycles >= UNFITTED_CYCLES
        switch = trace.cooled and unfitted
        stops_on_rise = learned.stops_on_rise
        if switch and not learned.stops_on_rise:
            learned = replace(learned, stops_on_rise=True)
        self._faults.raise_(
            F.late_stop(trace.loop, peak, limit, stops_on_rise=switch or stops_on_rise)
        )
        return learned
