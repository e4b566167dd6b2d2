"""Schedules in the daemon: a pre-heat fires as a ``schedule`` request, run-time edits layer
over the file and survive SIGKILL, away dates block automatic sources and no manual one."""

from __future__ import annotations

import signal
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from zcw.adapters.store import Store
from zcw.app.schedule_bridge import ScheduleBridge
from zcw.app.sim import build_sim
from zcw.config import parse_config
from zcw.domain.model import LoopParams, Params, Request, Source
from zcw.testing.processes import config_with_socket, read_until, reap
from zcw.testing.rig import Rig

ZCW = [sys.executable, "-m", "zcw"]


def sim_config(**extra: Any) -> Any:
    data = tomllib.loads(resources.files("zcw").joinpath("default.toml").read_text())
    data.update(timezone="Europe/Berlin", **extra)
    return parse_config(data)


class Clocks:
    def __init__(self, wall: datetime) -> None:
        self.wall = wall
        self.mono = 0.0

    def step(self, s: float) -> None:
        self.wall += timedelta(seconds=s)
        self.mono += s


def test_a_pre_heat_reaches_the_daemon_as_a_schedule_request_and_starts_a_cycle(
    tmp_path: Path,
) -> None:
    cfg = sim_config(schedule=[{"loop": "bathroom", "at": "06:50", "days": "daily"}])
    rig = build_sim(cfg)
    clocks = Clocks(datetime(2026, 12, 2, 5, 30, tzinfo=UTC))  # 06:30 in Berlin
    with Store(tmp_path / "h.db") as store:
        bridge = ScheduleBridge(
            rig.daemon, cfg, store, wall=lambda: clocks.wall, mono=lambda: clocks.mono
        )
        started = []
        for _ in range(25 * 60):
            clocks.step(1.0)
            bridge.check()
            for _ in range(4):
                rig.clock.advance(0.25)
                status = rig.daemon.tick()
                started += [(clocks.wall, e) for e in status.events if e.kind == "cycle_started"]
        assert [(e.source, e.loop) for _, e in started] == [(Source.SCHEDULE, "bathroom")]
        # It started early by the lead: nothing learned yet, so the first guess plus margin…
        assert started[0][0] == datetime(2026, 12, 2, 5, 48, 50, tzinfo=UTC)
        # … and that cycle taught the loop's transit, which the next lead uses.
        transit = rig.daemon.controller.learned["bathroom"].transit_s
        assert transit is not None and bridge.lead_s("bathroom") == transit + 0.5 + 10.0
        assert store.setting("schedule.fired") == {"bathroom@06:50/daily": "2026-12-02"}


def test_run_time_edits_layer_over_the_file_and_survive_a_new_bridge(tmp_path: Path) -> None:
    cfg = sim_config(
        schedule=[
            {"loop": "bathroom", "at": "06:50", "days": "mon-fri"},
            {"loop": "bathroom", "at": "08:00", "days": "sat,sun"},
        ]
    )
    rig = build_sim(cfg)
    with Store(tmp_path / "h.db") as store:
        first = ScheduleBridge(rig.daemon, cfg, store)
        first.add("bathroom", "21:30", "daily")
        first.remove("bathroom@08:00/sat,sun")
        first.add_away("2026-12-20", "2027-01-03")
        with pytest.raises(ValueError, match="unknown loop 'garage'; the loops are: bathroom"):
            first.add("garage", "07:00", "daily")
        with pytest.raises(ValueError, match="no pre-heat 'x'"):
            first.remove("x")
        again = ScheduleBridge(rig.daemon, cfg, store)
        ids = [(e.id, e.source) for e in again.entries()]
        assert ids == [("bathroom@06:50/mon-fri", "file"), ("bathroom@21:30/daily", "runtime")]
        assert [a.to_json() for a in again.away_ranges()] == [
            {"from": "2026-12-20", "to": "2027-01-03"}
        ]
        again.reset()
        assert len(ScheduleBridge(rig.daemon, cfg, store).entries()) == 2


@pytest.mark.parametrize(
    ("source", "blocked"),
    [
        (Source.SCHEDULE, True),
        (Source.LEARNED, True),
        (Source.BUTTON, False),
        (Source.MQTT, False),
        (Source.MIHOME, False),
        (Source.CLI, False),
        (Source.TAPFLICK, False),
    ],
)
def test_away_blocks_scheduled_keep_warm_and_learned_triggers_only(
    source: Source, blocked: bool
) -> None:
    r = Rig(Params(loops=(LoopParams("bathroom", sensor_tau_s=0.0),)))
    r.set_loop("bathroom", 20.0)
    r.run(2.0)
    r.tick([Request("mode", Source.SCHEDULE, mode="away")])  # away dates began
    kinds = [(e.kind, e.reason) for e in r.request("start", source=source).events]
    assert kinds == ([("rejected", "away")] if blocked else [("cycle_started", None)])


def test_schedule_edits_over_the_cli_survive_sigkill(tmp_path: Path) -> None:
    sock = tmp_path / "zcw.sock"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'timezone = "Asia/Shanghai"\n'
        + config_with_socket(sock)
        + f'\n[store]\npath = "{tmp_path / "h.db"}"\n'
        + '\n[[schedule]]\nloop = "bathroom"\nat = "06:50"\ndays = "mon-fri"\n'
    )

    def daemon() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*ZCW, "run", "-c", str(cfg), "--speed", "5"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        read_until(proc.stderr.fileno(), b"control socket at", 30.0)
        return proc

    def zcw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ZCW, *args, "-c", str(cfg)], capture_output=True, text=True)

    proc = daemon()
    try:
        added = zcw("schedule", "add", "bathroom", "21:30", "sat,sun")
        assert added.returncode == 0, added
        assert "added bathroom@21:30/sat,sun" in added.stdout
        assert zcw("schedule", "remove", "bathroom@06:50/mon-fri").returncode == 0
        assert zcw("away", "add", "2026-12-20", "2027-01-03").returncode == 0
        bad = zcw("schedule", "add", "bathroom", "25:00")
        assert bad.returncode == 1 and "HH:MM" in bad.stdout
        numbers = zcw("schedule", "add", "bathroom", "07:00", "1-5")
        assert numbers.returncode == 1 and "weekday names" in numbers.stdout
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        reap(proc)
    proc = daemon()
    try:
        listed = zcw("schedule", "list")
        assert listed.returncode == 0, listed
        assert "bathroom@21:30/sat,sun" in listed.stdout
        assert "bathroom@06:50/mon-fri" not in listed.stdout
        assert "time zone Asia/Shanghai" in listed.stdout
        assert "away: 2026-12-20 to 2027-01-03" in listed.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        reap(proc)
