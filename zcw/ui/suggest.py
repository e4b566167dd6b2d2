"""`zcw schedule suggest`: the learned plan as a table with its confidence, and a heat map."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Draws per day in one hour → a shade, lightest to darkest.
SHADES = (" ", "░", "▒", "▓", "█")
STEPS = (0.05, 0.2, 0.45, 0.75)


def shade(rate: float) -> str:
    for i, step in enumerate(STEPS):
        if rate < step:
            return SHADES[i]
    return SHADES[-1]


def render_suggestion(reply: dict[str, Any], out: Console) -> None:
    mode = reply["mode"]
    source = "run-time choice" if reply.get("runtime") is not None else "config file"
    out.print(
        f"learning: mode [bold]{mode}[/] ({source}), {reply['draws_seen']} draws learned, "
        f"time zone {reply['timezone']}",
        highlight=False,
    )
    if reply.get("tapflick"):
        out.print(f"tap-flick on: {', '.join(reply['tapflick'])}", highlight=False)
    if reply.get("holidays"):
        out.print(f"holidays (planned as rest days): {', '.join(reply['holidays'])}")
    table = Table(title="learned plan (hot from the window's start; kept hot inside it)")
    for col in ("day kind", "loop", "from", "to", "confidence", "draws", "last seen"):
        table.add_column(col, justify="right" if col in ("confidence", "draws") else "left")
    rows = 0
    for kind, data in reply["kinds"].items():
        for w in data["windows"]:
            table.add_row(
                kind,
                w["loop"],
                w["from"],
                w["to"],
                f"{w['confidence'] * 100:.0f} %",
                f"{w['draws']:.1f}",
                w["last_used"],
            )
            rows += 1
    if rows:
        out.print(table)
    else:
        out.print("no habit learned yet: zcw needs to see a draw twice at about the same time")
    for loop, lead in reply.get("lead_s", {}).items():
        out.print(f"pre-heat lead for {loop}: {lead} s (its time-to-hot)", highlight=False)
    out.print("draws per day, by hour (░ ≥ 0.05, ▒ ≥ 0.2, ▓ ≥ 0.45, █ ≥ 0.75):")
    out.print("                      " + "".join(f"{h:<3d}" for h in range(0, 24, 3)))
    for kind, data in reply["kinds"].items():
        days = data["days_watched"]
        for loop, hourly in data["hourly"].items():
            line = Text(f"{kind:<9} {loop:<11} |")
            line.append("".join(shade(r) for r in hourly), style="red")
            line.append(f"|  {days:.1f} days watched")
            out.print(line)
