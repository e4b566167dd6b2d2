"""I6: the heater must fire. And I4's stuck loop sensor, which only the heater can expose.

With an outlet sensor (T_out), the burner has lit when T_out rose ``OUTLET_RISE_C`` over the
lowest it read since pump on, within ``ignition_timeout_s``. Without one the first sign of
heat is the front reaching the loop sensor (its ``risen``), so the deadline adds the loop's
transit, hinted or learned; a loop that taught none gets no deadline of its own (a guess
shorter than a long pipe's transit would abort every cycle), and max_run_s still ends it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from zcw.domain.cycle.run import LoopRun
from zcw.domain.model import LoopParams, Params

# How much the heater outlet must rise to prove the burner lit.
OUTLET_RISE_C = 3.0


@dataclass(frozen=True, slots=True)
class HeaterFailed:
    """No sign of heat within ``timeout_s`` after pump on, judged on ``via``."""

    timeout_s: float
    via: str


class HeaterCheck:
    """Per cycle: has the heater proven it fired, and since when."""

    def __init__(self, params: Params) -> None:
        self._p = params
        self.begin()

    def begin(self) -> None:
        """A new cycle: nothing is proven yet."""
        self._ref_c: float | None = None
        self.proven = False
        self.proven_s: float | None = None

    def pump_started(self, out_c: float | None) -> None:
        self._ref_c = out_c

    @property
    def burner_unproven(self) -> bool:
        """The outlet sensor says the burner has not lit (yet). A stop that does not read the
        water itself must wait for it: a warm slug ahead of a heater that never lit would
        earn a hot_ready, and I6 would not have its say."""
        return self._p.has_heater_out and not self.proven

    def check(
        self,
        now_s: float,
        since_pump_s: float | None,
        out_c: float | None,
        runs: Sequence[LoopRun],
        transit_of: Callable[[LoopParams], float | None],
    ) -> Literal["proven"] | HeaterFailed | None:
        """Judge the heater once per step while the pump runs: ``runs`` are every loop of
        the cycle (any of them rising proves it), the heating ones are judged for time."""
        if self.proven or since_pump_s is None or not self._p.has_pump:
            return None
        if self._p.has_heater_out and out_c is not None:
            return self._on_outlet(now_s, since_pump_s, out_c)
        if any(r.rise.risen for r in runs):
            self.proven = True
            return "proven"
        heating = [r for r in runs if r.state == "heating"]
        transits = [transit_of(r.params) for r in heating]
        deadlines = [self._p.ignition_timeout_s + t for t in transits if t is not None]
        if deadlines and len(deadlines) == len(heating) and since_pump_s >= min(deadlines):
            return HeaterFailed(min(deadlines), "loop sensor")
        return None

    def _on_outlet(
        self, now_s: float, since_pump_s: float, out_c: float
    ) -> Literal["proven"] | HeaterFailed | None:
        if self._ref_c is None:
            self._ref_c = out_c
        self._ref_c = min(self._ref_c, out_c)
        if out_c - self._ref_c >= OUTLET_RISE_C:
            self.proven = True
            self.proven_s = now_s
            return "proven"
        if since_pump_s >= self._p.ignition_timeout_s:
            return HeaterFailed(self._p.ignition_timeout_s, "heater outlet sensor")
        return None

    def sensor_stuck(
        self, run: LoopRun, now_s: float, pump_on_s: float | None, transit_s: float | None
    ) -> bool:
        """A loop sensor frozen while the heater outlet proves hot water is on its way (I4).

        Only judged with an outlet sensor: without one, stale water in a long pipe can hold
        one value for minutes, and max_run_s is the backstop instead. Even then the stale
        water holds until the front arrives, so the clock starts at the loop's transit
        (hinted or learned), or half of max_run_s while the loop has taught none.
        """
        if not self.proven or self.proven_s is None or pump_on_s is None:
            return False
        transit = transit_s or 0.5 * run.params.max_run_s
        since = max(run.rise.changed_at_s, self.proven_s, pump_on_s + transit)
        return now_s - since >= self._p.stuck_after_s
