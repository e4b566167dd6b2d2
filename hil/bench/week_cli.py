"""`zcw bench --scenario week`: the family's fortnight on each house, a table or JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hil.bench.pool import worker_pool
from hil.bench.week import WEEK_STRATEGIES, finite, run_week
from hil.bench.week_report import COLUMNS, cells
from hil.house import available_houses

# Figures averaged over seeds (the counts are summed).
COUNTS = (
    "draws_judged",
    "habitual_judged",
    "flicks",
    "flick_requests",
    "flick_false_from_pump",
    "draws",
    "draws_detected",
    "draws_false",
)


def _job(args: tuple[str, str, int]) -> dict[str, Any]:
    logging.getLogger("zcw").setLevel(logging.CRITICAL)
    return run_week(*args)


def week_bench(
    houses: Sequence[str],
    strategies: Sequence[str],
    seeds: Sequence[int],
    *,
    progress: Console | None,
    workers: int = 2,
) -> dict[str, Any]:
    houses = list(dict.fromkeys(houses))
    jobs = [(h, s, seed) for h in houses for s in strategies for seed in seeds]
    results: list[dict[str, Any]] = []
    # Its exit ends the workers at once, also on an interrupt (hil.bench.pool).
    with worker_pool(workers) as pool:
        if progress is not None:
            with Progress(console=progress, transient=True) as bar:
                task = bar.add_task("simulating fortnights", total=len(jobs))
                for result in pool.imap(_job, jobs):
                    results.append(result)
                    bar.advance(task)
        else:
            results = list(pool.imap(_job, jobs))
    done = list(zip(jobs, results, strict=True))
    runs = []
    for house in houses:
        for strategy in strategies:
            mine = [r for (h, s, _), r in done if h == house and s == strategy]
            runs.append(
                {
                    "house": mine[0]["house"],
                    "strategy": strategy,
                    "seeds": [r["seed"] for r in mine],
                    "days": mine[0]["days"],
                    "learning_days": mine[0]["learning_days"],
                    "summary": _merge([r["summary"] for r in mine]),
                    "per_seed": [r["summary"] for r in mine],
                }
            )
    report: dict[str, Any] = finite({"scenario": "week", "runs": runs})
    return report


def _merge(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in summaries[0]:
        values = [s[key] for s in summaries if key in s]
        if key in COUNTS:
            out[key] = sum(values)
        else:
            out[key] = round(sum(values) / len(values), 3)
    return out


def render(report: dict[str, Any], console: Console) -> None:
    table = Table(title="a family's week (the second 7 of 14 days; zcw learned on the first 7)")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("house", "strategy") else "right")
    for run in report["runs"]:
        table.add_row(*cells(run))
    console.print(table)


def main(
    houses: Sequence[str],
    strategies: Sequence[str],
    seed: int,
    seeds: int,
    as_json: bool,
) -> int:
    houses = list(houses) or available_houses()
    strategies = list(strategies) or list(WEEK_STRATEGIES)
    unknown = [s for s in strategies if s not in WEEK_STRATEGIES]
    if unknown:
        Console(stderr=True).print(
            f"unknown week strategy {unknown[0]!r}; choose from {', '.join(WEEK_STRATEGIES)}"
        )
        return 2
    err = Console(stderr=True)
    try:
        report = week_bench(houses, strategies, range(seed, seed + seeds), progress=err)
    except KeyboardInterrupt:
        err.print("zcw bench: interrupted; its workers are stopped, and there is no table")
        return 1
    if as_json:
        print(json.dumps(report, allow_nan=False))
    else:
        out = Console()
        render(report, out if out.is_terminal else Console(width=140))
    return 0
