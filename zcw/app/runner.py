"""Run the daemon: pace the control tick, serve the control socket, show the dashboard or log.

Shutdown order matters (docs/safety.md, layer 4): the tick stops, the relays go OFF, and only
then does everything else close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import termios
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console

from zcw.adapters.control_socket import ControlServer
from zcw.adapters.systemd import SystemdNotifier
from zcw.app.clock import SteppedClock
from zcw.app.compose import Adapters
from zcw.app.control import ControlHandler
from zcw.app.daemon import Daemon, Observer, Status
from zcw.app.service import ServiceWatch
from zcw.config import Config
from zcw.domain.model import Request, Source
from zcw.errors import ControlSocketError

log = logging.getLogger("zcw")

TICK_S = 0.25
# A quiet daemon (``Daemon.quiet``: no cycle, every relay off, the bridge online) ticks this
# often instead. Its tick is what sends the bridge's heartbeat, and the link sends one every
# ``HEARTBEAT_S`` (0.5 s) whether the tick comes every 0.25 s or every 0.5 s, so the bridge's
# dead-man hears the host exactly as often as before. Nothing else at idle needs 0.25 s:
# readings arrive once a second, and a request or a button press wakes the tick at once.
IDLE_TICK_S = 0.5
# The integrations (MQTT, Mi Home, the schedules) start once the bridge has answered: their
# own start-up (connecting, python-miio's import: seconds on a Pi) then comes after READY
# instead of before it. A bridge that does not answer holds them back this long at most, so
# MQTT can still say what is wrong.
INTEGRATIONS_WAIT_S = 2.0
# Simulated time is advanced in frames of this much wall time.
FRAME_S = 0.05
# Never run more ticks than this per frame: if the simulation cannot keep up, slow down.
MAX_TICKS_PER_FRAME = 400


@dataclass
class Pacing:
    """Real time, or lockstep with a stepped clock at ``speed`` × real time."""

    clock: SteppedClock | None = None
    speed: float = 1.0


async def tick_real(daemon: Daemon, stop: asyncio.Event) -> None:
    """Tick every TICK_S (IDLE_TICK_S while the daemon is quiet), and at once whenever a
    request is submitted or a button pressed."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    daemon.on_submit = wake.set
    set_waker = getattr(daemon.hardware, "set_waker", None)
    if set_waker is not None:
        # A button press on the bridge wakes the tick at once (from the link's reader thread).
        set_waker(lambda: loop.call_soon_threadsafe(wake.set))
    # Stopping wakes the tick too, so each wait is for one event under a timeout: cheaper, tick
    # after tick, than racing two waiter tasks under wait_for.
    stopper = asyncio.create_task(_set_when(stop, wake))
    next_t = loop.time()
    try:
        while not stop.is_set():
            wake.clear()
            daemon.tick()
            step = IDLE_TICK_S if daemon.quiet else TICK_S
            now = loop.time()
            if next_t <= now:
                next_t += step
            # Woken early (a request) while the next tick was an idle step away: the request
            # may have started a cycle, which is ticked at full pace from now on.
            next_t = min(next_t, now + step)
            delay = next_t - now
            if delay < 0:
                next_t, delay = now + step, step
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
    finally:
        stopper.cancel()


async def _set_when(done: asyncio.Event, then: asyncio.Event) -> None:
    await done.wait()
    then.set()


