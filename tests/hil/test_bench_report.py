"""hil.bench.report: the benchmark's Markdown is made from one JSON run, seeds told apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.bench.report import goals_met, main, seeded_events


def _event(at_s: float, outcome: str, hot_l: float = 0.0) -> dict[str, object]:
    return {
        "loop": "bathroom",
        "at_s": at_s,
        "hot_at_valve_s": None if outcome == "cold" else 25.0,
        "stop_s": 26.0,
        "water_moved_l": 3.0,
        "hot_into_cold_l": hot_l,
        "cold_line_peak_c": 39.0 if hot_l else 35.0,
        "heater_energy_kj": 500.0,
        "outcome": outcome,
    }


SUMMARY = {
    "latency_ratio_mean": 1.01,
    "latency_ratio_p95": 1.03,
    "energy_ratio": 1.02,
    "failed_events": 1,
    "events": 4,
    "violations": 1,
    "cold_line_peak_max_c": 39.0,
    "hot_over_limit_l_per_100": 2.0,
    "topology": "crossover",
    "warnings": [],
    "hot_l_per_event": 0.02,
}
RUN = {
    "house": "R0",
    "strategy": "zcw",
    "seeds": [3, 4],
    "events": [
        _event(25_000.0, "hot"),
        _event(70_000.0, "cold"),  # seed 3
        _event(24_000.0, "hot", hot_l=0.08),  # the time of day goes back: seed 4
        _event(80_000.0, "hot"),
    ],
    "summary": SUMMARY,
}


def test_events_get_their_seed_where_the_day_starts_again() -> None:
    assert [seed for seed, _ in seeded_events(RUN)] == [3, 3, 4, 4]


def test_misses_are_the_cold_events_and_those_over_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"runs": [RUN]}))
    assert main([str(path), "--misses"]) == 0
    out = capsys.readouterr().out
    assert "#### R0 (2)" in out
    assert "- seed 3, bathroom, 19.44 h: cold; hot at the valve never" in out
    assert "- seed 4, bathroom, 6.67 h: hot; hot at the valve 25.0 s" in out and "0.08 L" in out
    assert main([str(path), "--table"]) == 0
    assert (
        "| R0 | crossover | 1.01 / 1.03 | 1.02 | 1 of 4 | 1 | 39.0 | 2.0 |"
        in capsys.readouterr().out
    )


def test_a_file_with_infinity_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text('{"runs": [{"x": Infinity}]}')
    with pytest.raises(ValueError, match="not strict JSON"):
        main([str(path), "--table"])


def test_goals_follow_the_install_kind() -> None:
    warned = {**SUMMARY, "warnings": ["a clamp on plastic"], "failed_events": 4}
    assert goals_met({**warned, "hot_over_limit_l_per_100": 0.9, "cold_line_peak_max_c": 39.5})
    assert not goals_met({**warned, "cold_line_peak_max_c": 40.5, "hot_over_limit_l_per_100": 0.0})
    clean = {**SUMMARY, "failed_events": 0, "violations": 0, "hot_over_limit_l_per_100": 0.0}
    assert goals_met(clean) and not goals_met({**clean, "latency_ratio_p95": 1.2})
    drain = {**SUMMARY, "topology": "drain", "cold_line_peak_max_c": None, "failed_events": 3}
    assert goals_met(drain) and not goals_met({**drain, "hot_l_per_event": 0.3})
