"""Record history from the tick's status: finished cycles, fault edges, temperature minutes,
and each loop's learned parameters whenever they change.

Each cycle is stored with the water it moved and the heat the heater spent on it, per loop
(:mod:`zcw.domain.energy`, fed from every status), and the recorder keeps the running totals
that MQTT publishes for Home Assistant's Energy dashboard. They are sums over the store, so
they survive a restart and never go backwards.

Writes happen only on changes (a cycle ends, a fault rises or clears) and once a minute for
the temperature aggregates, so the SD card of a Pi is not worn by the 4 Hz control tick.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from zcw.adapters.store import CycleRecord, Store
from zcw.app.daemon import Status
from zcw.domain.controller import CycleSummary, Phase
from zcw.domain.energy import PLATEAU_OVER_READY_K, CycleEnergy, EnergyMeter, HeaterKind
from zcw.domain.learning import Learned
from zcw.domain.model import Params
from zcw.ui.wording import learned_text

log = logging.getLogger("zcw.history")
FLUSH_EVERY_S = 60.0
PRUNE_EVERY_S = 3600.0
# What each loop was when it learned (its sensor's ROM id): learning never crosses installs.
IDENTITY_KEY = "learned.identity"
# How far back the stored temperatures seed the energy estimate's plateau and floor.
SEED_FROM_S = 7 * 86400.0
KJ_PER_KWH = 3600.0
# How many of the latest stored cycles say when each loop was last heated (at start-up).
RECENT_CYCLES = 50


@dataclass
class _Ending:
    """A cycle told over (its ``hot_ready``, ``cycle_stopped`` or ``cycle_aborted`` went out)
    whose summary comes only after the valve lag: stored at once, completed then."""

    started_at: float
    source: str
    loops: list[str]
    time_to_hot_s: float | None = None
    outcome: str = "hot"
    row: int | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """Water and heat of every recorded cycle, per loop, and the cycles started today."""

    water_l: dict[str, float]
    energy_kj: dict[str, float]
    cycles_today: int
    # False without a pump flow in the config: zcw then cannot tell water or heat.
    known: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The ``totals`` block of the MQTT state (kWh and L, as Home Assistant wants them)."""

        def kwh(kj: float) -> float | None:
            return round(float(kj) / KJ_PER_KWH, 3) if self.known else None

        def litres(value: float) -> float | None:
            return round(float(value), 1) if self.known else None

        return {
            "energy_kwh": kwh(sum(self.energy_kj.values())),
            "water_l": litres(sum(self.water_l.values())),
            "cycles_today": self.cycles_today,
            "loops": {
                name: {
                    "energy_kwh": kwh(self.energy_kj.get(name, 0.0)),
                    "water_l": litres(self.water_l.get(name, 0.0)),
                }
                for name in sorted(set(self.water_l) | set(self.energy_kj))
            },
        }


