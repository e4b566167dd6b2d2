"""History in SQLite (WAL): cycles, faults, per-minute temperature aggregates, what each loop
has taught the controller (one JSON row per loop), the hot draws and tap-flicks zcw saw, and
settings changed at run time (schedule edits, away dates, the learned habits): all of it
survives restarts.

WAL mode with ``synchronous=NORMAL`` survives a kill -9 of the daemon with nothing lost and a
power cut with at most the last transaction lost, never a corrupt file. Each write is its own
short transaction, so a crash mid-cycle leaves every earlier row intact.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS cycles (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,     -- unix time
    ended_at REAL NOT NULL,
    source TEXT NOT NULL,
    loops TEXT NOT NULL,          -- comma-separated loop names
    time_to_hot_s REAL,
    volume_l REAL,
    energy_kj REAL,
    outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    code TEXT NOT NULL,
    loop TEXT,
    message TEXT NOT NULL,
    cleared_at REAL
);
CREATE TABLE IF NOT EXISTS temps (
    minute INTEGER NOT NULL,      -- unix time // 60
    sensor TEXT NOT NULL,
    min_c REAL NOT NULL,
    max_c REAL NOT NULL,
    sum_c REAL NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (minute, sensor)
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,         -- e.g. schedule.runtime, schedule.fired
    value TEXT NOT NULL,          -- JSON
    updated_at REAL NOT NULL
);
-- Each cycle's water and heat per loop (zcw.domain.energy), for the running totals.
CREATE TABLE IF NOT EXISTS cycle_loops (
    cycle_id INTEGER NOT NULL REFERENCES cycles (id),
    loop TEXT NOT NULL,
    water_l REAL NOT NULL,
    energy_kj REAL,
    PRIMARY KEY (cycle_id, loop)
);
CREATE TABLE IF NOT EXISTS draws (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,             -- unix time the draw began (the tap opened, as estimated)
    loop TEXT,                    -- NULL when only the heater outlet saw it
    duration_s REAL,              -- NULL when unknown
    via TEXT NOT NULL,            -- which sensors saw it: outlet+loop, loop, outlet
    kind TEXT NOT NULL            -- draw | flick
);
CREATE TABLE IF NOT EXISTS learned (
    loop TEXT PRIMARY KEY,
    data TEXT NOT NULL,           -- JSON, see zcw.domain.learning.Learned
    updated_at REAL NOT NULL
);
"""

# Temperatures in a cycle at the valve: a rough energy estimate uses water above mains.
WATER_KJ_PER_L_K = 4.18


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """One finished cycle as stored."""

    started_at: float
    ended_at: float
    source: str
    loops: tuple[str, ...]
    time_to_hot_s: float | None
    volume_l: float | None
    energy_kj: float | None
    outcome: str
    # (loop, water_l, energy_kj) for each loop the cycle moved water through.
    per_loop: tuple[tuple[str, float, float | None], ...] = ()


