"""zcw under systemd: the notify protocol against a fake NOTIFY_SOCKET, in-process with an
injected clock and as a real daemon process, and the unit file checked by systemd itself."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from zcw.adapters.systemd import SystemdNotifier
from zcw.app.service import READY_ANYWAY_S, ServiceWatch
from zcw.app.sim import SimRig, build_sim
from zcw.config import default_config
from zcw.testing.processes import config_with_socket, reap

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.05)
    yield sock, path
    sock.close()


def received(sock: socket.socket, *, for_s: float = 0.0) -> list[tuple[float, str]]:
    """Every message that arrives within ``for_s`` (or is waiting now), with its arrival."""
    out: list[tuple[float, str]] = []
    end = time.monotonic() + for_s
    while True:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            if time.monotonic() >= end:
                return out
            continue
        for field in data.decode().split("\n"):
            out.append((time.monotonic(), field))


def test_the_watchdog_is_fed_only_by_healthy_ticks(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    rig = build_sim(default_config())
    now = [0.0]
    watch = ServiceWatch(
        SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}), clock=lambda: now[0]
    )
    rig.daemon.observe(watch)

    def tick_for(seconds: float) -> None:
        end = now[0] + seconds
        while now[0] < end:
            now[0] += 0.25
            rig.clock.advance(0.25)
            rig.daemon.tick()

    tick_for(10.0)
    got = [m for _, m in received(sock)]
    assert got[0] == "READY=1" and got[1].startswith("STATUS=idle")
    assert got.count("WATCHDOG=1") == 5  # every 2 s: half of WatchdogSec
    now[0] += 30.0  # the tick hangs for 30 s: nothing feeds the watchdog
    assert [m for _, m in received(sock) if m == "WATCHDOG=1"] == []
    status = rig.daemon.status
    assert status is not None
    for _ in range(20):  # ticks that fail (I7) do not feed it either
        now[0] += 0.25
        watch(replace(status, healthy=False))
    assert "WATCHDOG=1" not in [m for _, m in received(sock)]
    watch.stopping()
    assert [m for _, m in received(sock)][:1] == ["STOPPING=1"]


def test_an_idle_daemon_feeds_the_watchdog_on_each_tick_its_period_asks_for(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """Idle ticks every 0.5 s with a WatchdogSec of 1 s: each is due to feed, even one that
    comes a hair early after one that ran late (the runner's ticks are on a grid)."""
    sock, path = notify_socket
    rig = build_sim(default_config())
    now = [0.0]
    watch = ServiceWatch(
        SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}), clock=lambda: now[0]
    )
    status = rig.daemon.tick()
    for t in (0.0, 0.52, 1.01, 1.5, 2.03, 2.51):
        now[0] = t
        watch(status)
    assert [m for _, m in received(sock)].count("WATCHDOG=1") == 6


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.active and notifier.send("READY=1") is False


def test_a_daemon_process_speaks_the_notify_protocol(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        config_with_socket(tmp_path / "zcw.sock") + f'\n[store]\npath = "{tmp_path / "h.db"}"\n'
    )
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
    started = time.monotonic()
    # Real time, the emulated bridge on a pty: what systemd would start on a Pi.
    proc = subprocess.Popen(
        [sys.executable, "-m", "zcw", "run", "-c", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        messages = received(sock, for_s=8.0)
        ready = [t for t, m in messages if m == "READY=1"]
        assert ready and ready[0] - started < 5.0, messages
        feeds = [t for t, m in messages if m == "WATCHDOG=1"]
        gaps = [b - a for a, b in itertools.pairwise(feeds)]
        assert len(feeds) >= 8 and max(gaps) < 0.9, gaps  # every half of WATCHDOG_USEC
        assert any(m.startswith("STATUS=idle") for _, m in messages)
        proc.send_signal(signal.SIGSTOP)  # the whole daemon hangs: no feeding at all
        assert [m for _, m in received(sock, for_s=2.0) if m == "WATCHDOG=1"] == []
        proc.send_signal(signal.SIGCONT)
        assert "WATCHDOG=1" in [m for _, m in received(sock, for_s=2.0)]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert "STOPPING=1" in [m for _, m in received(sock)]
    finally:
        reap(proc)


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    unit = (ROOT / "config" / "zcw.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit
    # verify checks that ExecStart exists; on this machine zcw lives elsewhere than /opt/zcw.
    here = tmp_path / "zcw.service"
    here.write_text(
        unit.replace("/opt/zcw/.venv/bin/zcw", str(Path(sys.executable).parent / "zcw"))
    )
    out = subprocess.run(["systemd-analyze", "verify", str(here)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_ready_waits_for_the_bridge_up_to_its_bound(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """READY=1 is withheld while the bridge is offline, with STATUS saying why; it goes out
    the moment the bridge comes online, or at READY_ANYWAY_S if it never does (a Pico left
    unplugged is a running service that says what is wrong, not a start that times out)."""
    sock, path = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}

    def offline_daemon() -> tuple[SimRig, list[float]]:
        """The simulated daemon with its bridge not answering (the Pico unplugged), watched
        on a clock of its own."""
        rig = build_sim(default_config())
        rig.hardware.online = False
        now = [0.0]
        rig.daemon.observe(ServiceWatch(SystemdNotifier(env), clock=lambda: now[0]))
        return rig, now

    def tick_for(rig: SimRig, now: list[float], seconds: float) -> None:
        end = now[0] + seconds
        while now[0] < end - 1e-9:
            now[0] += 0.25
            rig.clock.advance(0.25)
            rig.daemon.tick()

    # The bridge never comes: nothing but STATUS until the bound, then READY.
    rig, now = offline_daemon()
    tick_for(rig, now, READY_ANYWAY_S - 1.0)
    waiting = [m for _, m in received(sock)]
    assert "READY=1" not in waiting and "WATCHDOG=1" not in waiting, waiting
    assert any(m.startswith("STATUS=") and "bridge" in m for m in waiting), waiting
    tick_for(rig, now, 1.0)
    late = [m for _, m in received(sock)]
    assert late[:1] == ["READY=1"], late
    assert late[1].startswith("STATUS=") and "bridge_offline" in late[1], late

    # The bridge answers after 10 s: READY then, not at the bound.
    rig, now = offline_daemon()
    tick_for(rig, now, 10.0)
    assert "READY=1" not in [m for _, m in received(sock)]
    rig.hardware.online = True
    tick_for(rig, now, 0.25)
    assert "READY=1" in [m for _, m in received(sock)]
    assert now[0] < READY_ANYWAY_S
