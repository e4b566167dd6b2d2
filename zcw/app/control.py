"""What the control socket's commands mean: status, start, stop, reset, mode, monitor,
commission, history, and the run-time calendar (schedule, away).

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
from zcw.domain.commission import WATCH_S
from zcw.domain.learning import Learned
from zcw.domain.model import Event, Request, Source

REPLY_TIMEOUT_S = 5.0
# `zcw commission` reports the loop's reading this often while it watches.
PROGRESS_EVERY_S = 5.0
# After the cycle, the sensor is watched WATCH_S; give up on a result this much later.
COMMISSION_GRACE_S = 30.0


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
        """`zcw monitor` (every event and the state once a second) or `zcw commission`."""
        if req.get("cmd") == "commission":
            async for item in self._commission(req):
                yield item
            return
        async for item in self._monitor():
            yield item

    async def _commission(self, req: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Run a commissioning cycle and report it: its events, the loop's reading every
        few seconds, then ``done`` with what was measured (or why nothing was)."""
        params = self._daemon.controller.params
        loop = req.get("loop") or params.default_loop
        if not isinstance(loop, str) or loop not in params.loop_names:
            names = ", ".join(params.loop_names)
            yield {"done": True, "ok": False, "error": f"no loop {loop!r}; the loops: {names}"}
            return
        before = self._daemon.controller.learned.get(loop)
        lp = params.loop(loop)
        guarded = lp.has_cold_sensor and params.topology == "crossover"
        watch = _CommissionWatch(loop, before, lp.max_run_s, guarded)
        queue: asyncio.Queue[Status] = asyncio.Queue()
        self._monitors.append(queue)
        try:
            self._daemon.submit(Request("commission", Source.CLI, loop))
            while not watch.done:
                for item in watch.see(await queue.get()):
                    yield item
        finally:
            self._monitors.remove(queue)

    async def _monitor(self) -> AsyncIterator[dict[str, Any]]:
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


class _CommissionWatch:
    """Follows one commissioning cycle through the statuses the daemon publishes."""

    def __init__(self, loop: str, before: Learned | None, max_run_s: float, guarded: bool) -> None:
        self.loop = loop
        self.guarded = guarded
        self.before = before
        self.done = False
        self._limit_s = max_run_s + WATCH_S + COMMISSION_GRACE_S
        self._started_s: float | None = None
        self._stopped_s: float | None = None
        self._shown_s: float | None = None

    def see(self, status: Status) -> list[dict[str, Any]]:
        snap = status.snapshot
        out = [{"event": event_dict(e)} for e in status.events if self._ours(e)]
        for e in status.events:
            if not self._ours(e):
                continue
            if e.kind == "cycle_started":
                self._started_s = snap.at_s
            elif e.kind == "hot_ready":
                self._stopped_s = snap.at_s
            elif e.kind in ("rejected", "cycle_aborted", "cycle_stopped"):
                end = self._end(False, e.reason or e.kind)
                # What the client needs for its closing sentence: whether the cycle never
                # began (nothing was disturbed) and, for the pump's rest, for how long.
                end.update(refused=e.kind == "rejected", retry_in_s=e.data.get("retry_in_s"))
                return [*out, end]
        learned = snap.learned.get(self.loop)
        if learned is not None and learned.commissioned and learned != self.before:
            return [*out, self._end(True, None, learned)]
        if self._started_s is not None and snap.at_s - self._started_s > self._limit_s:
            return [*out, self._end(False, "no_result")]
        if self._shown_s is None or snap.at_s - self._shown_s >= PROGRESS_EVERY_S:
            self._shown_s = snap.at_s
            out.append({"progress": self._progress(status)})
        return out

    def _ours(self, event: Event) -> bool:
        mine = event.loop in (self.loop, None) and event.source in (Source.CLI, None)
        return mine and event.kind not in ("fault_cleared",)

    def _progress(self, status: Status) -> dict[str, Any]:
        snap = status.snapshot
        view = snap.loops.get(self.loop)
        since = self._stopped_s if self._stopped_s is not None else self._started_s
        return {
            "phase": "watching the sensor settle"
            if self._stopped_s is not None
            else str(snap.phase),
            "temp_c": None if view is None else view.temp_c,
            "pump": status.confirmed.pump,
            "for_s": None if since is None else round(snap.at_s - since, 1),
        }

    def _end(self, ok: bool, why: str | None, learned: Learned | None = None) -> dict[str, Any]:
        self.done = True
        result = None if learned is None else learned.summary()
        return {
            "done": True,
            "ok": ok,
            "reason": why,
            "loop": self.loop,
            "guarded": self.guarded,
            "learned": result,
        }