class Store:
    """A small, synchronous SQLite store. Use as a context manager; ``close`` is idempotent."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        if read_only:
            # `zcw history` with no daemon: look, never create or change.
            uri = f"file:{path}?mode=ro"
            self._db: sqlite3.Connection | None = sqlite3.connect(uri, uri=True, timeout=5.0)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # One thread at a time uses it (the event loop's), but it may be closed from another
        # once that loop has stopped: with the default check, close() raised ProgrammingError,
        # which it swallowed, and the connection stayed open (Python 3.13 warns of that).
        self._db = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.commit()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, open={self._db is not None})"

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"history store {self.path} is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def add_cycle(self, rec: CycleRecord) -> int:
        """Store a cycle; returns its row id."""
        with self.db:
            cur = self.db.execute(
                "INSERT INTO cycles (started_at, ended_at, source, loops, time_to_hot_s, "
                "volume_l, energy_kj, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.started_at,
                    rec.ended_at,
                    rec.source,
                    ",".join(rec.loops),
                    rec.time_to_hot_s,
                    rec.volume_l,
                    rec.energy_kj,
                    rec.outcome,
                ),
            )
            self.db.executemany(
                "INSERT INTO cycle_loops (cycle_id, loop, water_l, energy_kj) VALUES (?, ?, ?, ?)",
                [(cur.lastrowid, loop, w, e) for loop, w, e in rec.per_loop],
            )
        return int(cur.lastrowid or 0)

    def finish_cycle(self, cycle_id: int, rec: CycleRecord) -> None:
        """Complete a cycle stored when it was reported over (see HistoryRecorder): its end,
        its figures and its water and heat per loop, in one transaction."""
        with self.db:
            self.db.execute(
                "UPDATE cycles SET started_at = ?, ended_at = ?, source = ?, loops = ?, "
                "time_to_hot_s = ?, volume_l = ?, energy_kj = ?, outcome = ? WHERE id = ?",
                (
                    rec.started_at,
                    rec.ended_at,
                    rec.source,
                    ",".join(rec.loops),
                    rec.time_to_hot_s,
                    rec.volume_l,
                    rec.energy_kj,
                    rec.outcome,
                    cycle_id,
                ),
            )
            self.db.executemany(
                "INSERT INTO cycle_loops (cycle_id, loop, water_l, energy_kj) VALUES (?, ?, ?, ?)",
                [(cycle_id, loop, w, e) for loop, w, e in rec.per_loop],
            )

    def loop_totals(self) -> dict[str, tuple[float, float]]:
        """Loop → (water L, energy kJ) over every cycle recorded with per-loop figures."""
        rows = self.db.execute(
            "SELECT loop, sum(water_l), coalesce(sum(energy_kj), 0) FROM cycle_loops GROUP BY loop"
        ).fetchall()
        return {r[0]: (float(r[1]), float(r[2])) for r in rows}

    def cycles_since(self, at: float) -> int:
        """How many cycles started at or after ``at`` (unix time)."""
        row = self.db.execute("SELECT count(*) FROM cycles WHERE started_at >= ?", (at,)).fetchone()
        return int(row[0])

    def temp_range(self, sensor: str, since: float) -> tuple[float, float] | None:
        """(lowest, highest) per-minute temperature of ``sensor`` since ``since``, if any."""
        row = self.db.execute(
            "SELECT min(min_c), max(max_c) FROM temps WHERE sensor = ? AND minute >= ?",
            (sensor, int(since // 60)),
        ).fetchone()
        return None if row is None or row[0] is None else (float(row[0]), float(row[1]))

    def fault_raised(
        self, code: str, loop: str | None, message: str, at: float | None = None
    ) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO faults (at, code, loop, message) VALUES (?, ?, ?, ?)",
                (at if at is not None else time.time(), code, loop, message),
            )

    def fault_cleared(self, code: str, loop: str | None, at: float | None = None) -> None:
        with self.db:
            self.db.execute(
                "UPDATE faults SET cleared_at = ? "
                "WHERE code = ? AND loop IS ? AND cleared_at IS NULL",
                (at if at is not None else time.time(), code, loop),
            )

    def add_temps(self, at: float, temps: dict[str, float]) -> None:
        minute = int(at // 60)
        with self.db:
            self.db.executemany(
                "INSERT INTO temps (minute, sensor, min_c, max_c, sum_c, n) "
                "VALUES (?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (minute, sensor) DO UPDATE SET min_c = min(min_c, excluded.min_c), "
                "max_c = max(max_c, excluded.max_c), sum_c = sum_c + excluded.sum_c, n = n + 1",
                [(minute, name, v, v, v) for name, v in temps.items()],
            )

    def prune(self, before: float) -> int:
        """Delete per-minute temperatures and cleared faults older than ``before`` (unix
        time); returns the rows deleted. Cycles stay: the running totals are sums over them.
        The file keeps its size and SQLite reuses the freed pages, so it stops growing."""
        with self.db:
            temps = self.db.execute("DELETE FROM temps WHERE minute < ?", (int(before // 60),))
            faults = self.db.execute(
                "DELETE FROM faults WHERE cleared_at IS NOT NULL AND cleared_at < ?", (before,)
            )
        return int(temps.rowcount) + int(faults.rowcount)

    def cycles(self, limit: int = 50) -> list[CycleRecord]:
        rows = self.db.execute(
            "SELECT started_at, ended_at, source, loops, time_to_hot_s, volume_l, energy_kj, "
            "outcome "
            "FROM cycles ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            CycleRecord(r[0], r[1], r[2], tuple(r[3].split(",")), r[4], r[5], r[6], r[7])
            for r in rows
        ]

    def faults(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT at, code, loop, message, cleared_at FROM faults ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            {"at": r[0], "code": r[1], "loop": r[2], "message": r[3], "cleared_at": r[4]}
            for r in rows
        ]

    def add_draw(
        self, at: float, loop: str | None, duration_s: float | None, via: str, kind: str = "draw"
    ) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO draws (at, loop, duration_s, via, kind) VALUES (?, ?, ?, ?, ?)",
                (at, loop, duration_s, via, kind),
            )

    def draws(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest draws and flicks, newest first."""
        rows = self.db.execute(
            "SELECT at, loop, duration_s, via, kind FROM draws ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [
            {"at": r[0], "loop": r[1], "duration_s": r[2], "via": r[3], "kind": r[4]} for r in rows
        ]

    def save_learned(self, loop: str, data: dict[str, Any], at: float | None = None) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO learned (loop, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(loop) DO UPDATE SET data = excluded.data, "
                "updated_at = excluded.updated_at",
                (loop, json.dumps(data, sort_keys=True), time.time() if at is None else at),
            )

    def forget_learned(self, loop: str) -> None:
        """Drop what ``loop`` learned (its sensor was replaced: the figures describe another)."""
        with self.db:
            self.db.execute("DELETE FROM learned WHERE loop = ?", (loop,))

    def learned(self) -> dict[str, dict[str, Any]]:
        """Loop name → stored JSON object; a row that is not a JSON object is skipped."""
        out: dict[str, dict[str, Any]] = {}
        for loop, text in self.db.execute("SELECT loop, data FROM learned").fetchall():
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict):
                out[loop] = data
        return out

    def setting(self, key: str) -> Any:
        """A run-time setting's JSON value, or None if never saved (or unreadable)."""
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            return None

    def save_setting(self, key: str, value: Any, at: float | None = None) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, json.dumps(value, sort_keys=True), time.time() if at is None else at),
            )
