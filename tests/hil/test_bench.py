"""A short bench: the §6 JSON schema, and figures that must hang together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.bench.cli import bench, to_json
from hil.bench.scenario import WINDOWS
from hil.bench.strategies import STRATEGIES
from hil.house import HOUSES_DIR
from zcw.testing.processes import read_until, reap

EVENT_KEYS = {
    "loop",
    "hot_at_valve_s",
    "stop_s",
    "water_moved_l",
    "hot_into_cold_l",
    "cold_line_peak_c",
    "heater_energy_kj",
    "outcome",
}
SUMMARY_KEYS = {
    "latency_ratio_mean",
    "latency_ratio_p95",
    "latency_ratio_max",
    "hot_over_limit_l_per_100",
    "warnings",
    "energy_ratio",
    "hot_into_cold_l_total",
    "cold_line_peak_max_c",
    "violations",
    "failed_events",
}


def test_short_bench_schema_and_consistency() -> None:
    report = bench(["R0", "H4"], list(STRATEGIES), [0], progress=None, workers=2)
    runs = report["runs"]
    assert {(r["house"], r["strategy"]) for r in runs} == {
        (h, s) for h in ("R0", "H4") for s in STRATEGIES
    }
    by = {(r["house"], r["strategy"]): r for r in runs}
    # zcw meets each house after one learning day of its own; the others do not learn.
    assert {r["learning_days"] for r in runs if r["strategy"] == "zcw"} == {1}
    assert {r["learning_days"] for r in runs if r["strategy"] != "zcw"} == {0}
    for run in runs:
        assert set(run["summary"]) >= SUMMARY_KEYS
        for e in run["events"]:
            assert set(e) >= EVENT_KEYS
            # what went into the cold line is part of what the pump moved
            assert e["hot_into_cold_l"] <= e["water_moved_l"] + 1e-6
            assert e["heater_energy_kj"] >= 0
        s = run["summary"]
        assert s["hot_into_cold_l_total"] == round(
            sum(e["hot_into_cold_l"] for e in run["events"]), 2
        )
        assert s["violations"] <= len(run["events"])
    for house in ("R0", "H4"):
        oracle = by[(house, "oracle")]
        assert oracle["summary"]["latency_ratio_mean"] == 1.0
        assert oracle["summary"]["energy_ratio"] == 1.0
        assert oracle["summary"]["failed_events"] == 0
        first = oracle["events"][0]
        for strategy in STRATEGIES:
            other = by[(house, strategy)]["events"][0]
            # Same day, same starting state: nobody gets hot water sooner than the oracle.
            if other["hot_at_valve_s"] is not None:
                assert first["hot_at_valve_s"] <= other["hot_at_valve_s"] + 0.25
    # The naive strategies show the problem: the timer never delivers hot water on H4's
    # far tap, and the threshold on a dry clip floods the cold line.
    timer_h4 = by[("H4", "timer")]
    assert any(e["outcome"] == "cold" for e in timer_h4["events"] if e["loop"] == "far")
    assert by[("H4", "threshold")]["summary"]["hot_into_cold_l_total"] > 10 * max(
        by[("H4", "oracle")]["summary"]["hot_into_cold_l_total"], 0.1
    )


def test_a_house_file_gets_only_its_own_results(tmp_path: Path) -> None:
    """`--house FILE` beside other houses: each row holds its own house's day, no more."""
    mine = tmp_path / "mine.toml"
    text = (HOUSES_DIR / "H1.toml").read_text(encoding="utf-8")
    mine.write_text(text.replace('name = "H1"', 'name = "H1-mine"', 1), encoding="utf-8")
    report = bench([str(mine), "R0", "R0"], ["oracle"], [0], progress=None, workers=2)
    rows = [(r["house"], len(r["events"])) for r in report["runs"]]
    one_day = sum(n for *_, n in WINDOWS)  # events in one seed's day
    assert rows == [("H1-mine", one_day), ("R0", one_day)]


def test_bench_command_prints_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zcw", "bench", "--house", "H1", "--strategy", "zcw", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout, parse_constant=_reject)
    (run,) = report["runs"]
    assert run["house"] == "H1" and run["strategy"] == "zcw"
    assert set(run["summary"]) >= SUMMARY_KEYS
    _all_numbers(report)


def _reject(constant: str) -> None:
    raise ValueError(f"{constant} is not a number a client can read")


