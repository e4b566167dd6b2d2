"""`zcw bench --scenario week`: a family's fortnight on a house, and who gets hot water at once.

Fourteen days, from a Monday, in Asia/Shanghai time. The first seven teach; the last seven
are measured. Every draw is a person opening a hot tap with no trigger (``plant.set_draw``):
they run it until the water is hot (at most four minutes), then use it for a while. A draw
is **hot** when the water at the tap reaches ``ready_c`` within 2 s of opening.

The household (the same for every strategy, drawn from the seed):

- workdays: a shower at the first loop at 06:40 ± 12 min, the kitchen (the last loop) at
  19:00 ± 25 min; rest days (Saturday, Sunday and one public holiday, the second
  Wednesday): the shower at 08:30 ± 20 min, the kitchen at 19:30 ± 25 min. "± x" is a
  normal spread of x/2, cut at x. Each habit is kept on 9 days in 10.
- unplanned draws, a quarter of all draws: any tap, any time from 07:00 to 23:00, short;
- tap-flicks on 6 days in 10, at the first loop (the one with ``tapflick = true``): the
  person holds the hot tap open until the burner lights (its ignition plus 1.5-3 s), closes
  it, and opens it again once the pump has run and stopped (at most 6 min later). Only when
  that tap's water is cold (nobody flicks a hot pipe). The draw after a flick is not judged
  (it was asked for).

Strategies: ``on_demand`` (no pre-heat), ``keep_warm_all_day`` (zcw keeping the first loop
hot 06:00-23:00 on its ``[[keep_warm]]`` rule: a cycle whenever it reads 3 K under ready),
``user_schedule`` (zcw pre-heats "hot at 06:30" at the shower's loop and "hot at 18:45" at
the kitchen's, daily: what a person would type), ``learned`` (zcw in ``[learning] mode =
"learned"``, learning from day 1), and
``prescient`` (a pre-heat whose oracle stop falls exactly at each judged draw: the limit).
The zcw strategies run the real daemon, controller and adapters on the simulated bridge.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from hil.house import House, SensorSpec, load_house
from hil.plant import Plant
from hil.sim_hardware import SimHardware
from zcw.adapters.store import Store
from zcw.app.clock import SteppedClock
from zcw.app.daemon import Daemon
from zcw.app.learning import LearningBridge
from zcw.app.schedule_bridge import ScheduleBridge
from zcw.app.wiring import wiring_from_config
from zcw.config import Config, config_for_house_loops, default_config, parse_config
from zcw.domain.controller import Phase

READY_C = default_config().loops[0].ready_c
DAY_S = 86400.0
DAYS = 14
LEARN_DAYS = 7
START = date(2026, 3, 2)  # a Monday
HOLIDAY_DAY = 9  # the second Wednesday
TZ = ZoneInfo("Asia/Shanghai")
HOT_WITHIN_S = 2.0
MAX_WAIT_S = 240.0
# A hot draw also *stays* hot if the water at the tap holds within STAY_DROP_K of ready_c
# for STAY_S after it came hot: a warm last metre of pipe passes the 2 s test and is then
# followed by the cooled pipe behind it, which a person under the shower feels.
STAY_S = 30.0
STAY_DROP_K = 2.0
WEEK_STRATEGIES = ("on_demand", "keep_warm_all_day", "user_schedule", "learned", "prescient")
# Tick rates in the lockstep daemon: 4 Hz in a cycle, 1 Hz just after one (the controller
# learns its sensor's lag from that minute) and while a tap runs, else every 5 s. The
# readings change by hundredths of a kelvin in 5 s of standing water.
BUSY_TICK_S = 0.25
NEAR_TICK_S = 1.0
QUIET_TICK_S = 5.0
TAIL_S = 70.0
# A flick request is matched to a simulated flick whose burner lit this close before it.
FLICK_MATCH_S = (-10.0, 60.0)

# (name, loop index, minute of day, ± minutes, share of days, L/min range, use s range)
Habit = tuple[str, int, int, int, float, tuple[float, float], tuple[float, float]]
WORKDAY: tuple[Habit, ...] = (
    ("shower", 0, 6 * 60 + 40, 12, 0.9, (6.0, 9.0), (300.0, 540.0)),
    ("kitchen", -1, 19 * 60, 25, 0.9, (4.0, 6.0), (30.0, 120.0)),
)
REST_DAY: tuple[Habit, ...] = (
    ("shower", 0, 8 * 60 + 30, 20, 0.9, (6.0, 9.0), (300.0, 540.0)),
    ("kitchen", -1, 19 * 60 + 30, 25, 0.9, (4.0, 6.0), (30.0, 120.0)),
)
UNPLANNED_SHARE = 0.25
FLICK_DAYS = 0.6
FLICK_WAIT_S = 360.0


@dataclass(frozen=True, slots=True)
class WeekEvent:
    """Someone at a tap: a ``habitual`` or ``unplanned`` draw, or a ``flick`` (and the
    ``after_flick`` draw it asked for)."""

    at_s: float
    loop: str
    kind: str
    flow_lpm: float
    use_s: float


def holidays() -> list[date]:
    return [START + timedelta(days=HOLIDAY_DAY)]


def rest_day(day: int) -> bool:
    d = START + timedelta(days=day)
    return d.weekday() >= 5 or d in holidays()


def week_scenario(loops: Sequence[str], seed: int, days: int = DAYS) -> list[WeekEvent]:
    rng = random.Random(f"week-{seed}")
    events: list[WeekEvent] = []

    def free(t: float, gap_s: float) -> bool:
        return all(abs(t - e.at_s) >= gap_s for e in events)

    for day in range(days):
        base = day * DAY_S
        habits = REST_DAY if rest_day(day) else WORKDAY
        for _name, idx, minute, spread, share, flow, use in habits:
            if rng.random() >= share:
                continue
            offset = max(-spread, min(spread, rng.gauss(0.0, spread / 2)))
            t = base + (minute + offset) * 60.0
            events.append(
                WeekEvent(
                    round(t, 1), loops[idx], "habitual", rng.uniform(*flow), rng.uniform(*use)
                )
            )
        expected = sum(h[4] for h in habits) * UNPLANNED_SHARE / (1 - UNPLANNED_SHARE)
        for _ in range(4):
            if rng.random() >= expected / 4:
                continue
            for _attempt in range(50):
                t = base + rng.uniform(7 * 3600.0, 23 * 3600.0)
                if free(t, 600.0):
                    events.append(
                        WeekEvent(
                            round(t, 1),
                            rng.choice(list(loops)),
                            "unplanned",
                            rng.uniform(4.0, 7.0),
                            rng.uniform(20.0, 90.0),
                        )
                    )
                    break
        if rng.random() < FLICK_DAYS:
            for _attempt in range(50):
                t = base + rng.uniform(9 * 3600.0, 22 * 3600.0)
                if free(t, 1800.0):
                    events.append(WeekEvent(round(t, 1), loops[0], "flick", 6.0, 0.0))
                    after = t + rng.uniform(150.0, 240.0)
                    events.append(
                        WeekEvent(
                            round(after, 1),
                            loops[0],
                            "after_flick",
                            rng.uniform(5.0, 8.0),
                            rng.uniform(60.0, 180.0),
                        )
                    )
                    break
    events.sort(key=lambda e: e.at_s)
    # Nobody opens a tap while another draw at it is still running: push such a draw back.
    out: list[WeekEvent] = []
    for ev in events:
        if out and ev.at_s < out[-1].at_s + 60.0 and ev.kind != "after_flick":
            ev = replace(ev, at_s=out[-1].at_s + 600.0)
        out.append(ev)
    return sorted(out, key=lambda e: e.at_s)


def week_house(ref: str, seed: int) -> House:
    """The house as the week runs it: randomised like the day bench, and with a heater
    outlet sensor (a clamp on the copper outlet, as H4 has) on a gas heater, since tap-flick
    needs one. An electric tank keeps none: its outlet is always hot."""
    house = load_house(ref)
    if house.outlet_sensor is None and house.heater.kind == "gas":
        house = replace(house, outlet_sensor=SensorSpec("clamp", 8.0))
    return house.randomised(seed)


class WeekStrategy(Protocol):
    plant: Plant

    def advance(self, dt_s: float) -> None: ...

    def before(self, ev: WeekEvent, events: Sequence[WeekEvent]) -> None: ...


class PlantOnly:
    """No pre-heat at all: the plant alone."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant

    def advance(self, dt_s: float) -> None:
        if dt_s > 0:
            self.plant.advance(dt_s)

    def before(self, ev: WeekEvent, events: Sequence[WeekEvent]) -> None:
        return None


