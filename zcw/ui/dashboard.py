"""The live rich dashboard of `zcw run`: loops, trends, relays, state, last cycle, faults.

It only observes :class:`~zcw.app.daemon.Status` and renders it; keys become requests
through a callback, so the dashboard never touches the controller.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from zcw.app.daemon import Status
from zcw.domain.model import Event
from zcw.ui.wording import NOT_COMMISSIONED

SPARK = "▁▂▃▄▅▆▇█"
TREND_POINTS = 40
KEY_HELP = "[s] start  [1-9] start loop N  [x] stop  [r] reset  [a] away/auto  [q] quit"


def sparkline(values: list[float], low: float, high: float) -> str:
    if not values:
        return ""
    span = max(high - low, 1e-6)
    out = []
    for v in values:
        idx = int((min(max(v, low), high) - low) / span * (len(SPARK) - 1))
        out.append(SPARK[idx])
    return "".join(out)


def _temp(value: float | None) -> str:
    return "—" if value is None else f"{value:5.1f} °C"


class Dashboard:
    """Keeps a little history for the trends and renders a rich renderable on demand."""

    def __init__(self, *, title: str, sim_info: Callable[[], str] | None = None) -> None:
        self.title = title
        self._sim_info = sim_info
        self._trends: dict[str, deque[float]] = {}
        self._events: deque[tuple[float, Event]] = deque(maxlen=6)
        self._last_trend_s: float | None = None
        self._t0_s: float | None = None  # times shown relative to the first status
        self.status: Status | None = None
        self.message = ""

    def update(self, status: Status) -> None:
        self.status = status
        snap = status.snapshot
        if self._t0_s is None:
            self._t0_s = snap.at_s
        for event in status.events:
            self._events.append((snap.at_s, event))
        # One trend point per second of (possibly simulated) time keeps the graph readable.
        if self._last_trend_s is None or snap.at_s - self._last_trend_s >= 1.0:
            self._last_trend_s = snap.at_s
            for name, view in snap.loops.items():
                if view.temp_c is not None:
                    self._trends.setdefault(name, deque(maxlen=TREND_POINTS)).append(view.temp_c)

    def render(self) -> Panel:
        status = self.status
        if status is None:
            return Panel(Text("starting…"), title=self.title)
        snap = status.snapshot
        loops = Table(expand=True, box=None)
        for col in ("loop", "temp", "water (est.)", f"trend ({TREND_POINTS} s)", "valve", "state"):
            loops.add_column(col)
        for i, (name, view) in enumerate(snap.loops.items(), start=1):
            trend = list(self._trends.get(name, ()))
            valve_open = status.confirmed.valves.get(name, False)
            loops.add_row(
                f"{i} {name}",
                _temp(view.temp_c),
                _temp(view.water_est_c),
                Text(sparkline(trend, 10.0, 60.0), style="cyan"),
                Text("OPEN", style="bold yellow") if valve_open else Text("closed", style="dim"),
                view.state,
            )
        state_style = {"heating": "bold yellow", "fault": "bold red", "away": "blue"}.get(
            snap.state, "green"
        )
        head = Text.assemble(
            ("state ", "dim"),
            (snap.state.upper(), state_style),
            ("  phase ", "dim"),
            str(snap.phase),
            ("  mode ", "dim"),
            snap.mode,
            ("  pump ", "dim"),
            ("ON", "bold yellow") if status.confirmed.pump else ("off", "dim"),
            ("  bridge ", "dim"),
            ("online", "green") if status.bridge_online else ("OFFLINE", "bold red"),
        )
        if snap.heater_out_c is not None:
            head.append(f"  heater out {snap.heater_out_c:.1f} °C", style="dim")
        last = snap.last_cycle
        if last is None:
            cycle = Text("last cycle: none yet", style="dim")
        else:
            tth = "—" if last.time_to_hot_s is None else f"{last.time_to_hot_s:.1f} s"
            vol = "—" if last.volume_l is None else f"{last.volume_l:.1f} L"
            cycle = Text(
                f"last cycle: {', '.join(last.loops)} via {last.source}: time to hot {tth}, "
                f"volume {vol}, outcome {last.outcome}"
            )
        parts: list[Table | Text | Panel] = [head, loops, cycle]
        raw = [name for name, value in snap.learned.items() if not value.commissioned]
        if raw:
            parts.append(Text(f"{', '.join(raw)}: {NOT_COMMISSIONED}", style="yellow"))
        if snap.faults:
            fault_lines = Text()
            for f in snap.faults:
                tag = "LATCHED " if f.latching else ""
                fault_lines.append(f"{tag}{f.code}: {f.message}\n", style="bold red")
                fault_lines.append(f"  → {f.hint}\n", style="red")
            parts.append(Panel(fault_lines, title="faults", border_style="red"))
        if self._events:
            log = Text()
            for at_s, e in self._events:
                extra = " ".join(str(x) for x in (e.loop, e.source, e.reason) if x is not None)
                data = " ".join(
                    f"{k}={v}" for k, v in e.data.items() if k not in ("message", "hint")
                )
                rel = at_s - (self._t0_s or 0.0)
                log.append(f"{rel:9.1f}s  {e.kind} {extra} {data}\n", style="dim")
            parts.append(log)
        footer = Text(KEY_HELP, style="bold")
        if self._sim_info is not None:
            footer.append("   " + self._sim_info(), style="dim")
        if self.message:
            footer.append("   " + self.message, style="magenta")
        parts.append(footer)
        return Panel(Group(*parts), title=self.title, border_style="blue")
