"""`zcw bench`: run the strategies on the houses and print the §6 table or JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hil.bench.runner import merge_runs, run_day, summarise
from hil.bench.strategies import STRATEGIES
from hil.house import available_houses


def _job(args: tuple[str, str, int, int]) -> dict[str, Any]:
    logging.getLogger("zcw").setLevel(logging.CRITICAL)  # the daemon's own logs are noise here
    return run_day(*args)


def bench(
    houses: Sequence[str],
    strategies: Sequence[str],
    seeds: Sequence[int],
    *,
    progress: Console | None,
    workers: int = 2,
    learning_days: int = 1,
) -> dict[str, Any]:
    houses = list(dict.fromkeys(houses))  # a house named twice is still one house's row
    names = list(strategies)
    if "oracle" not in names:
        names.append("oracle")  # every ratio is over the oracle
    jobs = [(h, s, seed, learning_days) for h in houses for s in names for seed in seeds]
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        if progress is not None:
            with Progress(console=progress, transient=True) as bar:
                task = bar.add_task("simulating days", total=len(jobs))
                for result in pool.map(_job, jobs):
                    results.append(result)
                    bar.advance(task)
        else:
            results = list(pool.map(_job, jobs))
    # Group by the job each result came from (map keeps the order), not by the house name the
    # result carries: a house file's name need not match its path, nor differ from the others'.
    done = list(zip(jobs, results, strict=True))
    runs = []
    for house in houses:
        by_strategy = {
            s: merge_runs([r for (h, js, _, _), r in done if h == house and js == s]) for s in names
        }
        oracle = by_strategy["oracle"]
        for s in strategies:
            run = by_strategy[s]
            run["summary"] = summarise(run, oracle)
            runs.append(run)
    return {"runs": runs}


def render(report: dict[str, Any], console: Console) -> None:
    table = Table(title="zcw bench (ratios over the oracle, event by event)")
    for col in (
        "house",
        "strategy",
        "latency mean",
        "latency max",
        "energy",
        "hot→cold L",
        "peak °C",
        "violations",
        "failed",
        "events",
    ):
        table.add_column(col, justify="right" if col not in ("house", "strategy") else "left")
    for run in report["runs"]:
        s = run["summary"]
        table.add_row(
            run["house"],
            run["strategy"],
            str(s["latency_ratio_mean"]),
            str(s["latency_ratio_max"]),
            str(s["energy_ratio"]),
            str(s["hot_into_cold_l_total"]),
            str(s["cold_line_peak_max_c"]),
            str(s["violations"]),
            str(s["failed_events"]),
            str(s["events"]),
        )
    console.print(table)


def main(
    houses: Sequence[str],
    strategies: Sequence[str],
    seed: int,
    seeds: int,
    as_json: bool,
    learning_days: int = 1,
) -> int:
    houses = list(houses) or available_houses()
    strategies = list(strategies) or list(STRATEGIES)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        Console(stderr=True).print(
            f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}"
        )
        return 2
    err = Console(stderr=True)
    report = bench(
        houses,
        strategies,
        range(seed, seed + seeds),
        progress=err,
        learning_days=learning_days,
    )
    if as_json:
        print(json.dumps(report))
    else:
        out = Console()
        render(report, out if out.is_terminal else Console(width=120))
    return 0
