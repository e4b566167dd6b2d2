"""One loop's part in a cycle, and the cycle's own record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from zcw.domain.arrival import ArrivalEstimator
from zcw.domain.cycle.rise import RiseTracker
from zcw.domain.model import LoopParams, Source

LoopState = Literal["idle", "heating", "hot", "aborted"]
# A cycle that starts this far below ready_c starts from a cooled pipe: it measures the pipe.
COLD_START_K = 10.0


def cooled(lp: LoopParams, temp_c: float) -> bool:
    """A loop reading this low means a cooled pipe (COLD_START_K below ready_c)."""
    return temp_c <= lp.ready_c - COLD_START_K


@dataclass(slots=True)
class LoopRun:
    """One loop in the cycle: its estimate of the water, its rises, and where it stands."""

    params: LoopParams
    source: Source
    started_s: float
    estimator: ArrivalEstimator
    rise: RiseTracker
    start_c: float | None = None  # its reading when it joined the cycle
    warm: bool = False  # began within COLD_START_K of ready_c: the warm gain's cycle
    state: LoopState = "heating"
    valve_open: bool = True
    hot_at_s: float | None = None
    on_arrival: bool = False  # it stopped on the learned arrival, not on the estimate
    commissioning: bool = False  # a watched first cycle: it stops on its first warming
    confirm: bool = False  # it began in doubt of hot water: it stops on hot water seen to come

    @classmethod
    def begin(
        cls,
        lp: LoopParams,
        source: Source,
        now_s: float,
        estimator: ArrivalEstimator,
        reading: tuple[float, float] | None,
        *,
        warm: bool,
    ) -> LoopRun:
        """A loop joins the cycle, its sensor's latest ``reading`` (measured at, °C) its start."""
        run = cls(lp, source, now_s, estimator, RiseTracker(changed_at_s=now_s), warm=warm)
        if reading is not None:
            at_s, value_c = reading
            run.rise.min_c = run.start_c = value_c
            run.estimator.add(at_s, value_c)
        return run

    @property
    def name(self) -> str:
        return self.params.name

    def observe(self, at_s: float, value_c: float, now_s: float) -> None:
        """A valid reading of its sensor, measured at ``at_s``."""
        self.rise.observe(value_c, now_s)
        self.estimator.add(at_s, value_c)

    def measures_the_pipe(self, *, lone: bool) -> bool:
        """Only a cold start on its own measures the pipe: a warm pipe arrives early, and a
        second loop on the same pump halves the flow."""
        low = self.rise.min_c
        return low is not None and cooled(self.params, low) and lone


@dataclass(slots=True)
class Cycle:
    """The current (or last) cycle: who asked, its loops, when the pump ran, how it ended."""

    source: Source
    started_s: float
    runs: dict[str, LoopRun] = field(default_factory=dict)
    outcome: str = "hot"
    first_hot_s: float | None = None
    pump_on_s: float | None = None
    pump_off_s: float | None = None

    @property
    def lone(self) -> bool:
        """Is one loop on the pump in this cycle? (A second one halves the flow.)"""
        return len(self.runs) == 1

    def heating(self) -> list[LoopRun]:
        return [r for r in self.runs.values() if r.state == "heating"]

    def since_pump_s(self, now_s: float) -> float | None:
        return None if self.pump_on_s is None else now_s - self.pump_on_s
