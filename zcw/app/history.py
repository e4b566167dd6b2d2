"""Record history from the tick's status: finished cycles, fault edges, temperature minutes,
and each loop's learned parameters whenever they change.

Writes happen only on changes (a cycle ends, a fault rises or clears) and once a minute for
the temperature aggregates, so the SD card of a Pi is not worn by the 4 Hz control tick.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from zcw.adapters.store import CycleRecord, Store
from zcw.app.daemon import Status
from zcw.domain.controller import CycleSummary
from zcw.domain.learning import Learned, summary_text

log = logging.getLogger("zcw.history")
FLUSH_EVERY_S = 60.0


class HistoryRecorder:
    """Observer of :class:`Status` that persists what matters."""

    def __init__(self, store: Store, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._wall = wall_clock
        self._last_cycle: CycleSummary | None = None
        self._pending: dict[str, list[float]] = {}
        self._last_flush = wall_clock()
        self._failed = False
        self._learned: dict[str, Learned] = {}

    def restore(self, daemon_learned: Callable[[dict[str, Learned]], None]) -> None:
        """Hand what earlier runs learned to the controller (before the first tick)."""
        restored = {name: Learned.from_json(data) for name, data in self._store.learned().items()}
        self._learned = dict(restored)
        daemon_learned(restored)
        for name, value in restored.items():
            log.info("loop %s: restored from earlier runs: %s", name, summary_text(value.summary()))

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
        last = snap.last_cycle
        if last is not None and last is not self._last_cycle:
            self._last_cycle = last
            duration = last.ended_s - last.started_s
            self._store.add_cycle(
                CycleRecord(
                    started_at=now - duration,
                    ended_at=now,
                    source=last.source,
                    loops=last.loops,
                    time_to_hot_s=last.time_to_hot_s,
                    volume_l=last.volume_l,
                    energy_kj=None,
                    outcome=last.outcome,
                )
            )
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
        if now - self._last_flush >= FLUSH_EVERY_S and self._pending:
            means = {n: sum(v) / len(v) for n, v in self._pending.items() if v}
            self._store.add_temps(now, means)
            self._pending.clear()
            self._last_flush = now
