"""Turn `zcw bench --json` into the Markdown of docs/benchmark.md: the results table and
every missed event (docs/benchmark-misses.md), so both are made from one run, not by hand.

    zcw bench --seeds 20 --strategy zcw --json --house … > bench.json
    python -m hil.bench.report bench.json --table          # the table's rows
    python -m hil.bench.report bench.json --misses > docs/benchmark-misses.md

A *miss* is an event whose water never reached ready_c (``cold``, ``refused``) or, in
crossover, one that pushed water at or over 38 °C into the cold line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def seeded_events(run: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The run's events with their seed: the runs' days follow one another in seed order,
    and each day's events in time, so a new day begins where the time of day goes back."""
    seeds: Sequence[int] = run["seeds"]
    day, last = 0, -1.0
    for event in run["events"]:
        if event["at_s"] < last:
            day += 1
        last = event["at_s"]
        yield seeds[day], event


def is_miss(event: dict[str, Any], topology: str) -> bool:
    cold = event["outcome"] in ("cold", "refused")
    return cold or (topology == "crossover" and event["hot_into_cold_l"] > 0)


def kind(summary: dict[str, Any]) -> str:
    topology = str(summary["topology"])
    return f"{topology}, warned" if summary.get("warnings") else topology


def goals_met(s: dict[str, Any]) -> bool:
    """The goals of docs/benchmark.md for the install's kind."""
    latency = s["latency_ratio_mean"] is not None and s["latency_ratio_mean"] <= 1.05
    latency = latency and s["latency_ratio_p95"] <= 1.15
    energy = s["energy_ratio"] is not None and s["energy_ratio"] <= 1.10
    if s["topology"] != "crossover":
        return latency and energy and s["hot_l_per_event"] <= 0.2
    peak = s["cold_line_peak_max_c"]
    if s.get("warnings"):
        return s["hot_over_limit_l_per_100"] <= 1.0 and (peak is None or peak <= 40.0)
    failed = s["failed_events"] <= 0.01 * s["events"]
    clean = s["violations"] == 0 and s["hot_over_limit_l_per_100"] <= 0.05
    return latency and energy and failed and clean


def _or_dash(value: object) -> object:
    """A figure, or – where there is none (no event got hot, no cold-line probe)."""
    return "–" if value is None else value


def table(runs: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        "| house | kind | latency mean / p95 | energy | failed | violations (> 38.5 °C) "
        "| cold-line peak °C | L ≥ 38 °C per 100 | goals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        s = run["summary"]
        peak, mean, p95 = (
            _or_dash(s[key])
            for key in ("cold_line_peak_max_c", "latency_ratio_mean", "latency_ratio_p95")
        )
        rows.append(
            f"| {run['house']} | {kind(s)} | {mean} / {p95} | {s['energy_ratio']} | "
            f"{s['failed_events']} of "
            f"{s['events']} | {s['violations']} | {peak} | {s['hot_over_limit_l_per_100']} | "
            f"{'**met**' if goals_met(s) else 'missed'} |"
        )
    return rows


def misses(runs: Sequence[dict[str, Any]], title: str) -> list[str]:
    out = [
        f"# {title}",
        "",
        "Made by `python -m hil.bench.report FILE --misses` from the JSON of the second command "
        "of [benchmark.md](benchmark.md). Per event: seed, loop, the time of day the trigger "
        "came, the outcome, when the water at the valve reached ready_c (36 °C; never for a "
        "failed event), when the pump stopped (both from the trigger), the cold-line peak and "
        "the litres at or over 38 °C pushed into the cold line.",
    ]
    for run in runs:
        topology = str(run["summary"]["topology"])
        missed = [(seed, e) for seed, e in seeded_events(run) if is_miss(e, topology)]
        if not missed:
            continue
        out += ["", f"#### {run['house']} ({len(missed)})", ""]
        for seed, e in missed:
            where = f"- seed {seed}, {e['loop']}, {e['at_s'] / 3600:.2f} h"
            if e["outcome"] == "refused":
                out.append(f"{where}: refused; no cycle ran")
                continue
            hot = "never" if e["hot_at_valve_s"] is None else f"{e['hot_at_valve_s']} s"
            peak = "–" if e["cold_line_peak_c"] is None else f"{e['cold_line_peak_c']} °C"
            out.append(
                f"{where}: {e['outcome']}; "
                f"hot at the valve {hot}, stop {e['stop_s']} s, cold-line peak {peak}, "
                f"{e['hot_into_cold_l']} L ≥ 38 °C"
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.bench.report", description=__doc__)
    ap.add_argument("file", type=Path, help="the output of `zcw bench --json`")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--table", action="store_true", help="the results table's rows")
    what.add_argument("--misses", action="store_true", help="every missed event")
    ap.add_argument("--title", default="Every event that missed its goal (zcw bench)")
    args = ap.parse_args(argv)
    runs = [r for r in _strict(args.file.read_text())["runs"] if r["strategy"] == "zcw"]
    lines = table(runs) if args.table else misses(runs, args.title)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