async def tick_lockstep(
    daemon: Daemon, clock: SteppedClock, speed: float, stop: asyncio.Event
) -> None:
    """Advance simulated time at ``speed`` × wall time, one control tick per TICK_S of it."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    daemon.on_submit = wake.set
    wall0, sim0 = loop.time(), clock.now_s()
    warned = False
    while not stop.is_set():
        woken = wake.is_set()
        wake.clear()
        target = sim0 + speed * (loop.time() - wall0)
        n = 0
        while clock.now_s() + TICK_S <= target + 1e-9 and n < MAX_TICKS_PER_FRAME:
            clock.advance(TICK_S)
            daemon.tick()
            n += 1
        if n >= MAX_TICKS_PER_FRAME:
            wall0, sim0 = loop.time(), clock.now_s()  # fall back rather than spiral
            if not warned:
                log.warning(
                    "simulation cannot keep up with --speed %g; running as fast as it can", speed
                )
                warned = True
        elif n == 0 and woken:
            daemon.tick()  # a request arrived between frames: act on it without waiting
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_first(stop, wake), FRAME_S)


async def _first(*events: asyncio.Event) -> None:
    tasks = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


class _Keys:
    """Single-key input from the terminal while the dashboard shows (cbreak mode)."""

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self._fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)
        self._on_key = on_key

    def __enter__(self) -> _Keys:
        tty.setcbreak(self._fd)
        asyncio.get_running_loop().add_reader(self._fd, self._read)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.get_running_loop().remove_reader(self._fd)
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _read(self) -> None:
        data = os.read(self._fd, 32).decode(errors="ignore")
        for ch in data:
            self._on_key(ch)


def key_to_request(ch: str, daemon: Daemon) -> Request | None:
    """Dashboard keys → requests (source ``dashboard``). Returns None for unknown keys."""
    loops = daemon.wiring.params.loop_names
    if ch in ("s", "\n", " "):
        return Request("start", Source.DASHBOARD)
    if ch.isdigit() and 1 <= int(ch) <= len(loops):
        return Request("start", Source.DASHBOARD, loops[int(ch) - 1])
    if ch == "x":
        return Request("stop", Source.DASHBOARD)
    if ch == "r":
        return Request("reset", Source.DASHBOARD)
    if ch == "a":
        if daemon.controller.mode == "away":
            return Request("mode", Source.DASHBOARD, mode="auto")
        return Request("mode", Source.DASHBOARD, mode="away")
    return None


async def serve(
    daemon: Daemon,
    cfg: Config,
    *,
    pacing: Pacing,
    title: str,
    interactive: bool,
    console: Console | None = None,
    stop: asyncio.Event | None = None,
    observers: Sequence[Observer] = (),
    adapters: Adapters | None = None,
) -> int:
    """Run until SIGINT/SIGTERM, 'q' on the dashboard, or ``stop`` is set. Returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for observer in observers:
        daemon.observe(observer)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    adapters = adapters or Adapters()
    service = ServiceWatch(SystemdNotifier())
    if service.notifier.active:
        daemon.observe(service)
    handler = ControlHandler(daemon, adapters.store, adapters.schedule, adapters.learning)
    server = ControlServer(cfg.socket_path, handler.handle, handler.stream)
    try:
        await server.start()
        log.info("control socket at %s", server.path)
    except (ControlSocketError, OSError) as exc:
        # Local control still works from the dashboard and the buttons; say so and go on.
        log.error("control socket unavailable: %s", exc)

    if pacing.clock is not None:
        ticker = tick_lockstep(daemon, pacing.clock, pacing.speed, stop)
    else:
        ticker = tick_real(daemon, stop)
    task = asyncio.create_task(ticker)
    background: list[asyncio.Task[None]] = []
    online = asyncio.Event()
    daemon.observe(lambda status: online.set() if status.bridge_online else None)

    async def start_integrations() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(online.wait(), INTEGRATIONS_WAIT_S)
        background.extend(asyncio.create_task(run()) for run in adapters.tasks)

    starter = asyncio.create_task(start_integrations())
    try:
        if interactive:
            await _dashboard(daemon, stop, pacing, title, console or Console())
        else:
            _log_state_changes(daemon)
            await stop.wait()
    finally:
        service.stopping()
        stop.set()
        starter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        daemon.shutdown()  # relays OFF first
        for close in adapters.closers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close(), 5.0)
        if background:
            await asyncio.wait(background, timeout=5.0)
        for bg in background:
            bg.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if adapters.store is not None:
            adapters.store.close()
        await server.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if task.done() and not task.cancelled() and task.exception() is not None:
        log.error("control loop crashed: %s", task.exception())
        return 1
    return 0


def _log_state_changes(daemon: Daemon) -> None:
    last: list[str] = [""]

    def observe(status: Status) -> None:
        snap = status.snapshot
        temps = ", ".join(
            f"{n}={'—' if v.temp_c is None else f'{v.temp_c:.1f}'}°C" for n, v in snap.loops.items()
        )
        line = f"state={snap.state} pump={'on' if status.confirmed.pump else 'off'}"
        if line != last[0]:
            last[0] = line
            log.info("%s %s", line, temps)

    daemon.observe(observe)


async def _dashboard(
    daemon: Daemon, stop: asyncio.Event, pacing: Pacing, title: str, console: Console
) -> None:
    # Here, not at the top: `zcw run` under systemd never shows the dashboard, and what it
    # does not import it does not spend start-up CPU on.
    from rich.live import Live

    from zcw.ui.dashboard import Dashboard

    def sim_info() -> str:
        return f"sim t={daemon.clock.now_s():.0f} s at {pacing.speed:g}×"

    dash = Dashboard(title=title, sim_info=sim_info if pacing.clock is not None else None)
    daemon.observe(dash.update)

    def on_key(ch: str) -> None:
        if ch in ("q", "\x03"):
            stop.set()
            return
        request = key_to_request(ch, daemon)
        if request is not None:
            daemon.submit(request)
            dash.message = f"{request.action} {request.loop or request.mode or ''}".strip()

    # Logs would tear the live display: keep only warnings, printed above it by rich.
    with (
        Live(dash.render(), console=console, refresh_per_second=4, screen=False) as live,
        _Keys(on_key),
    ):
        while not stop.is_set():
            live.update(dash.render())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
        live.update(dash.render())