class HistoryRecorder:
    """Observer of :class:`Status` that persists what matters."""

    def __init__(
        self,
        store: Store,
        *,
        wall_clock: Callable[[], float] = time.time,
        params: Params | None = None,
        heater: HeaterKind = "gas",
        timezone: str = "UTC",
        retention_s: float | None = None,
    ) -> None:
        self._store = store
        self._retention_s = retention_s
        self._last_prune: float | None = None
        self._wall = wall_clock
        self._params = params
        self._heater: HeaterKind = heater
        self._tz = ZoneInfo(timezone)
        self.meter = EnergyMeter(params, heater=heater) if params is not None else None
        self._water: dict[str, float] = {}
        self._energy: dict[str, float] = {}
        self._today = 0
        self._day_end = 0.0
        self._totals_loaded = False
        self._last_cycle: CycleSummary | None = None
        self._pending: dict[str, list[float]] = {}
        self._last_flush = wall_clock()
        self._failed = False
        self._learned: dict[str, Learned] = {}
        self._ending: _Ending | None = None

    def restore(
        self,
        daemon_learned: Callable[[dict[str, Learned]], None],
        identities: Mapping[str, str] | None = None,
    ) -> None:
        """Hand what earlier runs learned to the controller (before the first tick).

        ``identities`` says what each loop is (its sensor's ROM id on a real bridge): what a
        loop learned with another sensor, or in another install, is not handed back.
        """
        restored = {name: Learned.from_json(data) for name, data in self._store.learned().items()}
        if identities is not None:
            known = self._store.setting(IDENTITY_KEY) or {}
            for name in list(restored):
                was, now = known.get(name), identities.get(name)
                if was is not None and was != now:
                    log.warning(
                        "loop %s: its sensor changed (%s → %s); it learns afresh", name, was, now
                    )
                    del restored[name]
                    # Off the store too, before the new identity is saved: kept, the next
                    # restart would find it under the new sensor's identity and hand it back.
                    self._store.forget_learned(name)
            self._store.save_setting(IDENTITY_KEY, dict(identities))
        self._learned = dict(restored)
        daemon_learned(restored)
        for name, value in restored.items():
            log.info("loop %s: restored from earlier runs: %s", name, learned_text(value.summary()))
        self._load_energy()

    def restore_heated(self, heated: Callable[[str, float], None]) -> None:
        """Tell the controller how long ago each loop's last stored cycle ended: a restart must
        not forget that a pipe may still be warm (zcw.domain.cycle.blind_hold)."""
        now, seen = self._wall(), set()
        for cycle in self._store.cycles(limit=RECENT_CYCLES):
            for name in cycle.loops:
                if name not in seen:
                    seen.add(name)
                    heated(name, max(now - cycle.ended_at, 0.0))

    def _load_energy(self) -> None:
        """Totals so far, and the temperatures the energy estimate starts from."""
        totals = self._store.loop_totals()
        self._water = {name: w for name, (w, _) in totals.items()}
        self._energy = {name: e for name, (_, e) in totals.items()}
        self._roll_day(self._wall())
        self._totals_loaded = True
        if self._params is None:
            return
        plateau: dict[str, list[float]] = {}
        floor: dict[str, list[float]] = {}
        for lp in self._params.loops:
            seen = self._store.temp_range(lp.name, self._wall() - SEED_FROM_S)
            if seen is not None:
                floor[lp.name] = [seen[0]]
                plateau[lp.name] = [seen[1]] if seen[1] >= lp.ready_c + PLATEAU_OVER_READY_K else []
        self.meter = EnergyMeter(
            self._params, plateau_c=plateau, floor_c=floor, heater=self._heater
        )

    def _roll_day(self, now: float) -> None:
        local = dt.datetime.fromtimestamp(now, self._tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        self._today = self._store.cycles_since(midnight.timestamp())
        self._day_end = (midnight + dt.timedelta(days=1)).timestamp()

    def totals(self) -> Totals | None:
        """The running totals, or None until they are read from the store."""
        if not self._totals_loaded:
            return None
        now = self._wall()
        if now >= self._day_end:
            try:
                self._roll_day(now)
            except sqlite3.Error:
                self._today, self._day_end = 0, now + 60.0
        known = self.meter is not None and self.meter.flow_lpm is not None
        # Every configured loop has its figures, 0 before its first cycle (not unknown).
        zero = dict.fromkeys(self._params.loop_names, 0.0) if self._params is not None else {}
        return Totals(zero | self._water, zero | self._energy, self._today, known=known)

    def __call__(self, status: Status) -> None:
        try:
            self._record(status)
            if self._failed:
                log.info("history store writable again")
                self._failed = False
        except sqlite3.Error as exc:
            # History must never stop control; say it once, keep trying.
            if not self._failed:
                log.error("history store %s: %s; control continues", self._store.path, exc)
                self._failed = True

    def _record(self, status: Status) -> None:
        now = self._wall()
        snap = status.snapshot
        if self.meter is not None:
            self.meter.observe(
                snap.at_s,
                pump=status.confirmed.pump,
                valves=status.confirmed.valves,
                loop_c={name: view.temp_c for name, view in snap.loops.items()},
                heater_out_c=snap.heater_out_c,
                cold_c=snap.cold_c,
            )
        self._follow(status, now)
        last = snap.last_cycle
        if last is not None and last is not self._last_cycle:
            self._last_cycle = last
            self._add_cycle(last, now)
        self._record_rest(status, now)

    def _follow(self, status: Status, now: float) -> None:
        """The cycle under way, from its events. Its end is told (``hot_ready``,
        ``cycle_stopped``) when the pump stops, but its summary comes ``valve_lag_s`` later,
        when the valves have closed: the cycle is stored as soon as the pump stops, so a
        SIGKILL in between cannot lose a cycle MQTT or the control socket reported over."""
        ending = self._ending
        for event in status.events:
            if event.kind == "cycle_started":
                source = str(event.source) if event.source is not None else ""
                ending = self._ending = _Ending(now, source, [event.loop or ""])
            elif ending is None:
                continue
            elif event.kind == "joined" and event.loop and event.loop not in ending.loops:
                ending.loops.append(event.loop)
            elif event.kind == "hot_ready" and ending.time_to_hot_s is None:
                value = event.data.get("time_to_hot_s")
                ending.time_to_hot_s = float(value) if isinstance(value, int | float) else None
            elif event.kind == "cycle_stopped":
                ending.outcome = "stopped"
            elif event.kind == "cycle_aborted" and event.reason:
                ending.outcome = event.reason
        if ending is not None and ending.row is None and status.snapshot.phase is Phase.STOPPING:
            ending.row = self._store.add_cycle(
                CycleRecord(
                    started_at=ending.started_at,
                    ended_at=now,
                    source=ending.source,
                    loops=tuple(ending.loops),
                    time_to_hot_s=ending.time_to_hot_s,
                    volume_l=None,
                    energy_kj=None,
                    outcome=ending.outcome,
                )
            )

    def _add_cycle(self, last: CycleSummary, now: float) -> None:
        used: CycleEnergy | None = self.meter.finish() if self.meter is not None else None
        per_loop: tuple[tuple[str, float, float | None], ...] = ()
        if used is not None:
            energy = used.energy_kj or {}
            per_loop = tuple((n, w, energy.get(n)) for n, w in used.water_l.items())
        duration = last.ended_s - last.started_s
        record = CycleRecord(
            started_at=now - duration,
            ended_at=now,
            source=last.source,
            loops=last.loops,
            time_to_hot_s=last.time_to_hot_s,
            volume_l=last.volume_l,
            energy_kj=used.total_energy_kj if used is not None else None,
            outcome=last.outcome,
            per_loop=per_loop,
        )
        ending, self._ending = self._ending, None
        if ending is not None and ending.row is not None:
            self._store.finish_cycle(ending.row, record)
        else:
            self._store.add_cycle(record)
        # Only once stored: the totals must never count a cycle the store does not have.
        for name, water, kj in per_loop:
            self._water[name] = self._water.get(name, 0.0) + water
            self._energy[name] = self._energy.get(name, 0.0) + (kj or 0.0)
        if now - duration < self._day_end:
            self._today += 1
        if used is not None:
            log.info(
                "cycle moved %.2f L, heater spent ≈ %s kJ (%s %.1f °C over %s °C)",
                used.total_water_l,
                used.total_energy_kj,
                used.basis,
                used.hot_c or 0.0,
                "?" if used.cold_c is None else f"{used.cold_c:.1f}",
            )

    def _record_rest(self, status: Status, now: float) -> None:
        snap = status.snapshot
        for event in status.events:
            if event.kind == "fault" and event.reason:
                message = str(event.data.get("message", event.reason))
                self._store.fault_raised(event.reason, event.loop, message, now)
            elif event.kind == "fault_cleared" and event.reason:
                self._store.fault_cleared(event.reason, event.loop, now)
        for name, value in snap.learned.items():
            if self._learned.get(name) != value:
                self._store.save_learned(name, value.to_json(), now)
                self._learned[name] = value
        for name, view in snap.loops.items():
            if view.temp_c is not None:
                self._pending.setdefault(name, []).append(view.temp_c)
        # abs: a wall clock that jumped back (NTP, a user) must not stall the minutes while
        # their samples pile up in memory.
        if abs(now - self._last_flush) >= FLUSH_EVERY_S and self._pending:
            means = {n: sum(v) / len(v) for n, v in self._pending.items() if v}
            self._store.add_temps(now, means)
            self._pending.clear()
            self._last_flush = now
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Retention: at the first flush, then hourly (a wall clock that jumped back a year
        must not stop it for a year, hence abs)."""
        if self._retention_s is None:
            return
        if self._last_prune is not None and abs(now - self._last_prune) < PRUNE_EVERY_S:
            return
        self._last_prune = now
        deleted = self._store.prune(now - self._retention_s)
        if deleted:
            log.info(
                "history: %d rows older than %g days deleted", deleted, self._retention_s / 86400
            )
