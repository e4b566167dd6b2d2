"""What the control socket's commands mean: status, start, stop, reset, mode, monitor,
history, and the run-time calendar (schedule, away).

Each command becomes a :class:`~zcw.domain.model.Request` from source ``cli``; the reply
carries the events that request caused on the next control tick, so `zcw start` can say
"already hot" or "rejected: rest" instead of just "ok".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from zcw.adapters.store import Store
from zcw.app.calendar_commands import CalendarCommands
from zcw.app.daemon import Daemon, Status
from zcw.app.learning import LearningBridge
from zcw.app.schedule_bridge import ScheduleBridge
from zcw.app.state_json import event_dict, status_dict
from zcw.domain.model import Request, Source

REPLY_TIMEOUT_S = 5.0


class ControlHandler:
    """Turns socket requests into daemon requests and waits for their feedback."""

    def __init__(
        self,
        daemon: Daemon,
        store: Store | None = None,
        schedule: ScheduleBridge | None = None,
        learning: LearningBridge | None = None,
    ) -> None:
        self._daemon = daemon
        self._store = store
        self._commands = CalendarCommands(schedule, learning)
        self._waiters: list[asyncio.Future[Status]] = []
        self._monitors: list[asyncio.Queue[Status]] = []
        daemon.observe(self._on_status)

    def _on_status(self, status: Status) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(status)
        for queue in self._monitors:
            if queue.qsize() < 100:
                queue.put_nowait(status)

    async def _next_status(self) -> Status:
        fut: asyncio.Future[Status] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return await asyncio.wait_for(fut, REPLY_TIMEOUT_S)

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        loop = req.get("loop")
        if loop is not None and not isinstance(loop, str):
            return {"ok": False, "error": "'loop' must be a string"}
        if cmd == "status":
            status = self._daemon.status or await self._next_status()
            return {"ok": True, "status": status_dict(status)}
        if cmd == "history":
            if self._store is None:
                return {"ok": False, "error": "this daemon runs without a history store"}
            cycles = [asdict(c) for c in self._store.cycles(limit=50)]
            return {"ok": True, "cycles": cycles, "faults": self._store.faults(limit=50)}
        if cmd == "learning":
            return self._learned(req)
        if cmd in ("schedule", "away"):
            return self._calendar(cmd, req)
        if cmd in ("start", "stop", "reset"):
            request = Request(cmd, Source.CLI, loop)
        elif cmd == "mode" and req.get("mode") in ("auto", "away"):
            request = Request("mode", Source.CLI, mode=req["mode"])
        else:
            return {
                "ok": False,
                "error": f"unknown command {cmd!r}; expected status, start, stop, reset, mode "
                "or history",
            }
        self._daemon.submit(request)
        status = await self._next_status()
        events = [event_dict(e) for e in status.events if e.source in (Source.CLI, None)]
        # A start is always answered, but maybe a tick or two later: the core holds one asked
        # before the loop's first reading for up to two sensor periods.
        deadline = asyncio.get_running_loop().time() + REPLY_TIMEOUT_S - 1.0
        while cmd == "start" and not events and asyncio.get_running_loop().time() < deadline:
            status = await self._next_status()
            events = [event_dict(e) for e in status.events if e.source is Source.CLI]
        return {"ok": True, "events": events, "status": status_dict(status)}

    def _calendar(self, cmd: str, req: dict[str, Any]) -> dict[str, Any]:
        """`zcw schedule …` and `zcw away …`: run-time edits, kept across restarts."""
        args = {k: str(v) for k, v in req.items() if k not in ("cmd", "op") and v is not None}
        return self._commands.calendar(cmd, str(req.get("op", "list")), args)

    def _learned(self, req: dict[str, Any]) -> dict[str, Any]:
        """`zcw schedule suggest` and `zcw schedule learned on|off|default`."""
        state = req.get("state")
        return self._commands.learned(str(req.get("op", "suggest")), str(state) if state else None)

    async def stream(self, req: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """`zcw monitor`: every event as it happens, and the state once a second."""
        queue: asyncio.Queue[Status] = asyncio.Queue()
        self._monitors.append(queue)
        loop = asyncio.get_running_loop()
        last_state = 0.0
        try:
            while True:
                status = await queue.get()
                for event in status.events:
                    yield {"event": event_dict(event)}
                if loop.time() - last_state >= 1.0:
                    last_state = loop.time()
                    yield {"status": status_dict(status)}
        finally:
            self._monitors.remove(queue)
