"""Run a strategy through a day on a (randomised) house and measure every event (PRODUCT §6).

Per event: ``hot_at_valve_s`` (trigger → true water at the valve ≥ ready_c, or None),
``stop_s``, ``water_moved_l``, ``hot_into_cold_l`` (water ≥ 38 °C pushed into the cold or
return line), ``cold_line_peak_c``, ``heater_energy_kj`` and ``outcome``. Summaries compare
each strategy with the oracle, event by event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hil.bench.scenario import DAY_START_S, DemandEvent, day_scenario
from hil.bench.strategies import Strategy, Zcw, make
from hil.house import load_house
from hil.plant import Plant
from zcw.config import default_config
from zcw.domain.learning import Learned

# Every strategy aims at zcw's default ready_c and is judged against its default cold-line limit.
_DEFAULTS = default_config()
READY_C = _DEFAULTS.loops[0].ready_c
COLD_LINE_MAX_C = _DEFAULTS.control.cold_line_max_c
EVENT_LIMIT_S = 700.0
# Learning days draw their triggers from seed + this × day, never the measured day's.
LEARNING_SEED = 100_000
TICK_S = 0.25


@dataclass(frozen=True, slots=True)
class EventResult:
    """One trigger, measured on the plant's true state."""

    loop: str
    at_s: float
    hot_at_valve_s: float | None
    stop_s: float | None
    water_moved_l: float
    hot_into_cold_l: float
    cold_line_peak_c: float | None
    heater_energy_kj: float
    outcome: str


def run_day(house_ref: str, strategy: str, seed: int, learning_days: int = 1) -> dict[str, Any]:
    """One house, one strategy, one seed: the day's events, JSON-ready.

    ``zcw`` first lives ``learning_days`` other days on its own copy of the same house (other
    triggers, other draws), then starts the measured day with what those taught it, restored as
    the store restores it after a restart. The measured day starts from the same plant state for
    every strategy. With 0 learning days zcw meets the house fresh from the box.
    """
    base = load_house(house_ref)
    house = base.randomised(seed)
    learned: Mapping[str, Learned] = {}
    if strategy == "zcw":
        for day in range(1, learning_days + 1):
            plant = Plant(house)
            learner = Zcw(plant, READY_C)
            learner.daemon.controller.restore_learned(learned)
            _simulate_day(learner, plant, day_scenario(plant.loops, seed + LEARNING_SEED * day))
            learned = learner.daemon.controller.learned
    plant = Plant(house)
    strat = make(strategy, plant, READY_C)
    if isinstance(strat, Zcw):
        strat.daemon.controller.restore_learned(learned)
    results = _simulate_day(strat, plant, day_scenario(plant.loops, seed))
    return {
        "house": base.name,
        "strategy": strategy,
        "seed": seed,
        "learning_days": learning_days if strategy == "zcw" else 0,
        "events": [asdict(r) for r in results],
    }


def _simulate_day(strat: Strategy, plant: Plant, events: list[DemandEvent]) -> list[EventResult]:
    now = DAY_START_S
    results: list[EventResult] = []
    for ev in events:
        strat.idle(ev.at_s - now)
        now = ev.at_s
        result, took = _one_event(strat, plant, ev.loop, ev.at_s)
        results.append(result)
        now += took
        # The user opens the tap a little later and draws for a while.
        wait = max(ev.draw_after_s - took, 0.0)
        strat.idle(wait)
        plant.set_draw(ev.loop, ev.draw_lpm)
        strat.idle(ev.draw_s)
        plant.set_draw(ev.loop, 0.0)
        now += wait + ev.draw_s
    return results


