"""Run a strategy through a day on a (randomised) house and measure every event (docs/benchmark.md).

Per event: ``hot_at_valve_s`` (trigger → true water at the valve ≥ ready_c, or None),
``stop_s``, ``water_moved_l``, ``hot_into_cold_l`` (water over ``cold_line_max_c`` pushed
into the cold or return line, or down the drain), ``cold_line_peak_c`` (crossover only),
``heater_energy_kj`` (up to the user's draw) and ``outcome``. Summaries compare each strategy
with the oracle, event by event; every figure in them is a number or null, never NaN or
infinity, so the JSON parses strictly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hil.bench.scenario import DAY_START_S, DemandEvent, day_scenario
from hil.bench.strategies import Strategy, Zcw, make
from hil.house import House, load_house
from hil.plant import Plant
from zcw.config import default_config
from zcw.domain.learning import Learned

# Every strategy aims at zcw's default ready_c and is judged against its default cold-line limit.
_DEFAULTS = default_config()
READY_C = _DEFAULTS.loops[0].ready_c
COLD_LINE_MAX_C = _DEFAULTS.control.cold_line_max_c
EVENT_LIMIT_S = 700.0
# After a strategy is done: the valve lag and the pump's spin-down.
TAIL_S = 5.0
# A violation is water this far over cold_line_max_c entering the cold line: a DS18B20's
# ±0.5 K makes 38.0 against 38.05 meaningless (docs/benchmark.md).
VIOLATION_MARGIN_K = 0.5
# Learning days draw their triggers from seed + this × day, never the measured day's.
LEARNING_SEED = 100_000
# The installer commissions at dawn (the day starts at DAY_START_S), each loop after the pipes
# cooled from the one before.
COMMISSION_AT_S = 60.0
COMMISSION_COOL_S = 1800.0
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


def _day(house: House, seed: int) -> list[DemandEvent]:
    return day_scenario(house.tap_names, seed, draw_after_stop_s=house.draw_after_stop_s)


def run_day(
    house_ref: str, strategy: str, seed: int, learning_days: int = 1, commission: bool = True
) -> dict[str, Any]:
    """One house, one strategy, one seed: the day's events, JSON-ready.

    ``zcw`` first lives ``learning_days`` other days on its own copy of the same house (other
    triggers, other draws), then starts the measured day with what those taught it, restored as
    the store restores it after a restart. The measured day starts from the same plant state for
    every strategy. With 0 learning days zcw meets the house fresh from the box.

    With ``commission`` the installer first runs `zcw commission` on every loop, at dawn on
    the first day zcw lives there (the pipes cooled overnight), as the install guide asks.
    """
    base = load_house(house_ref)
    house = base.randomised(seed)
    learned: Mapping[str, Learned] = {}
    if strategy == "zcw":
        for day in range(1, learning_days + 1):
            plant = Plant(house)
            learner = Zcw(plant, READY_C)
            learner.daemon.controller.restore_learned(learned)
            if commission and day == 1:
                _commission_all(learner, plant)
            _simulate_day(learner, plant, _day(house, seed + LEARNING_SEED * day))
            learned = learner.daemon.controller.learned
    plant = Plant(house)
    strat = make(strategy, plant, READY_C)
    if isinstance(strat, Zcw):
        strat.daemon.controller.restore_learned(learned)
        if commission and learning_days == 0:
            _commission_all(strat, plant)
    results = _simulate_day(strat, plant, _day(house, seed))
    return {
        "house": base.name,
        "strategy": strategy,
        "seed": seed,
        "learning_days": learning_days if strategy == "zcw" else 0,
        "commissioned": commission and strategy == "zcw",
        "events": [asdict(r) for r in results],
    }


def _commission_all(zcw: Zcw, plant: Plant) -> None:
    """Every loop commissioned in turn, each from a pipe cooled again after the one before."""
    zcw.idle(COMMISSION_AT_S - plant.t_s)
    for loop in plant.loops:
        zcw.commission(loop)
        zcw.idle(COMMISSION_COOL_S)


def _simulate_day(strat: Strategy, plant: Plant, events: list[DemandEvent]) -> list[EventResult]:
    now = DAY_START_S + plant.t_s  # after commissioning, if there was one
    results: list[EventResult] = []
    for ev in events:
        strat.idle(ev.at_s - now)
        now = ev.at_s
        result, took, drawn = _one_event(strat, plant, ev)
        results.append(result)
        now += took
        # The user opens the tap a little later (or already did, at hot_ready) and draws.
        if drawn is not None:
            wait = 0.0
        elif ev.draw_after_stop_s is not None:  # nothing pumped (already hot): at once
            wait = ev.draw_after_stop_s
        else:
            wait = max(ev.draw_after_s - took, 0.0)
        strat.idle(wait)
        plant.set_draw(ev.loop, ev.draw_lpm)
        rest = ev.draw_s - (drawn or 0.0)
        strat.idle(max(rest, 0.0))
        plant.set_draw(ev.loop, 0.0)
        now += wait + max(rest, 0.0)
    return results


def _one_event(
    strat: Strategy, plant: Plant, ev: DemandEvent
) -> tuple[EventResult, float, float | None]:
    """Trigger, run until the strategy is done, and measure. Returns the result, the time it
    took, and how long the user has drawn already (a draw at hot_ready), or None."""
    loop = ev.loop
    plant.reset_metrics()
    hot_at: float | None = 0.0 if plant.water_at_valve_c(loop) >= READY_C else None
    strat.begin(loop)
    elapsed = 0.0
    stop_at: float | None = None
    draw_at: float | None = None
    energy_kj: float | None = None
    pumped = False
    tail_from: float | None = None
    while tail_from is None or elapsed < tail_from + TAIL_S:
        strat.tick(TICK_S)
        elapsed += TICK_S
        # Hot water the user's own draw brings is not the strategy's doing.
        if hot_at is None and draw_at is None and plant.water_at_valve_c(loop) >= READY_C:
            hot_at = elapsed
        pushing = _pushing(plant, loop)
        pumped |= pushing
        if pumped and stop_at is None and not pushing:
            stop_at = elapsed
        after = ev.draw_after_stop_s
        due = stop_at is not None and after is not None and elapsed >= stop_at + after
        if due and draw_at is None:
            energy_kj = plant.heater_energy_kj  # the draw's heat is the user's
            plant.set_draw(loop, ev.draw_lpm)
            draw_at = elapsed
        moving = plant.pump_on or plant.valves.get(loop, False)
        done = not strat.active and not moving and elapsed >= 1.0
        if tail_from is None and (done or elapsed >= EVENT_LIMIT_S):
            tail_from = elapsed  # then the valve lag and the pump's spin-down
    peak = plant.cold_line_peak_c if plant.house.topology == "crossover" else -math.inf
    if hot_at is None:
        outcome = "cold" if pumped else "refused"
    else:
        outcome = "hot" if pumped else "already_hot"
    result = EventResult(
        loop=loop,
        at_s=ev.at_s,
        hot_at_valve_s=None if hot_at is None else round(hot_at, 2),
        stop_s=None if stop_at is None else round(stop_at, 2),
        water_moved_l=round(plant.pumped_volume_l, 3),
        hot_into_cold_l=round(plant.hot_into_cold_l, 3),
        cold_line_peak_c=None if math.isinf(peak) else round(peak, 2),
        heater_energy_kj=round(plant.heater_energy_kj if energy_kj is None else energy_kj, 1),
        outcome=outcome,
    )
    return result, elapsed, None if draw_at is None else elapsed - draw_at


def _pushing(plant: Plant, loop: str) -> bool:
    """Is the loop's water being pushed: by the pump, or on a drain by its open valve?"""
    if plant.house.topology == "drain":
        return plant.valves.get(loop, False)
    return plant.pump_on