class Prescient(PlantOnly):
    """Before each judged draw, an oracle cycle (stop the instant the true water at the
    valve reaches ready_c) started so that it stops exactly as the tap opens."""

    def before(self, ev: WeekEvent, events: Sequence[WeekEvent]) -> None:
        if ev.kind not in ("habitual", "unplanned"):
            return
        plant = self.plant
        probe = copy.deepcopy(plant)
        probe.advance(max(ev.at_s - probe.t_s, 0.0))
        if probe.water_at_valve_c(ev.loop) >= READY_C:
            return  # hot anyway
        took = 40.0
        for _ in range(5):
            start = max(ev.at_s - took, plant.t_s)
            probe = copy.deepcopy(plant)
            probe.advance(start - probe.t_s)
            needed = _oracle(probe, ev.loop)
            if abs(needed - took) < 0.5 or start == plant.t_s:
                break
            took = needed
        self.advance(max(ev.at_s - took - plant.t_s, 0.0))
        _oracle(plant, ev.loop)

    def advance(self, dt_s: float) -> None:
        super().advance(dt_s)


def _oracle(plant: Plant, loop: str) -> float:
    """Pump until the true water at the valve is ready; return how long that took."""
    t0 = plant.t_s
    plant.set_valve(loop, True)
    plant.set_pump(True)
    while plant.water_at_valve_c(loop) < READY_C and plant.t_s - t0 < 600.0:
        plant.advance(0.25)
    plant.set_pump(False)
    plant.set_valve(loop, False)
    return plant.t_s - t0