def _one_event(strat: Strategy, plant: Plant, loop: str, at_s: float) -> tuple[EventResult, float]:
    plant.reset_metrics()
    hot_at: float | None = 0.0 if plant.water_at_valve_c(loop) >= READY_C else None
    strat.begin(loop)
    elapsed = 0.0
    stop_at: float | None = None
    pumped = False
    while elapsed < EVENT_LIMIT_S:
        strat.tick(TICK_S)
        elapsed += TICK_S
        if hot_at is None and plant.water_at_valve_c(loop) >= READY_C:
            hot_at = elapsed
        moving = plant.pump_on or plant.valves.get(loop, False)
        pumped |= plant.pump_on
        if pumped and stop_at is None and not plant.pump_on:
            stop_at = elapsed
        if not strat.active and not moving and elapsed >= 1.0:
            break
    for _ in range(int(5.0 / TICK_S)):  # the valve lag and the pump's spin-down
        strat.tick(TICK_S)
        elapsed += TICK_S
    # In the return_line topology the loop pushes into a dedicated return pipe: the cold line
    # (and the RO purifier on it) never sees that water, so there is no cold-line peak to judge.
    # The water ≥ 38 °C it pushes still counts in hot_into_cold_l (PRODUCT §6: "cold or return").
    peak = -math.inf if plant.house.topology == "return_line" else plant.cold_line_peak_c
    # Not pumping is only a success if the water really was hot: a request the strategy
    # refused (a latched fault, say) with cold water at the valve is a failed event.
    if hot_at is None:
        outcome = "cold" if pumped else "refused"
    else:
        outcome = "hot" if pumped else "already_hot"
    return (
        EventResult(
            loop=loop,
            at_s=at_s,
            hot_at_valve_s=None if hot_at is None else round(hot_at, 2),
            stop_s=None if stop_at is None else round(stop_at, 2),
            water_moved_l=round(plant.pumped_volume_l, 3),
            hot_into_cold_l=round(plant.hot_into_cold_l, 3),
            cold_line_peak_c=None if math.isinf(peak) else round(peak, 2),
            heater_energy_kj=round(plant.heater_energy_kj, 1),
            outcome=outcome,
        ),
        elapsed,
    )


def summarise(run: dict[str, Any], oracle: dict[str, Any] | None) -> dict[str, Any]:
    """PRODUCT §6 summary; ratios are over the oracle's run of the same house and seed."""
    events = run["events"]
    ratios: list[float] = []
    if oracle is not None:
        for mine, best in zip(events, oracle["events"], strict=True):
            o, m = best["hot_at_valve_s"], mine["hot_at_valve_s"]
            if o and o > 0 and best["outcome"] == "hot":
                ratios.append(math.inf if m is None else m / o)
    energy = sum(e["heater_energy_kj"] for e in events)
    oracle_energy = sum(e["heater_energy_kj"] for e in oracle["events"]) if oracle else None
    peaks = [e["cold_line_peak_c"] for e in events if e["cold_line_peak_c"] is not None]
    finite = [r for r in ratios if math.isfinite(r)]
    return {
        "latency_ratio_mean": round(sum(finite) / len(finite), 3) if finite else None,
        "latency_ratio_max": (
            round(max(ratios), 3)
            if ratios and all(map(math.isfinite, ratios))
            else (None if not ratios else "inf")
        ),
        "energy_ratio": round(energy / oracle_energy, 3) if oracle_energy else None,
        "hot_into_cold_l_total": round(sum(e["hot_into_cold_l"] for e in events), 2),
        "cold_line_peak_max_c": max(peaks) if peaks else None,
        "violations": sum(1 for p in peaks if p > COLD_LINE_MAX_C),
        "failed_events": sum(1 for e in events if e["outcome"] in ("cold", "refused")),
        "events": len(events),
    }


def merge_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several seeds of one house and strategy as one run (events concatenated)."""
    first = runs[0]
    return {
        "house": first["house"],
        "strategy": first["strategy"],
        "seeds": [r["seed"] for r in runs],
        "learning_days": first.get("learning_days", 0),
        "events": [e for r in runs for e in r["events"]],
    }
