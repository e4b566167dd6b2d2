"""How close zcw's per-cycle energy estimate comes to the plant's true heater energy.

Usage: ``python -m hil.bench_energy [--seeds N] [--house R0 --house H3]``. Each seed is one
learning day then one measured day of demand (hil/bench/scenario.py) on the randomised house,
run by the real daemon with its history recorder's :class:`~zcw.domain.energy.EnergyMeter`
observing, as in production. The config gives the pump's rated flow (the house's nominal
``pump_flow_lpm``; each randomised house pumps within ±10 % of it), as an installer would.

Per house it prints the measured day's cycles, the sum of the estimates over the sum of the
truth (the heater's energy from the trigger to the end of the pump's spin-down, as `zcw bench`
measures it), and the spread of the per-cycle ratio.
"""

from __future__ import annotations

import argparse
import logging
import statistics
from dataclasses import dataclass, field
from typing import Any

from hil.bench.runner import LEARNING_SEED, READY_C, _simulate_day
from hil.bench.scenario import day_scenario
from hil.bench.strategies import Zcw
from hil.house import load_house
from hil.plant import Plant
from zcw.app.daemon import Status
from zcw.domain.controller import CycleSummary
from zcw.domain.energy import CycleEnergy, EnergyMeter


@dataclass
class _Recorder:
    """Feeds the meter as zcw.app.history does, and keeps each cycle's estimate."""

    meter: EnergyMeter
    cycles: list[CycleEnergy | None] = field(default_factory=list)
    last: CycleSummary | None = None

    def __call__(self, status: Status) -> None:
        snap = status.snapshot
        self.meter.observe(
            snap.at_s,
            pump=status.confirmed.pump,
            valves=status.confirmed.valves,
            loop_c={n: v.temp_c for n, v in snap.loops.items()},
            heater_out_c=snap.heater_out_c,
            cold_c=snap.cold_c,
        )
        if snap.last_cycle is not None and snap.last_cycle is not self.last:
            self.last = snap.last_cycle
            self.cycles.append(self.meter.finish())


class _RatedZcw(Zcw):
    """The bench's zcw with ``pump.flow_lpm`` set to the house's rated flow."""

    def __init__(self, plant: Plant, ready_c: float, rated_lpm: float) -> None:
        super().__init__(plant, ready_c)
        params = self.daemon.wiring.params
        loops = tuple(
            type(lp)(**{**_fields(lp), "flow_hint_lpm": rated_lpm}) for lp in params.loops
        )
        params = type(params)(**{**_fields(params), "loops": loops})
        wiring = type(self.daemon.wiring)(**{**_fields(self.daemon.wiring), "params": params})
        self.daemon.wiring = wiring
        self.daemon.controller.params = params


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def run_house(house_ref: str, seeds: range) -> list[tuple[float, float]]:
    """(estimate, truth) in kJ for every measured cycle that pumped."""
    base = load_house(house_ref)
    pairs: list[tuple[float, float]] = []
    for seed in seeds:
        house = base.randomised(seed)
        meter: EnergyMeter | None = None
        learned: Any = {}
        for day_seed in (seed + LEARNING_SEED, seed):
            plant = Plant(house)
            strat = _RatedZcw(plant, READY_C, base.pump_flow_lpm)
            strat.daemon.controller.restore_learned(learned)
            meter = meter or EnergyMeter(strat.daemon.wiring.params, heater=base.heater.kind)
            rec = _Recorder(meter)
            strat.daemon.observe(rec)
            results = _simulate_day(strat, plant, day_scenario(plant.loops, day_seed))
            learned = strat.daemon.controller.learned
        pumped = [r for r in results if r.water_moved_l > 0.05]
        estimates = [c for c in rec.cycles if c is not None]
        if len(pumped) != len(estimates):
            raise RuntimeError(
                f"{house.name}: {len(pumped)} pumped events, {len(estimates)} cycles"
            )
        for r, c in zip(pumped, estimates, strict=True):
            pairs.append((c.total_energy_kj or 0.0, r.heater_energy_kj))
    return pairs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--house", action="append")
    args = parser.parse_args(argv)
    logging.getLogger("zcw").setLevel(logging.CRITICAL)
    print(
        f"{'house':6} {'cycles':>6} {'estimate kJ':>12} {'truth kJ':>10} {'error':>7}"
        f" {'per-cycle ratio p10/p50/p90':>30}"
    )
    for house in args.house or ["R0", "H3"]:
        pairs = run_house(house, range(args.seeds))
        est = sum(e for e, _ in pairs)
        truth = sum(t for _, t in pairs)
        ratios = sorted(e / t for e, t in pairs if t > 0)
        q = statistics.quantiles(ratios, n=10)
        print(
            f"{house:6} {len(pairs):6d} {est:12.0f} {truth:10.0f} {est / truth - 1:+7.1%}"
            f" {q[0]:10.2f} {statistics.median(ratios):9.2f} {q[-1]:9.2f}"
        )


if __name__ == "__main__":
    main()
