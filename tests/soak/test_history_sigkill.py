"""History under SIGKILL, with real processes: `zcw run` is killed 20 times while cycles run and
the history is being written, and restarted on the same store each time (as systemd would).

After every kill the database passes SQLite's integrity check, and every cycle the daemon
had reported finished over the control socket (`zcw monitor`: a ``hot_ready``,
``cycle_stopped`` or ``cycle_aborted`` event) is in it. The daemon runs the simulated house
in lockstep at 20× real time, so a cycle takes a second or two of wall time.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from zcw.adapters.control_socket import request, stream
from zcw.errors import ControlSocketError
from zcw.testing.processes import config_with_socket, reap

KILLS = 20
ENDS = ("hot_ready", "cycle_stopped", "cycle_aborted")


class Monitor:
    """`zcw monitor` in a thread: the cycle ends it reports, as they arrive."""

    def __init__(self, sock: Path) -> None:
        self.ended = 0
        self.started = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self.thread.start()

    def _run(self, sock: Path) -> None:
        try:
            for item in stream(sock, {"cmd": "monitor"}):
                event: dict[str, Any] = item.get("event") or {}
                kind = event.get("event_type")
                with self.lock:
                    if kind == "cycle_started":
                        self.started += 1
                    elif kind in ENDS and self.ended < self.started:
                        # One loop, so the first end of a cycle ends it; a cycle-wide abort
                        # that follows a loop's own end is not a second cycle.
                        self.ended += 1
        except (OSError, ValueError, ControlSocketError):
            return  # the daemon was killed


def _wait_socket(sock: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if request(sock, {"cmd": "status"}, timeout_s=1.0).get("ok"):
                return
        except (OSError, ControlSocketError):
            pass
        time.sleep(0.05)
    raise AssertionError("the daemon's control socket never answered")


def _cycles_in(db: Path) -> tuple[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = str(con.execute("PRAGMA integrity_check").fetchone()[0])
        return integrity, int(con.execute("SELECT count(*) FROM cycles").fetchone()[0])
    finally:
        con.close()


def test_twenty_sigkills_while_writing_lose_no_reported_cycle(tmp_path: Path) -> None:
    sock, db = tmp_path / "zcw.sock", tmp_path / "history.db"
    text = config_with_socket(sock).replace("min_rest_s = 30", "min_rest_s = 0")
    cfg = tmp_path / "zcw.toml"
    cfg.write_text(text + f'\n[store]\npath = "{db}"\n')
    rng = random.Random(20)
    reported = 0
    rows_before = 0
    for i in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "zcw", "run", "-c", str(cfg), "--speed", "20", "--no-dashboard"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_socket(sock)
            monitor = Monitor(sock)
            time.sleep(0.1)
            # Start and stop cycles until the kill, which comes at any moment (from a timer,
            # not between two requests): mid-cycle, mid-stop, mid-write. Each cycle ends in
            # the history (stopped, or hot when the pipe got there first); the simulated pipe
            # is cold at every start.
            killer = threading.Timer(rng.uniform(1.0, 4.0), proc.kill)
            killer.start()
            while proc.poll() is None:
                try:
                    request(sock, {"cmd": "start"}, timeout_s=5.0)
                    time.sleep(rng.uniform(0.05, 0.6))
                    request(sock, {"cmd": "stop"}, timeout_s=5.0)
                    time.sleep(rng.uniform(0.0, 0.3))
                except (OSError, ControlSocketError):
                    break  # killed
            killer.join()
        finally:
            reap(proc)  # SIGKILL: no shutdown code runs
        monitor.thread.join(timeout=5.0)
        with monitor.lock:
            reported += monitor.ended
        integrity, rows = _cycles_in(db)
        assert integrity == "ok", f"kill {i + 1}: {integrity}"
        assert rows >= reported, f"kill {i + 1}: {reported} cycles reported finished, {rows} stored"
        assert rows > rows_before, f"kill {i + 1}: no cycle was written in this run"
        rows_before = rows
    assert reported >= 2 * KILLS
