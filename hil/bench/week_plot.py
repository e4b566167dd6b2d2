"""Plot one measured day of the week bench: the water at the tap, the pump, and the draws.

``python -m hil.bench.week_plot --house R0 --seed 0 --day 8 --out docs/learning-day.png``
(needs matplotlib, a dev extra).
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from hil.bench.week import DAY_S, READY_C, START, run_week


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--house", default="R0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--day", type=int, default=8, help="day index (7-13 are measured)")
    p.add_argument("--out", default="docs/learning-day.png")
    args = p.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = run_week(args.house, "learned", args.seed, trace_day=args.day)
    trace = run["trace"]
    loops = list(trace[0][1])
    hours = [(t - args.day * DAY_S) / 3600.0 for t, _, _ in trace]
    fig, (ax, pump_ax) = plt.subplots(
        2, 1, figsize=(11, 5), sharex=True, gridspec_kw={"height_ratios": [4, 1]}
    )
    for loop in loops:
        ax.plot(hours, [w[loop] for _, w, _ in trace], lw=0.8, label=f"water at the {loop} tap")
    ax.axhline(READY_C, color="grey", ls="--", lw=0.8, label=f"ready_c {READY_C:g} °C")
    for d in run["draws"]:
        if d["day"] != args.day:
            continue
        h = (d["at_s"] - args.day * DAY_S) / 3600.0
        hot = d["hot"]
        ax.plot(
            h,
            READY_C + 4,
            marker="v" if hot else "x",
            ms=9,
            color="tab:red" if hot else "k",
        )
        ax.annotate(
            f"{d['kind']}{'' if hot else ' (cold)'}", (h, READY_C + 5), fontsize=7, rotation=60
        )
    ax.set_ylabel("°C")
    day = START + timedelta(days=args.day)
    ax.set_title(
        f"{run['house']} seed {args.seed}, {day:%A %Y-%m-%d} (learned from days 1-7): "
        "▼ hot within 2 s, × cold"
    )
    ax.legend(loc="upper right", fontsize=8)
    pump_ax.fill_between(hours, [1 if p else 0 for _, _, p in trace], step="post", color="tab:blue")
    pump_ax.set_ylabel("pump")
    pump_ax.set_yticks([])
    pump_ax.set_xlabel("hour of the day")
    pump_ax.set_xlim(0, 24)
    pump_ax.set_xticks(range(0, 25, 2))
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