def _all_numbers(node: object, where: str = "") -> None:
    """Every figure is a finite number, a string, a bool or null: never "inf"."""
    if isinstance(node, dict):
        for key, value in node.items():
            _all_numbers(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _all_numbers(value, f"{where}[{i}]")
    elif isinstance(node, str):
        assert node.lower() not in ("inf", "-inf", "nan", "infinity"), where
    else:
        assert node is None or isinstance(node, int | float | bool), where


def test_bench_json_is_strict_even_with_failed_events() -> None:
    """Every figure is a number or null, never Infinity or "inf"; a stray infinity is refused
    when the JSON is written, not left for a client to choke on."""
    report = bench(["H1"], ["zcw", "timer"], [0], progress=None, workers=2)
    text = to_json(report)
    parsed = json.loads(text, parse_constant=_reject)
    _all_numbers(parsed)
    for run in parsed["runs"]:
        ratios = [run["summary"][k] for k in ("latency_ratio_mean", "latency_ratio_p95")]
        assert all(r is None or isinstance(r, float) for r in ratios)
    broken = {"runs": [{"summary": {"latency_ratio_max": float("inf")}}]}
    with pytest.raises(ValueError):
        to_json(broken)


def test_the_oracle_answers_already_hot_and_moves_nothing() -> None:
    """Where the water at the valve is at ready_c already, the oracle opens nothing (it used
    to open the valve for one tick and let a whole 42 °C cell into the cold line)."""
    from hil.bench.runner import READY_C, _one_event
    from hil.bench.scenario import DemandEvent
    from hil.bench.strategies import Oracle
    from hil.house import load_house
    from hil.plant import Plant

    plant = Plant(load_house("R0"))
    oracle = Oracle(plant, READY_C)
    plant.set_draw("bathroom", 8.0)  # a user draws: hot water reaches the valve
    plant.advance(120.0)
    plant.set_draw("bathroom", 0.0)
    assert plant.water_at_valve_c("bathroom") >= READY_C
    ev = DemandEvent(at_s=0.0, loop="bathroom", draw_after_s=60.0, draw_s=30.0, draw_lpm=6.0)
    result, _, _ = _one_event(oracle, plant, ev)
    assert result.outcome == "already_hot"
    assert result.water_moved_l == 0.0 and result.hot_into_cold_l == 0.0
    assert result.cold_line_peak_c is None or result.cold_line_peak_c < READY_C


def test_zcw_detects_h4_heater_not_firing_within_30_s() -> None:
    """I6 (docs/safety.md): on the hard house, a heater that does not ignite is caught in 30 s."""
    from hil.bench.strategies import Zcw
    from hil.house import load_house
    from hil.plant import Plant
    from zcw.domain.controller import Phase

    plant = Plant(load_house("H4"))
    plant.fail_ignition()
    zcw = Zcw(plant, 36.0)
    zcw.idle(600.0)
    zcw.begin("far")
    pump_on: float | None = None
    while zcw.active and plant.t_s < 700.0:
        zcw.tick(0.25)
        if plant.pump_on and pump_on is None:
            pump_on = plant.t_s
    assert pump_on is not None
    faults = [f.code for f in zcw.daemon.controller.faults]
    assert faults == ["heater_not_firing"]
    detected = zcw.daemon.controller.snapshot().last_cycle
    assert detected is not None and detected.outcome == "heater_not_firing"
    assert zcw.daemon.controller.phase is Phase.IDLE
    assert not plant.pump_on and not any(plant.valves.values())
    # Pump on → fault: the outlet sensor's ignition_timeout_s, plus at most a tick or two.
    ran_s = plant.t_s - pump_on
    assert ran_s <= 31.0, ran_s


def test_a_refused_request_with_cold_water_is_a_failed_event() -> None:
    """Not pumping only counts as success when the water really was hot already."""
    from hil.bench.runner import summarise

    events = [
        {
            "hot_at_valve_s": None,
            "outcome": "refused",
            "heater_energy_kj": 0.0,
            "hot_into_cold_l": 0.0,
            "cold_line_peak_c": None,
        },
        {
            "hot_at_valve_s": 0.0,
            "outcome": "already_hot",
            "heater_energy_kj": 0.0,
            "hot_into_cold_l": 0.0,
            "cold_line_peak_c": None,
        },
    ]
    oracle = [
        {
            "hot_at_valve_s": 30.0,
            "outcome": "hot",
            "heater_energy_kj": 100.0,
            "hot_into_cold_l": 0.0,
            "cold_line_peak_c": 35.0,
        },
        {
            "hot_at_valve_s": 0.0,
            "outcome": "already_hot",
            "heater_energy_kj": 0.0,
            "hot_into_cold_l": 0.0,
            "cold_line_peak_c": None,
        },
    ]
    s = summarise({"events": events}, {"events": oracle})
    assert s["failed_events"] == 1
    # The failure is counted, not averaged in as an infinite ratio: no event got hot under
    # both, so there is no ratio at all.
    assert s["latency_ratio_max"] is None
    assert s["latency_ratio_mean"] is None and s["latency_ratio_p95"] is None


def running(pid: int) -> bool:
    """A process that still runs (a zombie waiting to be reaped runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("to", ["the main process only", "the whole process group"])
def test_sigint_ends_the_bench_and_its_workers_within_seconds(to: str) -> None:
    """`kill -INT <pid>` (or `timeout -s INT`) reaches the main process alone: it once waited
    for its workers to run the whole queue. Ctrl-C at a terminal reaches the whole group."""
    workers: list[int] = []
    proc = subprocess.Popen(
        [sys.executable, "-m", "zcw", "bench", "--house", "R0", "--house", "H4", "--seeds", "2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group: the group's SIGINT must not reach pytest
        # CI runs some streams in the background of a script, which starts them with SIGINT
        # ignored, and an ignored signal stays ignored across exec: Python would then never
        # install its KeyboardInterrupt handler in the bench. Give it SIGINT as a terminal does.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stderr is not None
        read_until(proc.stderr.fileno(), b"simulated days on 2 workers", 60.0)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        end = time.monotonic() + 30.0
        while len(workers) < 2 and time.monotonic() < end:
            workers = [int(p) for p in children.read_text().split()]
            time.sleep(0.1)
        assert len(workers) == 2, workers
        if to == "the main process only":
            os.kill(proc.pid, signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=10.0)  # seconds, where it once took minutes
        err = proc.stderr.read().decode()
        assert proc.returncode == 1, err
        assert "interrupted; its workers are stopped" in err and "Traceback" not in err
        end = time.monotonic() + 5.0
        while any(running(w) for w in workers) and time.monotonic() < end:
            time.sleep(0.1)
        assert not any(running(w) for w in workers), "orphaned bench workers"
    finally:
        reap(proc)
        for pid in workers:  # a failed run must not leave them simulating for minutes
            if running(pid):
                os.kill(pid, signal.SIGKILL)
