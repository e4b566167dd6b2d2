"""``python -m hil.soak --days N --seed S [--json]``: the whole daemon, every trigger and every
fault at once, for N simulated days (see ``hil/soak/soak.py`` for what runs on which clock).

Exit status 0 when nothing broke (no invariant violated on the emulated Pico's relay record,
no request unanswered, no unhandled exception, RSS growth under 1 MB per simulated day, flat
file descriptors and threads, an intact database), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hil.soak.soak import Options, run


def verdict(s: dict[str, Any]) -> list[str]:
    """What in a summary fails the acceptance (empty: it passed)."""
    out = []
    if s["invariant_violations"]:
        out.append(f"{s['invariant_violations']} invariant violations {s['violations_by_rule']}")
    if s["unanswered_requests"] or s.get("answers_without_request"):
        out.append(
            f"{s['unanswered_requests']} unanswered requests, "
            f"{s.get('answers_without_request')} answers without a request"
        )
    if s["unhandled_exceptions"]:
        out.append(f"{s['unhandled_exceptions']} unhandled exceptions")
    if s["days"] >= 2 and s["rss_growth_mb_per_day"] >= 1.0:
        out.append(f"RSS grows {s['rss_growth_mb_per_day']} MB per day")
    if s["days"] >= 2 and (abs(s["fd_growth"]) >= 1.0 or abs(s["thread_growth"]) >= 1.0):
        out.append(f"fds grow {s['fd_growth']}/day, threads {s['thread_growth']}/day")
    if s.get("db_integrity") != "ok":
        out.append(f"database integrity: {s.get('db_integrity')}")
    if s.get("cycles_unended") or s.get("cycles_overlong"):
        out.append(f"cycles unended {s.get('cycles_unended')}, overlong {s.get('cycles_overlong')}")
    if s.get("fault_ledger_mismatches"):
        out.append(f"{s['fault_ledger_mismatches']} fault ledger mismatches")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.soak", description=__doc__)
    ap.add_argument("--days", type=float, default=1.0, help="simulated days (default 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--house", default="H4", help="simulated house (default H4: two taps)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--workdir", type=Path, help="keep the config, database and log here")
    ap.add_argument(
        "--rate-scale", type=float, default=1.0, help="× every trigger and fault rate (0: none)"
    )
    ap.add_argument("--progress", action="store_true", help="a line per simulated hour on stderr")
    args = ap.parse_args()
    try:
        summary = run(
            Options(
                days=args.days,
                seed=args.seed,
                house=args.house,
                workdir=args.workdir,
                progress=args.progress,
                rate_scale=args.rate_scale,
            )
        )
    except KeyboardInterrupt:
        print("soak interrupted: no summary (SIGUSR1 ends a soak early with one)", file=sys.stderr)
        return 130
    failed = verdict(summary)
    summary["verdict"] = "fail: " + "; ".join(failed) if failed else "pass"
    if args.json:
        print(json.dumps(summary, indent=2, allow_nan=False))
    else:
        keys = (
            "days", "seed", "invariant_violations", "unanswered_requests", "unhandled_exceptions",
            "rss_growth_mb_per_day", "fd_growth", "thread_growth", "db_growth_mb_per_day",
            "requests_by_source", "faults_injected", "cycles_finished", "wall_s", "verdict",
        )  # fmt: skip
        for key in keys:
            print(f"{key}: {summary.get(key)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
