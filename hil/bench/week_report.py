"""The week bench's tables for the README and docs/learning.md, made from its JSON.

``zcw bench --scenario week --json > week.json``, then
``python -m hil.bench.week_report week.json``: the figures of every house and strategy, and
the goals of ``learned`` judged on each house (none of it typed by hand).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The goals for `learned` on every house.
HOT_HABITUAL = 0.85
ENERGY_OF_KEEP_WARM = 0.30
POINTS_OVER_SCHEDULE = 20.0
ENERGY_OF_PRESCIENT = 3.0
FLICKS = 0.95


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


# The figures of one run, as the README, docs/learning.md and `zcw bench` show them.
COLUMNS = (
    "house",
    "strategy",
    "hot habitual",
    "stays hot",
    "hot all",
    "cold L/draw",
    "pump h/day",
    "kJ/day",
    "cold line L/day",
    "flicks P / R",
)


def cells(run: dict[str, Any]) -> list[str]:
    """One run's row, in COLUMNS' order."""
    s = run["summary"]
    flicks = (
        f"{s['flick_precision']:.2f} / {s['flick_recall']:.2f}" if "flick_precision" in s else "–"
    )
    return [
        run["house"],
        run["strategy"],
        _pct(s["zero_cold_rate_habitual"]),
        _pct(s["stayed_hot_rate_habitual"]),
        _pct(s["zero_cold_rate_all"]),
        f"{s['cold_water_l_per_draw']:.2f}",
        f"{s['pump_h_per_day']:.3f}",
        f"{s['energy_kj_per_day']:.0f}",
        f"{s['cold_line_l_per_day']:.1f}",
        flicks,
    ]


def figures(runs: Sequence[dict[str, Any]]) -> list[str]:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for run in runs:
        row = cells(run)
        if run["strategy"] == "learned":
            row[1] = f"**{row[1]}**"
        out.append("| " + " | ".join(row) + " |")
    return out


def interval(share: float, n: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a share of ``n`` draws: how far a few seeds' draws can
    say where the rate lies (with 38 draws, about ± 12 points around 80 %)."""
    z = 1.96
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def _hot(s: dict[str, Any]) -> str:
    share, n = s["zero_cold_rate_habitual"], s.get("habitual_judged")
    if not n:
        return _pct(share)
    lo, hi = interval(share, int(n))
    return f"{_pct(share)}; 95 % interval {lo * 100:.0f}-{hi * 100:.0f} % over {n} draws"


def _yes(ok: bool, text: str) -> str:
    return f"yes ({text})" if ok else f"**no** ({text})"


def goals(runs: Sequence[dict[str, Any]]) -> list[str]:
    out = [
        "| house | hot habitual ≥ 85 % | energy ≤ 30 % of keep_warm_all_day"
        " | ≥ 20 points over user_schedule | energy ≤ 3 × prescient"
        " | flicks P, R ≥ 95 %, 0 from pump | draws found / false |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["house"], r["strategy"]): r["summary"] for r in runs}
    for house in dict.fromkeys(r["house"] for r in runs):
        s = by.get((house, "learned"))
        if s is None:
            continue
        cells = [_yes(s["zero_cold_rate_habitual"] >= HOT_HABITUAL, _hot(s))]
        kw = by.get((house, "keep_warm_all_day"))
        if kw is None or kw["energy_kj_per_day"] <= 0:
            cells.append("n/a (no keep_warm_all_day energy)")
        else:
            share = s["energy_kj_per_day"] / kw["energy_kj_per_day"]
            cells.append(_yes(share <= ENERGY_OF_KEEP_WARM, _pct(share)))
        us = by.get((house, "user_schedule"))
        if us is None:
            cells.append("n/a")
        else:
            points = (s["zero_cold_rate_habitual"] - us["zero_cold_rate_habitual"]) * 100
            cells.append(_yes(points >= POINTS_OVER_SCHEDULE, f"{points:+.0f}"))
        pr = by.get((house, "prescient"))
        if pr is None or pr["energy_kj_per_day"] <= 0:
            cells.append("n/a")
        else:
            ratio = s["energy_kj_per_day"] / pr["energy_kj_per_day"]
            cells.append(_yes(ratio <= ENERGY_OF_PRESCIENT, f"{ratio:.2f} ×"))
        if "flick_precision" in s:
            ok = (
                s["flick_precision"] >= FLICKS
                and s["flick_recall"] >= FLICKS
                and s["flick_false_from_pump"] == 0
            )
            text = (
                f"{s['flick_requests']} asked, {s['flicks']} flicks,"
                f" {s['flick_false_from_pump']} from pump"
            )
            cells.append(_yes(ok, text))
        else:
            cells.append("n/a (no heater outlet sensor)")
        cells.append(f"{s['draws_detected']}/{s['draws']}, {s['draws_false']} false")
        out.append(f"| {house} | " + " | ".join(cells) + " |")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil.bench.week_report", description=__doc__)
    parser.add_argument("json", type=Path, help="the output of zcw bench --scenario week --json")
    args = parser.parse_args(argv)
    runs = json.loads(args.json.read_text())["runs"]
    print("\n".join(figures(runs)))
    print()
    print("\n".join(goals(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