def summarise(
    run: dict[str, Any],
    oracle: dict[str, Any] | None,
    *,
    topology: str = "crossover",
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The summary (docs/benchmark.md); ratios are over the oracle's run of the same house and seed.

    Latency ratios are over the events that got hot under both; an event that never got hot
    counts in ``failed_events``, not as an infinite ratio. A ratio with nothing to average is
    null. Violations: water over ``cold_line_max_c`` + 0.5 K entering a cold line (crossover).
    """
    events = run["events"]
    ratios = sorted(_latency_ratios(events, oracle["events"] if oracle else []))
    energy = sum(e["heater_energy_kj"] for e in events)
    oracle_energy = sum(e["heater_energy_kj"] for e in oracle["events"]) if oracle else 0.0
    peaks = [e["cold_line_peak_c"] for e in events if e["cold_line_peak_c"] is not None]
    hot_l = sum(e["hot_into_cold_l"] for e in events)
    n = len(events)
    return {
        "latency_ratio_mean": round(sum(ratios) / len(ratios), 3) if ratios else None,
        "latency_ratio_p95": round(_p95(ratios), 3) if ratios else None,
        "latency_ratio_max": round(ratios[-1], 3) if ratios else None,
        "energy_ratio": round(energy / oracle_energy, 3) if oracle_energy > 0 else None,
        "hot_into_cold_l_total": round(hot_l, 2),
        "hot_over_limit_l_per_100": round(100.0 * hot_l / n, 3) if n else None,
        "hot_l_per_event": round(hot_l / n, 3) if n else None,
        "cold_line_peak_max_c": max(peaks) if peaks else None,
        "violations": sum(1 for p in peaks if p > COLD_LINE_MAX_C + VIOLATION_MARGIN_K),
        "failed_events": sum(1 for e in events if e["outcome"] in ("cold", "refused")),
        "events": n,
        "topology": topology,
        "warnings": list(warnings),
    }


def _latency_ratios(
    events: Sequence[dict[str, Any]], oracle: Sequence[dict[str, Any]]
) -> list[float]:
    ratios = []
    for mine, best in zip(events, oracle, strict=True):
        o, m = best["hot_at_valve_s"], mine["hot_at_valve_s"]
        if o and o > 0 and best["outcome"] == "hot" and m is not None:
            ratios.append(m / o)
    return ratios


def _p95(ordered: Sequence[float]) -> float:
    """The nearest-rank 95th percentile of sorted values."""
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def merge_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several seeds of one house and strategy as one run (events concatenated)."""
    first = runs[0]
    return {
        "house": first["house"],
        "strategy": first["strategy"],
        "seeds": [r["seed"] for r in runs],
        "learning_days": first.get("learning_days", 0),
        "commissioned": first.get("commissioned", False),
        "events": [e for r in runs for e in r["events"]],
    }
