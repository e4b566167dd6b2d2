"""`zcw bench`: run the strategies on the houses and print the §6 table or JSON.

The JSON is strict: every figure is a number or null (``json.dumps(..., allow_nan=False)``),
so it parses with a ``parse_constant`` that rejects ``Infinity`` and ``NaN``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hil.bench.pool import worker_pool
from hil.bench.runner import merge_runs, run_day, summarise
from hil.bench.strategies import STRATEGIES
from hil.house import available_houses, load_house
from hil.house_config import house_warnings

Job = tuple[str, str, int, int, bool]


def _job(indexed: tuple[int, Job]) -> tuple[int, dict[str, Any]]:
    logging.getLogger("zcw").setLevel(logging.CRITICAL)  # the daemon's own logs are noise here
    index, args = indexed
    return index, run_day(*args)


def _run_jobs(jobs: list[Job], workers: int, progress: Console | None) -> list[dict[str, Any]]:
    """Every job's result, in the jobs' order, with progress from the first second. An
    interrupt ends the workers at once (hil.bench.pool) and is raised here."""
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    with worker_pool(workers) as pool:
        done = pool.imap_unordered(_job, enumerate(jobs))
        if progress is None:
            for index, result in done:
                results[index] = result
        else:
            _follow(done, results, progress, workers)
    return [r for r in results if r is not None]


def _follow(
    done: Iterator[tuple[int, dict[str, Any]]],
    results: list[dict[str, Any] | None],
    out: Console,
    workers: int,
) -> None:
    total = len(results)
    out.print(f"zcw bench: {total} simulated days on {workers} workers…", highlight=False)
    if not out.is_terminal:  # a plain line every ~10 %, since no bar is drawn
        step, started = max(total // 10, 1), time.monotonic()
        for count, (index, result) in enumerate(done, 1):
            results[index] = result
            if count % step == 0 or count == total:
                elapsed = time.monotonic() - started
                out.print(f"  {count}/{total} days ({elapsed:.0f} s)", highlight=False)
        return
    columns = (
        TextColumn("simulating days"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task("days", total=total)
        for index, result in done:
            results[index] = result
            bar.advance(task)


def bench(
    houses: Sequence[str],
    strategies: Sequence[str],
    seeds: Sequence[int],
    *,
    progress: Console | None,
    workers: int = 2,
    learning_days: int = 1,
    commission: bool = True,
) -> dict[str, Any]:
    houses = list(dict.fromkeys(houses))  # a house named twice is still one house's row
    names = list(strategies)
    if "oracle" not in names:
        names.append("oracle")  # every ratio is over the oracle
    jobs = [
        (h, s, seed, learning_days, commission) for h in houses for s in names for seed in seeds
    ]
    results = _run_jobs(jobs, workers, progress)
    # Group by the job each result came from, not by the house name the result carries: a
    # house file's name need not match its path, nor differ from the others'.
    done = list(zip(jobs, results, strict=True))
    runs = []
    for house in houses:
        spec = load_house(house)
        by_strategy = {
            s: merge_runs([r for (h, js, *_), r in done if h == house and js == s]) for s in names
        }
        oracle = by_strategy["oracle"]
        warnings = house_warnings(spec)
        for s in strategies:
            run = by_strategy[s]
            run["summary"] = summarise(
                run, oracle, topology=spec.topology, warnings=warnings if s == "zcw" else ()
            )
            runs.append(run)
    return {"runs": runs}


COLUMNS = (
    ("latency mean", "latency_ratio_mean"),
    ("latency p95", "latency_ratio_p95"),
    ("latency max", "latency_ratio_max"),
    ("energy", "energy_ratio"),
    ("hot→cold L", "hot_into_cold_l_total"),
    ("L/100 ev", "hot_over_limit_l_per_100"),
    ("peak °C", "cold_line_peak_max_c"),
    ("violations", "violations"),
    ("failed", "failed_events"),
    ("events", "events"),
)


def _cell(value: Any) -> str:
    """A figure for the table: a dash where there is none (no cold line, nothing hot)."""
    return "–" if value is None else str(value)


def render(report: dict[str, Any], console: Console) -> None:
    table = Table(title="zcw bench (ratios over the oracle, event by event)")
    table.add_column("house")
    table.add_column("strategy")
    for title, _ in COLUMNS:
        table.add_column(title, justify="right")
    for run in report["runs"]:
        s = run["summary"]
        table.add_row(run["house"], run["strategy"], *(_cell(s[key]) for _, key in COLUMNS))
    console.print(table)
    for run in report["runs"]:
        for warning in run["summary"].get("warnings", []):
            console.print(f"[yellow]{run['house']}: config warning:[/] {warning}", highlight=False)


def to_json(report: dict[str, Any]) -> str:
    """The report as strict JSON: a NaN or an infinity anywhere is a bug, not a figure."""
    return json.dumps(report, allow_nan=False)


def main(
    houses: Sequence[str],
    strategies: Sequence[str],
    seed: int,
    seeds: int,
    as_json: bool,
    learning_days: int = 1,
    commission: bool = True,
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
    try:
        report = bench(
            houses,
            strategies,
            range(seed, seed + seeds),
            progress=err,
            learning_days=learning_days,
            commission=commission,
        )
    except KeyboardInterrupt:
        err.print("zcw bench: interrupted; its workers are stopped, and there is no table")
        return 1
    if as_json:
        print(to_json(report))
    else:
        out = Console()
        render(report, out if out.is_terminal else Console(width=120))
    return 0
