"""Emulator and daemon as separate processes: kill -9 and SIGSTOP the daemon mid-cycle.

This is the acceptance of the bridge's own safety layer: whatever happens to the Pi's
process, the emulated Pico (running the firmware's logic) turns the relays off by itself.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zcw.testing.processes import reap

ROOT = Path(__file__).resolve().parents[2]
FAST_HOUSE = """
name = "FAST"
description = "3 m of PPR to the valve and an immersion sensor: hot water in seconds"
topology = "crossover"
ambient_c = 20.0
mains_c = 15.0
pump_flow_lpm = 8.0

[heater]
kind = "electric"
setpoint_c = 50.0

[[taps]]
name = "bathroom"
hot = [{ pipe = "ppr_20x2.8", length_m = 3.0 }]
cold = [{ pipe = "ppr_20x2.3", length_m = 3.0 }]
sensor = { mount = "immersion", tau_s = 2.0, kappa = 1.0 }
"""


class EmulatorProcess:
    """``python -m hil.emulator`` with its JSON lines collected by a reader thread."""

    def __init__(self, tmp: Path, house: str, host_timeout_ms: int) -> None:
        self.link = tmp / "bridge"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hil.emulator",
                "--house",
                house,
                "--link",
                str(self.link),
                "--host-timeout-ms",
                str(host_timeout_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first.startswith("pty "), first
        self.sensors: dict[str, str] = json.loads(self.proc.stdout.readline())["sensors"]
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float) -> dict[str, Any]:
        for item in self.seen:
            if predicate(item):
                return item
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.05)
            except queue.Empty:
                continue
            self.seen.append(item)
            if predicate(item):
                return item
        raise AssertionError(f"emulator never said it within {timeout_s} s; saw {self.seen[-5:]}")

    def now(self) -> float:
        """The emulator's simulated time (wall-clock at speed 1), asked now."""
        before = sum(1 for i in self.seen if "now" in i)
        self.send("now")
        self.wait(lambda i: "now" in i and sum(1 for j in self.seen if "now" in j) > before, 5)
        return float([i for i in self.seen if "now" in i][-1]["now"])

    def close(self) -> None:
        reap(self.proc, timeout_s=5.0)


def relay(ch: int, on: bool) -> Callable[[dict[str, Any]], bool]:
    return lambda i: i.get("relay") == ch and i.get("on") is on


def daemon_config(
    tmp: Path, emu: EmulatorProcess, host_timeout_s: float = 2.0, **loop: Any
) -> Path:
    sensors = "\n".join(f'{name} = "{rom}"' for name, rom in emu.sensors.items())
    extra = "\n".join(f"{k} = {v}" for k, v in loop.items())
    cfg = tmp / "zcw.toml"
    cfg.write_text(
        f"""
[control]
socket = "{tmp / "zcw.sock"}"
min_rest_s = 0

[pump]
relay = 0

[bridge]
port = "{emu.link}"
host_timeout_s = {host_timeout_s}

[store]
path = "{tmp / "history.db"}"

[sensors]
{sensors}

[[loops]]
name = "bathroom"
sensor = "bathroom"
valve_relay = 1
{extra}
"""
    )
    return cfg


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield tmp_path, started
    for p in started:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
            p.wait(timeout=5)


def start_daemon(cfg: Path, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "zcw", "run", "-c", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started.append(proc)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = subprocess.run(
            [sys.executable, "-m", "zcw", "status", "--json", "-c", str(cfg)],
            capture_output=True,
            text=True,
        )
        if out.returncode == 0 and json.loads(out.stdout)["loops"]["bathroom"]["temp_c"]:
            return proc
        time.sleep(0.2)
    raise AssertionError("daemon did not come up with a reading")


def zcw_start(cfg: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zcw", "start", "-c", str(cfg)], capture_output=True, text=True
    )
    assert "heating bathroom" in out.stdout, out


def test_kill_9_of_the_daemon_mid_cycle_drops_relays_within_host_timeout(
    procs: tuple[Path, list[subprocess.Popen[bytes]]],
) -> None:
    tmp, started = procs
    emu = EmulatorProcess(tmp, "R0", host_timeout_ms=2000)
    try:
        cfg = daemon_config(tmp, emu)
        daemon = start_daemon(cfg, started)
        zcw_start(cfg)
        emu.wait(relay(0, True), 5)
        daemon.kill()  # SIGKILL: no shutdown code runs at all
        daemon.wait(timeout=5)
        killed_at = emu.now()
        off_pump = emu.wait(relay(0, False), 5)["t"]
        off_valve = emu.wait(relay(1, False), 5)["t"]
        # The last frame left the daemon at most one tick before the kill.
        assert max(off_pump, off_valve) - killed_at <= 2.0 + 0.5
        emu.wait(lambda i: i.get("frame") == "FAULT" and i["fields"] == ["host_silent"], 2)
    finally:
        emu.close()


def test_frozen_daemon_local_close_at_the_limit(
    procs: tuple[Path, list[subprocess.Popen[bytes]]],
) -> None:
    tmp, started = procs
    house = tmp / "fast.toml"
    house.write_text(FAST_HOUSE)
    emu = EmulatorProcess(tmp, str(house), host_timeout_ms=3000)
    try:
        # sensor_tau_s = 0: the daemon trusts the reading, so freezing it at 30 °C leaves the
        # 38 °C limit to the bridge alone.
        cfg = daemon_config(tmp, emu, host_timeout_s=3.0, sensor_tau_s=0)
        daemon = start_daemon(cfg, started)
        zcw_start(cfg)
        emu.wait(relay(0, True), 5)
        emu.wait(
            lambda i: (
                i.get("frame") == "T" and i["fields"][2] == "ok" and int(i["fields"][1]) >= 30 * 16
            ),
            30,
        )
        os.kill(daemon.pid, signal.SIGSTOP)
        at_limit = emu.wait(
            lambda i: (
                i.get("frame") == "T" and i["fields"][2] == "ok" and int(i["fields"][1]) >= 38 * 16
            ),
            5,
        )["t"]
        valve_off = emu.wait(relay(1, False), 3)["t"]
        pump_off = emu.wait(relay(0, False), 3)["t"]
        # The reading that crossed the limit closes the valve in the same pass of the loop;
        # the bound is one conversion period (1 s) plus 0.5 s.
        assert valve_off - at_limit <= 1.0 + 0.5
        assert pump_off - at_limit <= 1.0 + 0.5
        close = emu.wait(lambda i: i.get("frame") == "LCLOSE", 2)
        assert close["fields"] == ["1", "limit"]
    finally:
        emu.close()


def test_real_rig_script_passes_against_the_emulator(tmp_path: Path) -> None:
    """`python -m hil.real_rig` is the bench check for a real Pico; here it meets the emulator."""
    emu = EmulatorProcess(tmp_path, "R0", host_timeout_ms=2000)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "hil.real_rig",
                "--port",
                str(emu.link),
                "--relays",
                "--deadman",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "all checks passed" in out.stdout
        assert "[FAIL]" not in out.stdout
    finally:
        emu.close()
