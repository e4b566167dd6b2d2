"""The week bench's tables are made from its JSON, the goals judged there, not by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hil.bench.week_report import goals, interval, main


def _summary(hot: float, kj: float, **extra: Any) -> dict[str, Any]:
    return {
        "zero_cold_rate_habitual": hot,
        "stayed_hot_rate_habitual": hot / 2,
        "zero_cold_rate_all": hot,
        "cold_water_l_per_draw": 1.0,
        "pump_h_per_day": 0.1,
        "energy_kj_per_day": kj,
        "cold_line_l_per_day": 10.0,
        **extra,
    }


DETECTION = {
    "flick_precision": 1.0,
    "flick_recall": 0.9,
    "flick_requests": 9,
    "flicks": 10,
    "flick_false_from_pump": 0,
    "draws": 43,
    "draws_detected": 42,
    "draws_false": 1,
}
RUNS = [
    {"house": "R0", "strategy": "keep_warm_all_day", "summary": _summary(0.5, 10000.0)},
    {"house": "R0", "strategy": "user_schedule", "summary": _summary(0.1, 500.0)},
    {"house": "R0", "strategy": "learned", "summary": _summary(0.9, 2500.0, **DETECTION)},
    {"house": "R0", "strategy": "prescient", "summary": _summary(1.0, 1000.0)},
]


def test_each_goal_is_judged_from_the_figures() -> None:
    row = goals(RUNS)[-1]
    assert row.startswith("| R0 | yes (90 %) | yes (25 %) | yes (+80) | yes (2.50 ×) |")
    assert "**no** (9 asked, 10 flicks, 0 from pump)" in row  # recall 0.9 < 0.95
    assert row.endswith("| 42/43, 1 false |")


def test_the_tables_print_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "week.json"
    path.write_text(json.dumps({"scenario": "week", "runs": RUNS}))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "| R0 | **learned** | 90 % | 45 % | 90 % |" in out


def test_the_hot_rate_says_how_far_its_draws_can_place_it() -> None:
    lo, hi = interval(0.5, 100)  # the textbook case: 50 of 100
    assert round(lo, 3) == 0.404 and round(hi, 3) == 0.596
    summary = _summary(0.9, 2500.0, habitual_judged=38, **DETECTION)
    runs = [*RUNS[:2], {"house": "R0", "strategy": "learned", "summary": summary}, *RUNS[3:]]
    (row,) = [line for line in goals(runs) if line.startswith("| R0 |")]
    assert "yes (90 %; 95 % interval 77-96 % over 38 draws)" in row
