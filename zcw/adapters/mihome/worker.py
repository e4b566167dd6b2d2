"""One thread per device: its blocking calls run there, one at a time, in the order submitted.

A call's outcome (its result or the exception it raised) is handed to the event loop with
``call_soon_threadsafe``, so results reach the loop in exactly the order the calls ran: a
poll that ran before a switch command is always delivered before that command's result.
Nothing else is done in the thread, and nothing in it touches the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

Done = Callable[[Any], None]


class DeviceWorker:
    """A daemon thread with a job queue; ``submit`` never blocks the caller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Done] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"zcw-{name}", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"DeviceWorker({self.name!r}, alive={self._thread.is_alive()})"

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if not self._thread.is_alive():
            self._thread.start()

    def submit(self, call: Callable[[], Any], done: Done) -> None:
        """Run ``call`` in the thread; ``done(result or exception)`` runs in the event loop."""
        self._jobs.put((call, done))

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            call, done = job
            outcome: Any
            try:
                outcome = call()
            except Exception as exc:  # handed to the loop, which decides what it means
                outcome = exc
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed under us: shutdown
                    loop.call_soon_threadsafe(done, outcome)

    async def close(self, timeout_s: float) -> bool:
        """Let the queued calls (e.g. a last switch-off) finish, then end the thread.

        Returns False if they did not finish within ``timeout_s``; the thread is a daemon
        thread, so it cannot keep the process alive either way.
        """
        self._jobs.put(None)
        if not self._thread.is_alive():
            return True
        await asyncio.to_thread(self._thread.join, timeout_s)
        return not self._thread.is_alive()
