"""Learned pre-heat and tap-flick in the daemon: the glue around zcw.domain.draws/habits.

An observer of every :class:`Status`: it feeds the draw detector (which samples once a
second), stores each draw and flick in the history, teaches the habit model and submits a
``tapflick`` request when a flick is seen. A check once a second runs the plan in mode
``learned``: inside a habit's window (opened early by the loop's time-to-hot) it asks for a
cycle whenever the loop reads under ready_c, as source ``learned``, so away mode stops it
(the controller counts a pipe as surely hot only past ready_c; in doubt it runs a short
cycle). Nothing heavy happens in the 4 Hz tick.

The mode: ``[learning] mode`` in the file, overridden at run time by ``zcw schedule learned
on|off`` (kept in the store's ``settings`` table, like schedule edits: the run-time choice
wins until ``zcw schedule learned default``). The model is kept there too, on every draw and
every new day, so a restart, a SIGKILL or a power cut loses at most the draw in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from zcw.adapters.store import Store
from zcw.app.daemon import Daemon, Status
from zcw.app.settings import Settings
from zcw.config import Config
from zcw.domain.controller import Phase
from zcw.domain.cycle.admission import blocking_fault
from zcw.domain.cycle.blind_hold import BLIND_COOL_S
from zcw.domain.draws import Draw, DrawDetector, Flick, LoopHints
from zcw.domain.faults import Fault
from zcw.domain.habits import SLOT_MIN, SLOTS, HabitModel, Window, day_row, kind_name
from zcw.domain.model import Request, Source

log = logging.getLogger("zcw.learning")

CHECK_EVERY_S = 1.0
MODEL_KEY = "learning.model"
RUNTIME_KEY = "learning.runtime"
# A draw this soon after a tap-flick was asked for by it: kept in the history, not learned.
ASKED_S = 600.0
# A learned request that the controller could not take (it was resting) is asked again after
# this long; one that started a cycle is not asked again before the loop has cooled.
RETRY_S = 15.0
# With nothing learned yet: a typical first cycle (as the schedule's own first guess).
DEFAULT_LEAD_S = 60.0
LEAD_MARGIN_S = 10.0
# A loop whose sensor has never been seen to read ready_c (a dry clip on plastic pipe) cannot
# say when its water has cooled, nor can the controller see a warm pipe's front arrive in
# time: re-heating it warm pushed water over cold_line_max_c into the cold line (H4's far
# tap, within 3 s). Such a loop gets one pre-heat per window, hot at its middle, and only
# once its pipe has stood BLIND_COOL_S since its last cycle or draw (docs/learning.md); the
# controller holds any automatic start to the same rule (zcw.domain.cycle.blind_hold).


class LearningBridge:
    """Connects the detector and the habit model to the daemon, the clocks and the store."""

    def __init__(
        self,
        daemon: Daemon,
        cfg: Config,
        store: Store | None,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        lead_s: Callable[[str], float] | None = None,
    ) -> None:
        self.daemon = daemon
        self._store = store
        self._settings = Settings(store, log)
        self._wall = wall
        self._lead = lead_s
        self.tz = ZoneInfo(cfg.timezone)
        self.file_mode = cfg.learning.mode
        self.holidays = [d.toordinal() for d in cfg.learning.holidays]
        params = daemon.wiring.params
        self._loops = params.loop_names
        self._ready = {lp.name: lp.ready_c for lp in params.loops}
        self._hyst = params.hysteresis_c
        self.tapflick = tuple(lc.name for lc in cfg.loops if lc.tapflick)
        self.detector = DrawDetector(
            self._loops, has_outlet=params.has_heater_out, tapflick=self.tapflick
        )
        self.model = HabitModel(
            self._loops,
            min_share=cfg.learning.min_share,
            forget_weeks=cfg.learning.forget_weeks,
        )
        if self.model.restore(self._settings.load(MODEL_KEY)):
            log.info("learned habits restored: %r", self.model)
        self._runtime: dict[str, Any] = dict(self._settings.load(RUNTIME_KEY) or {})
        self._hints: dict[str, LoopHints] = {}
        self._last_cycle: object = None
        self._heating = False
        self._temps: dict[str, float | None] = {}
        self._faults: tuple[Fault, ...] = ()
        # loop -> controller time its last cycle or draw ended (its pipe was warm then)
        self._warm_s: dict[str, float] = {}
        self._reads_hot: set[str] = set()
        self._blind_done: set[str] = set()
        self._asked: dict[str, float] = {}
        self._last_end_s = -1e18
        self._plan_day: str | None = None
        self._plan: list[Window] = []
        self._now_s = daemon.clock.now_s()
        self.flicks: list[Flick] = []  # what was asked for, for the bench and tests
        self._stop = asyncio.Event()
        self._refresh_hints()
        daemon.observe(self._on_status)

    def __repr__(self) -> str:
        return f"LearningBridge(mode={self.mode}, {self.model!r}, tapflick={self.tapflick})"

    # -- the mode -----------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The mode in force: a run-time choice wins over the file's."""
        learned = self._runtime.get("learned")
        if learned is True:
            return "learned"
        if learned is False:
            return "suggest" if self.file_mode == "learned" else self.file_mode
        return self.file_mode

    def set_learned(self, on: bool | None) -> str:
        """Run the learned plan (True), stop it (False), or follow the file again (None)."""
        self._runtime = {} if on is None else {"learned": on}
        self._settings.save(RUNTIME_KEY, self._runtime)
        log.info("learned pre-heat: %s (%s)", self.mode, "file" if on is None else "run time")
        return self.mode

    # -- what it learned ----------------------------------------------------------------------

    def plan_for(self, day: date) -> list[Window]:
        return self.model.plan(day.toordinal(), self.holidays)

    def suggestion(self) -> dict[str, Any]:
        """The learned plan, its confidence and the matrix, for `zcw schedule suggest`."""
        today = self._local().date()
        days = [today + timedelta(days=i) for i in range(8)]
        kinds: dict[str, Any] = {}
        for day in days:
            row = day_row(day.toordinal(), self.holidays)
            name = kind_name(row)
            if name in kinds:
                continue
            kinds[name] = {
                "example": day.isoformat(),
                "days_watched": round(self.model.days_watched(row), 2),
                "windows": [
                    {
                        "loop": w.loop,
                        "from": w.text.split("-")[0],
                        "to": w.text.split("-")[1],
                        "confidence": w.share,
                        "draws": w.draws,
                        "last_used": date.fromordinal(w.last_used).isoformat(),
                    }
                    for w in self.plan_for(day)
                ],
                "hourly": {loop: _hourly(self.model.rates(loop, row)) for loop in self._loops},
            }
        return {
            "mode": self.mode,
            "file_mode": self.file_mode,
            "runtime": self._runtime.get("learned"),
            "timezone": self.tz.key,
            "holidays": [date.fromordinal(d).isoformat() for d in self.holidays],
            "tapflick": list(self.tapflick),
            "draws_seen": self.model.draws_seen,
            "kinds": kinds,
            "lead_s": {loop: round(self.lead_s(loop)) for loop in self._loops},
        }

    def lead_s(self, loop: str) -> float:
        if self._lead is not None:
            return self._lead(loop)
        learned = self.daemon.controller.learned.get(loop)
        transit = learned.transit_s if learned is not None else None
        base = (
            DEFAULT_LEAD_S if transit is None else transit + self.daemon.wiring.params.valve_lead_s
        )
        return base + LEAD_MARGIN_S

    # -- running ------------------------------------------------------------------------------

    def check(self) -> None:
        """Once a second: count the day, and in mode ``learned`` keep the planned loops hot."""
        local = self._local()
        if self.mode != "off" and self.model.watch_day(local.date().toordinal(), self.holidays):
            self._settings.save(MODEL_KEY, self.model.to_json())
        if self.mode != "learned" or self._heating or self.daemon.controller.mode == "away":
            return
        if self.detector.drawing:
            return  # someone is drawing: the water is moving already
        day = local.date().isoformat()
        if day != self._plan_day:
            # The day's plan is worked out as it begins: a draw today teaches tomorrow.
            self._plan_day, self._plan = day, self.plan_for(local.date())
            self._blind_done.clear()
        minute = local.hour * 60 + local.minute + local.second / 60.0
        for window in self._plan:
            lead_min = self.lead_s(window.loop) / 60.0
            if not window.start_min - lead_min <= minute < window.end_min:
                continue
            if window.loop in self._reads_hot:
                self._keep_hot(window.loop)
            elif minute >= (window.start_min + window.end_min) / 2 - lead_min:
                # One pre-heat, hot at the middle of the habit, where draws are likeliest.
                self._pre_heat_blind(window, day)

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # learning must never stop the daemon
                log.exception("learning check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), CHECK_EVERY_S)

    async def close(self) -> None:
        self._stop.set()

    # -- internals ----------------------------------------------------------------------------

    def _keep_hot(self, loop: str) -> None:
        now = self._now_s
        if now - self._asked.get(loop, -1e18) < RETRY_S:
            return
        if blocking_fault(loop, self._faults) is not None:
            # The controller would refuse it: asking every RETRY_S through a latched fault
            # (which waits for `zcw reset`) would fill the journal and the event stream.
            return
        if now - self._last_end_s < self.daemon.wiring.params.min_rest_s:
            return  # the controller would refuse it (rest): ask once that is over
        if self.daemon.controller.warm_pipe_wait_s(loop) is not None:
            return  # likewise (its sensor cannot tell a warm pipe: see blind_hold)
        if not self._cooled(loop, now):
            return
        self._asked[loop] = now
        self.daemon.submit(Request("start", Source.LEARNED, loop))

    def _cooled(self, loop: str, now: float) -> bool:
        temp = self._temps.get(loop)
        return temp is not None and temp < self._ready[loop]

    def _pre_heat_blind(self, window: Window, day: str) -> None:
        key = f"{day}/{window.loop}/{window.start_min:.0f}"
        if key in self._blind_done or self._now_s - self._warm_s.get(window.loop, -1e18) < (
            BLIND_COOL_S
        ):
            return
        if blocking_fault(window.loop, self._faults) is not None:
            return  # not spent: asked once the fault has cleared, if still in the window
        if self.daemon.controller.warm_pipe_wait_s(window.loop) is not None:
            return  # not spent either: the controller holds it (see blind_hold)
        self._blind_done.add(key)
        self._asked[window.loop] = self._now_s
        self.daemon.submit(Request("start", Source.LEARNED, window.loop))

    def _on_status(self, status: Status) -> None:
        snap = status.snapshot
        self._now_s = snap.at_s
        self._heating = snap.phase is not Phase.IDLE
        self._temps = {name: view.temp_c for name, view in snap.loops.items()}
        self._faults = snap.faults
        for name, temp in self._temps.items():
            if temp is not None and temp >= self._ready[name] - self._hyst:
                self._reads_hot.add(name)  # this sensor does see hot water
        if snap.last_cycle is not None and snap.last_cycle is not self._last_cycle:
            self._last_cycle = snap.last_cycle
            self._last_end_s = snap.last_cycle.ended_s
            for loop in snap.last_cycle.loops:
                self._warm_s[loop] = snap.last_cycle.ended_s
            self._refresh_hints()
        if self.mode == "off" and not self.tapflick:
            return
        found = self.detector.step(
            snap.at_s,
            pumping=self._heating or snap.pump,
            loop_c=self._temps,
            out_c=snap.heater_out_c,
            hints=self._hints,
        )
        for draw in found.draws:
            self._on_draw(draw, snap.at_s)
        for flick in found.flicks:
            self._on_flick(flick, snap.at_s)

    def _on_draw(self, draw: Draw, now_s: float) -> None:
        if draw.loop is not None:
            self._warm_s[draw.loop] = now_s
        at = self._wall() - timedelta(seconds=now_s - draw.start_s)
        log.info(
            "hot draw at %s from %s (%s, %s)",
            draw.loop or "an unknown tap",
            at.astimezone(self.tz).strftime("%H:%M:%S"),
            draw.via,
            "?" if draw.duration_s is None else f"{draw.duration_s:.0f} s",
        )
        self._store_draw(at.timestamp(), draw.loop, draw.duration_s, draw.via, "draw")
        if draw.loop is None or self.mode == "off":
            return
        if any(0.0 <= draw.start_s - f.at_s <= ASKED_S for f in self.flicks[-3:]):
            return  # the person asked for this one with a flick
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute + local.second / 60.0
        self.model.add_draw(draw.loop, local.date().toordinal(), minute, self.holidays)
        self._settings.save(MODEL_KEY, self.model.to_json())

    def _on_flick(self, flick: Flick, now_s: float) -> None:
        self.flicks.append(flick)
        at = self._wall() - timedelta(seconds=now_s - flick.onset_s)
        log.info("tap-flick: hot water asked for at %s", flick.loop)
        self._store_draw(at.timestamp(), flick.loop, None, "outlet", "flick")
        # A person's hand: away mode does not stop it (Source.TAPFLICK is not automatic).
        self.daemon.submit(Request("start", Source.TAPFLICK, flick.loop))

    def _refresh_hints(self) -> None:
        learned = self.daemon.controller.learned
        params = self.daemon.wiring.params
        for lp in params.loops:
            got = learned.get(lp.name)
            tau = got.tau_s if got is not None and got.tau_s is not None else lp.sensor_tau_s
            transit = lp.transit_hint_s or (got.transit_s if got is not None else None)
            self._hints[lp.name] = LoopHints(transit, tau, lp.ready_c, params.hysteresis_c)

    def _local(self) -> datetime:
        return self._wall().astimezone(self.tz)

    def _store_draw(
        self, at: float, loop: str | None, duration: float | None, via: str, kind: str
    ) -> None:
        if self._store is None:
            return
        try:
            self._store.add_draw(at, loop, duration, via, kind)
        except sqlite3.Error as exc:
            log.error("could not keep a draw in the store: %s", exc)


def _hourly(rates: list[float]) -> list[float]:
    """Draws per day in each hour (the heat map's cells)."""
    per_hour = 60 // SLOT_MIN
    return [
        round(sum(rates[h * per_hour : (h + 1) * per_hour]), 3) for h in range(SLOTS // per_hour)
    ]