class DaemonWeek:
    """The real daemon on the simulated bridge, with a wall clock for its calendar."""

    def __init__(self, plant: Plant, kind: str) -> None:
        self.plant = plant
        self.kind = kind
        self.cfg = week_config(plant, kind)
        self.clock = SteppedClock()
        wiring = wiring_from_config(self.cfg)
        self.hardware = hardware = SimHardware(
            plant,
            self.clock,
            pump_channel=wiring.pump_channel,
            valve_channels={ch: loop for loop, ch in wiring.valve_channels.items()},
            sensors=wiring.sensor_names,
        )
        self.daemon = Daemon(wiring, hardware, self.clock)
        self.store = Store(Path(":memory:"))
        # The store lives as long as the week; closed with it, not left to the collector
        # (Python 3.13 warns of a connection collected open).
        weakref.finalize(self, self.store.close)
        wall0 = datetime.combine(START, time(0, 0), TZ)
        self.wall0 = wall0

        def wall() -> datetime:
            return wall0 + timedelta(seconds=self.clock.now_s())

        self.schedule = ScheduleBridge(
            self.daemon, self.cfg, None, wall=wall, mono=self.clock.now_s
        )
        self.learning: LearningBridge | None = None
        if kind == "learned":
            self.learning = LearningBridge(
                self.daemon, self.cfg, self.store, wall=wall, lead_s=self.schedule.lead_s
            )
        self._idle_since = 0.0
        self._next_check = 0.0
        # (t, water at each loop's valve, pump on) of one day, for the plot in docs/.
        self.trace_day: int | None = None
        self.trace: list[tuple[float, dict[str, float], bool]] = []
        self.pump_cycles: list[tuple[float, float]] = []
        self._pump_from: float | None = None
        self.daemon.tick()

    def before(self, ev: WeekEvent, events: Sequence[WeekEvent]) -> None:
        return None

    def advance(self, dt_s: float) -> None:
        end = self.clock.now_s() + dt_s
        while self.clock.now_s() < end - 1e-9:
            now = self.clock.now_s()
            busy = self.daemon.controller.phase is not Phase.IDLE
            if busy:
                self._idle_since = now
                step = BUSY_TICK_S
            elif now - self._idle_since < TAIL_S or any(self.plant.draws.values()):
                step = NEAR_TICK_S
            else:
                step = QUIET_TICK_S
            step = min(step, end - now)
            if step > 1.5:
                # The plant takes 5 s steps when nothing flows, and its sensors convert once
                # per step: bring it to a second before the tick, so the tick reads a fresh
                # conversion as the bridge would deliver it (not one the validator calls stale).
                self.hardware._advance_to(now + step - 1.0)
            self.clock.advance(step)
            self.daemon.tick()
            self._note_pump()
            if self.trace_day is not None and int(self.clock.now_s() // DAY_S) == self.trace_day:
                waters = {n: self.plant.water_at_valve_c(n) for n in self.plant.loops}
                self.trace.append((self.clock.now_s(), waters, self.plant.pump_on))
            if self.clock.now_s() >= self._next_check:
                self._next_check = self.clock.now_s() + 1.0
                self.schedule.check()
                if self.learning is not None:
                    self.learning.check()

    def _note_pump(self) -> None:
        on = self.plant.pump_on
        now = self.clock.now_s()
        if on and self._pump_from is None:
            self._pump_from = now
        elif not on and self._pump_from is not None:
            self.pump_cycles.append((self._pump_from, now))
            self._pump_from = None


def week_config(plant: Plant, kind: str) -> Config:
    base = config_for_house_loops(
        plant.loops, plant.house.name.split("#")[0], sensors=plant.sensor_names
    )
    data: dict[str, Any] = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["topology"] = plant.house.topology
    data["timezone"] = TZ.key
    data.pop("store", None)
    loops = plant.loops
    if kind == "keep_warm_all_day":
        data["keep_warm"] = [{"loop": loops[0], "from": "06:00", "to": "23:00"}]
        # "Whenever it falls a few K under ready": the rule's own minimum spacing, not 10 min.
        data["control"]["keep_warm_min_interval_s"] = 60
    elif kind == "user_schedule":
        # The shower's loop in the morning, the kitchen's in the evening (one loop: both).
        data["schedule"] = [
            {"loop": loops[0], "at": "06:30", "days": "daily"},
            {"loop": loops[-1], "at": "18:45", "days": "daily"},
        ]
    learning: dict[str, Any] = {"mode": "learned" if kind == "learned" else "off"}
    learning["holidays"] = [d.isoformat() for d in holidays()]
    data["learning"] = learning
    gas_outlet = plant.house.outlet_sensor is not None and plant.house.heater.kind == "gas"
    if kind == "learned" and gas_outlet:
        data["loops"][0]["tapflick"] = True
    return parse_config(data)


def make_week(name: str, plant: Plant) -> WeekStrategy:
    if name == "on_demand":
        return PlantOnly(plant)
    if name == "prescient":
        return Prescient(plant)
    if name in ("keep_warm_all_day", "user_schedule", "learned"):
        return DaemonWeek(plant, name)
    raise ValueError(f"unknown week strategy {name!r}; choose from {', '.join(WEEK_STRATEGIES)}")


@dataclass(frozen=True, slots=True)
class DrawResult:
    at_s: float
    day: int
    loop: str
    kind: str
    hot: bool
    stayed: bool  # hot, and held within STAY_DROP_K of ready_c for STAY_S
    first_c: float
    cold_l: float
    waited_s: float


def _open_tap(strat: WeekStrategy, ev: WeekEvent) -> DrawResult:
    plant = strat.plant
    loop = ev.loop
    t0 = plant.t_s
    plant.set_draw(loop, ev.flow_lpm)
    best = plant.water_at_valve_c(loop)
    first = best
    hot_at: float | None = 0.0 if best >= READY_C else None
    while plant.t_s - t0 < HOT_WITHIN_S - 1e-9:
        strat.advance(0.25)
        water = plant.water_at_valve_c(loop)
        best = max(best, water)
        if hot_at is None and water >= READY_C:
            hot_at = plant.t_s - t0
    hot = best >= READY_C
    while hot_at is None and plant.t_s - t0 < MAX_WAIT_S:
        strat.advance(1.0)
        if plant.water_at_valve_c(loop) >= READY_C:
            hot_at = plant.t_s - t0
    waited = hot_at if hot_at is not None else plant.t_s - t0
    # The lowest water at the tap in the STAY_S after it came hot (sampled each second).
    low: float | None = None
    used = 0.0
    if hot_at is not None:
        low = plant.water_at_valve_c(loop)
        while used < ev.use_s - 1e-9 and plant.t_s - t0 < hot_at + STAY_S:
            step = min(1.0, ev.use_s - used)
            strat.advance(step)
            used += step
            low = min(low, plant.water_at_valve_c(loop))
    strat.advance(max(ev.use_s - used, 0.0))
    plant.set_draw(loop, 0.0)
    return DrawResult(
        at_s=ev.at_s,
        day=int(ev.at_s // DAY_S),
        loop=loop,
        kind=ev.kind,
        hot=hot,
        stayed=hot and low is not None and low >= READY_C - STAY_DROP_K,
        first_c=round(first, 2),
        cold_l=round(ev.flow_lpm * waited / 60.0, 3),
        waited_s=round(waited, 1),
    )


def _flick(strat: WeekStrategy, ev: WeekEvent) -> float | None:
    """Hold the tap open until the burner lights, then close it. None: the pipe was hot."""
    plant = strat.plant
    if plant.water_at_valve_c(ev.loop) >= READY_C - 4.0:
        return None
    hold = plant.house.heater.ignition_s + plant.house.heater.ignition_retry_s
    hold += random.Random(f"flick-{ev.at_s}").uniform(1.5, 3.0)
    t0 = plant.t_s
    plant.set_draw(ev.loop, ev.flow_lpm)
    strat.advance(hold)
    plant.set_draw(ev.loop, 0.0)
    return t0


def _await_flick(strat: WeekStrategy) -> None:
    """After a flick the person waits until the pump has run and stopped (they hear it), or
    at most FLICK_WAIT_S, before opening the tap again."""
    plant = strat.plant
    t0, ran = plant.t_s, False
    while plant.t_s - t0 < FLICK_WAIT_S:
        strat.advance(5.0)
        ran = ran or plant.pump_on
        if ran and not plant.pump_on:
            break


def run_week(
    house_ref: str,
    strategy: str,
    seed: int,
    days: int = DAYS,
    *,
    trace_day: int | None = None,
    watch: Callable[[WeekStrategy], None] | None = None,
) -> dict[str, Any]:
    """One house, one strategy, one seed: the fortnight's judged draws and the figures.
    ``trace_day``: also return the water at the valves and the pump through that day.
    ``watch``: called with the strategy before the first day (a test's observer)."""
    logging.getLogger("zcw").setLevel(logging.CRITICAL)
    house = week_house(house_ref, seed)
    plant = Plant(house)
    events = week_scenario(plant.loops, seed, days)
    strat = make_week(strategy, plant)
    if isinstance(strat, DaemonWeek):
        strat.trace_day = trace_day
    if watch is not None:
        watch(strat)
    learn_days = min(LEARN_DAYS, days // 2)
    measured_from = learn_days * DAY_S
    results: list[DrawResult] = []
    flicks: list[tuple[float, float | None]] = []  # (scheduled at, burner lit at or None)
    marks: dict[str, float] = {}
    for ev in events:
        if ev.kind == "after_flick":
            ev = replace(ev, at_s=plant.t_s)  # as soon as the flick was answered
        elif ev.at_s < plant.t_s:
            continue  # the person waited for an earlier draw to end
        if not marks and ev.at_s >= measured_from:
            strat.advance(max(measured_from - plant.t_s, 0.0))
            marks = _marks(strat)
        strat.before(ev, events)
        strat.advance(max(ev.at_s - plant.t_s, 0.0))
        if ev.kind == "flick":
            flicks.append((ev.at_s, _flick(strat, ev)))
            _await_flick(strat)
        else:
            results.append(_open_tap(strat, ev))
    strat.advance(max(days * DAY_S - plant.t_s, 0.0))
    if not marks:
        marks = _marks(strat)
    end = _marks(strat)
    measured_days = (plant.t_s - marks["t_s"]) / DAY_S
    judged = [r for r in results if r.at_s >= measured_from and r.kind != "after_flick"]
    habitual = [r for r in judged if r.kind == "habitual"]
    summary: dict[str, Any] = {
        "zero_cold_rate_habitual": _share([r.hot for r in habitual]),
        "zero_cold_rate_all": _share([r.hot for r in judged]),
        "stayed_hot_rate_habitual": _share([r.stayed for r in habitual]),
        "cold_water_l_per_draw": _mean([r.cold_l for r in judged]),
        "pump_h_per_day": round((end["pump_s"] - marks["pump_s"]) / 3600.0 / measured_days, 3),
        "energy_kj_per_day": round((end["pump_kj"] - marks["pump_kj"]) / measured_days, 1),
        "cold_line_l_per_day": round((end["pumped_l"] - marks["pumped_l"]) / measured_days, 2),
        "draws_judged": len(judged),
        "habitual_judged": len(habitual),
    }
    if isinstance(strat, DaemonWeek) and strat.learning is not None:
        summary.update(_detection(strat, events, flicks, results))
    out: dict[str, Any] = {
        "house": house_ref if "/" not in house_ref else Path(house_ref).stem,
        "strategy": strategy,
        "seed": seed,
        "days": days,
        "learning_days": learn_days,
        "summary": summary,
        "draws": [asdict(r) for r in results],
    }
    if isinstance(strat, DaemonWeek) and trace_day is not None:
        out["trace"] = strat.trace
    return out


def _marks(strat: WeekStrategy) -> dict[str, float]:
    plant = strat.plant
    pump_s = 0.0
    if isinstance(strat, DaemonWeek):
        pump_s = sum(b - a for a, b in strat.pump_cycles)
        if strat._pump_from is not None:
            pump_s += strat.clock.now_s() - strat._pump_from
    else:
        pump_s = getattr(plant, "_bench_pump_s", 0.0)
    return {
        "t_s": plant.t_s,
        "pump_kj": plant.pump_energy_j / 1000.0,
        "pumped_l": plant.pumped_volume_l,
        "pump_s": pump_s if isinstance(strat, DaemonWeek) else _plant_pump_s(plant),
    }


def _plant_pump_s(plant: Plant) -> float:
    flow = plant.house.pump_flow_lpm
    return plant.pumped_volume_l / flow * 60.0 if flow > 0 else 0.0


def _detection(
    strat: DaemonWeek,
    events: Sequence[WeekEvent],
    flicks: Sequence[tuple[float, float | None]],
    results: Sequence[DrawResult],
) -> dict[str, Any]:
    """How well the learned strategy saw the draws and the flicks (all 14 days)."""
    assert strat.learning is not None
    asked = [f.onset_s for f in strat.learning.flicks]
    real = [lit for _, lit in flicks if lit is not None]
    lo, hi = FLICK_MATCH_S
    matched = {i for i, t in enumerate(asked) if any(lo <= t - r <= hi for r in real)}
    found = {j for j, r in enumerate(real) if any(lo <= t - r <= hi for t in asked)}
    false = [t for i, t in enumerate(asked) if i not in matched]
    after_pump = [t for t in false if any(a <= t <= b + 600.0 for a, b in strat.pump_cycles)]
    out: dict[str, Any] = {}
    if strat.learning.tapflick:
        out.update(
            flicks=len(real),
            flick_requests=len(asked),
            flick_precision=round(len(matched) / len(asked), 3) if asked else 1.0,
            flick_recall=round(len(found) / len(real), 3) if real else 1.0,
            flick_false_from_pump=len(after_pump),
        )
    stored = strat.store.draws(limit=100_000)
    wall0 = strat.wall0.timestamp()
    seen = [(d["at"] - wall0, d["loop"]) for d in stored if d["kind"] == "draw" and d["loop"]]
    draws = [r for r in results]
    hit = sum(1 for r in draws if any(lp == r.loop and -240 <= t - r.at_s <= 240 for t, lp in seen))
    true_draws = [(r.at_s, r.loop) for r in draws]
    false_draws = sum(
        1
        for t, lp in seen
        if not any(lp == loop and -240 <= t - at <= 240 for at, loop in true_draws)
    )
    out.update(
        draws=len(draws),
        draws_detected=hit,
        draws_false=false_draws,
    )
    return out


def _share(flags: Sequence[bool]) -> float:
    return round(sum(flags) / len(flags), 3) if flags else 0.0


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 3) if values else 0.0


def finite(obj: Any) -> Any:
    """Every float in a report finite (the JSON must not hold Infinity or NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"non-finite figure {obj} in the week report")
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj
