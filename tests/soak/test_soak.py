"""A simulated day of the whole daemon with every trigger and every fault at once
(``python -m hil.soak --days 1``; the 30-day run is the README's "Months unattended")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("button", "mqtt", "mihome", "cli", "schedule")
FAULTS = (
    "bridge_garbage",
    "bridge_reboot",
    "bridge_unplug",
    "broker_kill",
    "mqtt_wrong_password",
    "bemfa_down",
    "mihome_plug_silent",
    "cold_line_hot",
    "loop_over_limit",
    "heater_fails",
    "wall_clock_jump",
    "store_disk_full",
    "store_read_only",
    "daemon_frozen_5s",
    "daemon_sigkill",
)


def test_a_simulated_day_of_everything_at_once(tmp_path: Path) -> None:
    args = ["--days", "1", "--seed", "7", "--json", "--workdir", str(tmp_path)]
    out = subprocess.run(
        [sys.executable, "-m", "hil.soak", *args],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=ROOT,
        check=False,
    )
    assert out.stdout, out.stderr[-3000:]
    s = json.loads(out.stdout)
    # Safety, on the emulated Pico's own relay record.
    assert s["invariant_violations"] == 0, s["violations"]
    assert s["relay_changes"] > 50
    # Every request answered once, in time; every cycle ended; every fault accounted for.
    assert s["unanswered_requests"] == 0, s["problems"]
    assert s["answers_without_request"] == 0 and s["late_answers"] == 0, s["problems"]
    assert s["cycles_finished"] >= 10 and s["cycles_unended"] == 0 and s["cycles_overlong"] == 0
    assert s["fault_ledger_mismatches"] == 0, s["problems"]
    assert s["unhandled_exceptions"] == 0, s["exceptions_logged"]
    # The history: intact, and every cycle that ended while it could write is in it.
    assert s["db_integrity"] == "ok" and s["db_cycles_missing"] == 0
    # Everything happened: every source asked, every kind of fault came.
    for source in SOURCES:
        assert s["requests_by_source"].get(source, 0) > 0, (source, s["requests_by_source"])
    assert s["triggers_delivered"].get("bemfa", 0) > 0, s["triggers_delivered"]
    for fault in FAULTS:
        assert s["faults_injected"].get(fault, 0) > 0, (fault, s["faults_injected"])
    assert any(k.startswith("sensor:") for k in s["faults_injected"])
    assert s["pico_tick_wraps"] >= 1
    # A day is too short for a growth slope (the 30-day run measures those); no runaway.
    assert s["rss_mb_last"] - s["rss_mb_first"] < 15, s
    assert s["fds_last"] <= s["fds_first"] + 12 and s["threads_last"] <= s["threads_first"] + 4, s
    assert s["settle"]["connected_at_end"], s["settle"]
