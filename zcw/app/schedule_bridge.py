"""Schedules in the daemon: the file's entries plus run-time edits, checked once a second.

The config file is the base. Edits made at run time (``zcw schedule add/remove``, ``zcw
away``, MQTT) are layered over it and kept in the store, so they survive restarts: an added
entry runs beside the file's, a removed file entry stays removed (by its id, so if the file
later changes that entry, the new one runs). ``zcw schedule reset`` drops every edit.

The planner only decides; this glue reads the clocks, hands its requests to
:meth:`Daemon.submit`, and keeps what fired in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from zcw.adapters.schedule import LoopNow, SchedulePlanner
from zcw.adapters.store import Store
from zcw.app.daemon import Daemon, Status
from zcw.app.settings import Settings
from zcw.config import Config
from zcw.domain.calendar import AwayRange, KeepWarm, PreHeat, parse_days, parse_hhmm
from zcw.domain.controller import Phase

log = logging.getLogger("zcw.schedule")

CHECK_EVERY_S = 1.0
# Start this much earlier than the time-to-hot itself: the tick, the bridge and the valve's
# own lead all come before the pump moves water.
LEAD_MARGIN_S = 10.0
# With nothing learned yet: a typical first cycle (a few metres of pipe at a few L/min).
DEFAULT_LEAD_S = 60.0
RECENT_CYCLES = 10
RUNTIME_KEY = "schedule.runtime"
FIRED_KEY = "schedule.fired"


class ScheduleBridge:
    """Connects one :class:`SchedulePlanner` to the daemon, the clocks and the store."""

    def __init__(
        self,
        daemon: Daemon,
        cfg: Config,
        store: Store | None,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.daemon = daemon
        self._store = store
        self._settings = Settings(store, log)
        self._wall = wall
        self._mono = mono
        default = cfg.loops[0].name
        self._ready = {lc.name: lc.ready_c for lc in cfg.loops}
        self._file = [PreHeat.parse(e.loop or default, e.at, e.days) for e in cfg.schedule]
        self._keep_warm = [
            KeepWarm(e.loop or default, parse_hhmm(e.start), parse_hhmm(e.end), parse_days(e.days))
            for e in cfg.keep_warm
        ]
        self._file_away = [AwayRange(a.first, a.last) for a in cfg.away]
        self._runtime: dict[str, list[Any]] = {"added": [], "removed": [], "away": []}
        self._runtime.update(self._settings.load(RUNTIME_KEY) or {})
        self.planner = SchedulePlanner(
            ZoneInfo(cfg.timezone),
            fired=self._settings.load(FIRED_KEY) or {},
            keep_warm_drop_c=cfg.control.keep_warm_drop_c,
            keep_warm_min_interval_s=cfg.control.keep_warm_min_interval_s,
        )
        self._loops: dict[str, LoopNow] = {}
        self._leads: dict[str, float] = {}
        self._last_cycle: object = None
        self._stop = asyncio.Event()
        self._configure()
        daemon.observe(self._on_status)

    def __repr__(self) -> str:
        return f"ScheduleBridge({self.planner!r})"

    # -- what is scheduled ----------------------------------------------------------------

    def entries(self) -> list[PreHeat]:
        """The pre-heats that run: the file's, minus those removed, plus those added."""
        removed = set(self._runtime["removed"])
        added = [
            PreHeat.parse(d["loop"], d["at"], d["days"], "runtime") for d in self._runtime["added"]
        ]
        out = [e for e in self._file if e.id not in removed]
        return out + [e for e in added if e.id not in {x.id for x in out}]

    def away_ranges(self) -> list[AwayRange]:
        runtime = [AwayRange.parse(d["from"], d["to"]) for d in self._runtime["away"]]
        return self._file_away + runtime

    def add(self, loop: str, at: str, days: str) -> PreHeat:
        """Add a pre-heat at run time (kept across restarts). Raises ValueError if invalid."""
        if loop not in self._ready:
            raise ValueError(f"unknown loop {loop!r}; the loops are: {', '.join(self._ready)}")
        entry = PreHeat.parse(loop, at, days, "runtime")
        self._runtime["removed"] = [i for i in self._runtime["removed"] if i != entry.id]
        if entry.id not in {e.id for e in self.entries()}:
            self._runtime["added"].append(entry.to_json())
        self._save_runtime()
        return entry

    def remove(self, entry_id: str) -> PreHeat:
        """Remove a pre-heat by its id (``bathroom@06:50/mon-fri``). Raises ValueError."""
        current = {e.id: e for e in self.entries()}
        if entry_id not in current:
            known = ", ".join(current) or "none"
            raise ValueError(f"no pre-heat {entry_id!r}; the entries are: {known}")
        self._runtime["added"] = [
            d for d in self._runtime["added"] if PreHeat.parse(**d).id != entry_id
        ]
        if entry_id in {e.id for e in self._file}:
            self._runtime["removed"].append(entry_id)
        self._save_runtime()
        return current[entry_id]

    def add_away(self, first: str, last: str) -> AwayRange:
        away = AwayRange.parse(first, last)
        self._runtime["away"].append(away.to_json())
        self._save_runtime()
        return away

    def clear_away(self) -> None:
        """Drop the away dates added at run time (the file's stay: edit the file for those)."""
        self._runtime["away"] = []
        self._save_runtime()

    def reset(self) -> None:
        """Forget every run-time edit: the file's schedule runs as written."""
        self._runtime = {"added": [], "removed": [], "away": []}
        self._save_runtime()

    def listing(self) -> dict[str, Any]:
        """What is scheduled, for `zcw schedule list` and MQTT."""
        nxt = self.planner.next_times()
        return {
            "timezone": self.planner.tz.key,
            "preheats": [
                {
                    **e.to_json(),
                    "id": e.id,
                    "source": e.source,
                    "next": nxt[e.id].isoformat() if e.id in nxt else None,
                    "lead_s": round(self.lead_s(e.loop)),
                }
                for e in self.entries()
            ],
            "keep_warm": [
                {"loop": k.loop, "from": f"{k.start:%H:%M}", "to": f"{k.end:%H:%M}"}
                for k in self._keep_warm
            ],
            "away": [a.to_json() for a in self.away_ranges()],
        }

    # -- running ----------------------------------------------------------------------------

    def lead_s(self, loop: str) -> float:
        """How long before "hot at" a pre-heat starts: the loop's recent time-to-hot from the
        history, else what the loop learned of its transit, else a first guess."""
        lead = self._leads.get(loop)
        if lead is None:
            learned = self.daemon.controller.learned.get(loop)
            transit = learned.transit_s if learned is not None else None
            lead = (
                transit + self.daemon.wiring.params.valve_lead_s
                if transit is not None
                else DEFAULT_LEAD_S
            )
        return lead + LEAD_MARGIN_S

    def check(self) -> None:
        due = self.planner.check(self._wall(), self._mono(), self._loops, lead_s=self.lead_s)
        for note in due.notes:
            log.info("%s", note)
        for request in due.requests:
            self.daemon.submit(request)
        if any(r.action == "start" for r in due.requests):
            self._settings.save(FIRED_KEY, self.planner.fired)

    async def run(self) -> None:
        self._refresh_leads()
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # a schedule bug must never stop the daemon
                log.exception("schedule check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), CHECK_EVERY_S)

    async def close(self) -> None:
        self._stop.set()

    # -- internals --------------------------------------------------------------------------

    def _configure(self) -> None:
        self.planner.configure(self.entries(), self._keep_warm, self.away_ranges())

    def _on_status(self, status: Status) -> None:
        snap = status.snapshot
        heating = snap.phase is not Phase.IDLE
        self._loops = {
            name: LoopNow(view.temp_c, self._ready[name], heating)
            for name, view in snap.loops.items()
        }
        if snap.last_cycle is not None and snap.last_cycle is not self._last_cycle:
            self._last_cycle = snap.last_cycle
            self._refresh_leads()

    def _refresh_leads(self) -> None:
        """Each loop's median time-to-hot over its recent lone, hot cycles in the history."""
        if self._store is None:
            return
        try:
            cycles = self._store.cycles(limit=200)
        except sqlite3.Error:
            return
        for loop in self._ready:
            times = [
                c.time_to_hot_s
                for c in cycles
                if c.loops == (loop,) and c.outcome == "hot" and c.time_to_hot_s is not None
            ][:RECENT_CYCLES]
            if times:
                self._leads[loop] = statistics.median(times)

    def _save_runtime(self) -> None:
        self._settings.save(RUNTIME_KEY, self._runtime)
        self._configure()
