"""Run a simulated daemon (plus optional MQTT bridge) in a background event loop thread.

Tests and benchmark scripts talk to it from the outside, the way a user's tools would:
over MQTT, over the control socket, or by pressing the simulated bridge's buttons.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from zcw.app.daemon import Daemon, Status
from zcw.app.runner import tick_lockstep, tick_real
from zcw.app.sim import SimRig

T = TypeVar("T")


class LiveSim:
    """A :class:`SimRig` ticking at ``speed`` × real time in its own thread."""

    def __init__(self, rig: SimRig | Any, *, speed: float = 1.0) -> None:
        # A SimRig runs in lockstep with its stepped clock; anything else with a ``daemon``
        # (e.g. the emulated rig on a real pty) ticks in real time.
        self.rig = rig
        self.speed = speed
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="zcw-live", daemon=True)
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        self.statuses: list[Status] = []
        self._lock = threading.Lock()
        rig.daemon.observe(self._record)

    @property
    def daemon(self) -> Daemon:
        return self.rig.daemon

    def _record(self, status: Status) -> None:
        with self._lock:
            self.statuses.append(status)
            del self.statuses[:-2000]

    def __enter__(self) -> LiveSim:
        self._thread.start()

        async def setup() -> None:
            self._stop = asyncio.Event()
            if isinstance(self.rig, SimRig):
                ticker = tick_lockstep(self.daemon, self.rig.clock, self.speed, self._stop)
            else:
                ticker = tick_real(self.daemon, self._stop)
            self._tasks.append(asyncio.create_task(ticker))

        self.call(setup())
        return self

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        close: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """Run a coroutine (e.g. ``MqttBridge.run()``) in the live loop until exit.

        ``close`` is awaited at exit, after the relays are off and before tasks are cancelled,
        the way the real runner closes adapters.
        """
        if close is not None:
            self._closers.append(close)

        async def start() -> None:
            self._tasks.append(asyncio.create_task(coro))

        self.call(start())

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def do(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run a plain function in the loop thread (the daemon is not thread-safe)."""

        async def run() -> T:
            return fn()

        return self.call(run(), timeout_s)

    def events(self) -> list[str]:
        with self._lock:
            return [e.kind for s in self.statuses for e in s.events]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    def __exit__(self, *exc: object) -> None:
        async def teardown() -> None:
            assert self._stop is not None
            self._stop.set()
            await self._tasks[0]  # the ticker
            self.daemon.shutdown()
            for close in self._closers:
                await close()
            rest = self._tasks[1:]
            if rest:
                await asyncio.wait(rest, timeout=5.0)
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self.call(teardown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
