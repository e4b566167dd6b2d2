"""The daemon as a systemd service (docs/safety.md, layer 4): ready, alive, stopping.

- ``READY=1`` once the control tick runs and the bridge is online, or after
  ``READY_ANYWAY_S`` without it: a Pico left unplugged must show as a running service that
  says what is wrong, not as a start that times out and restarts for ever.
- ``WATCHDOG=1`` only from a healthy control tick, every half of ``WatchdogSec``: a tick that
  hangs or keeps failing stops feeding it, and systemd restarts the daemon (the bridge's
  dead-man has turned the relays off by then).
- ``STATUS=`` one line of state, on change. ``STOPPING=1`` when shutdown begins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from zcw.adapters.systemd import SystemdNotifier
from zcw.app.daemon import Status

READY_ANYWAY_S = 30.0
# Ticks come on a grid, each a little late, so two can be a hair less than the grid step
# apart: without this slack a feed due every half period, with an idle daemon ticking at that
# very step (runner.IDLE_TICK_S, a WatchdogSec of 1 s), would go out only every other tick.
FEED_SLACK_S = 0.1


def status_line(status: Status) -> str:
    """The one-line state `systemctl status zcw` shows."""
    snap = status.snapshot
    parts: list[str] = [snap.state]
    if snap.fault is not None:
        parts.append(f"{snap.fault.code}: {snap.fault.message}")
    elif not status.bridge_online:
        parts.append(f"bridge offline ({status.bridge_detail})")
    else:
        heating = [n for n, v in snap.loops.items() if v.state == "heating"]
        if heating:
            parts.append("heating " + ", ".join(heating))
    return " - ".join(parts)


class ServiceWatch:
    """Observer of every :class:`Status`; speaks to systemd through a notifier."""

    def __init__(
        self, notifier: SystemdNotifier, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.notifier = notifier
        self._clock = clock
        self._started = clock()
        self._ready = False
        self._last_feed: float | None = None
        self._last_line = ""

    def __repr__(self) -> str:
        return f"ServiceWatch(ready={self._ready}, {self.notifier!r})"

    def __call__(self, status: Status) -> None:
        now = self._clock()
        line = status_line(status)
        if not self._ready and (status.bridge_online or now - self._started >= READY_ANYWAY_S):
            self._ready = True
            self.notifier.send("READY=1", f"STATUS={line}")
            self._last_line = line
        elif line != self._last_line:
            self._last_line = line
            self.notifier.send(f"STATUS={line}")
        period = self.notifier.watchdog_s
        due = period is not None and (
            self._last_feed is None or now - self._last_feed >= period / 2 - FEED_SLACK_S
        )
        if self._ready and status.healthy and due:
            self._last_feed = now
            self.notifier.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.notifier.send("STOPPING=1", "STATUS=stopping: relays off first")
