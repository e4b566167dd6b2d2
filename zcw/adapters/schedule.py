"""The scheduler: which pre-heats, keep-warm re-heats and away switches are due right now.

apscheduler 3's ``CronTrigger`` does the calendar arithmetic in the configured time zone.
Firing is decided here, against clocks that are handed in, so every rule below is tested
with an injected clock rather than by waiting:

- **"Hot at HH:MM"**: a pre-heat fires early by its loop's time-to-hot (``lead_s``).
- **Once per local day.** An entry fires at most once per local date. When clocks go back
  (DST), the repeated hour does not fire it twice; apscheduler would.
- **No lost job going forward.** A time skipped by DST (02:30 on the spring-forward night)
  fires as soon as the clock is past it.
- **No burst after a jump.** A Pi has no RTC and its clock jumps when NTP syncs after boot. A
  fire time more than ``grace_s`` in the past is skipped with a log line (apscheduler's
  ``misfire_grace_time``), and a run of missed ones is coalesced into none. After a jump
  backwards the next times are worked out again.
- **Restarts.** What fired, per entry and local date, is handed in and out (the store keeps
  it), so a restart within the grace fires a job it missed and never one it already fired.

Jobs only produce requests (source ``schedule``); the daemon answers them like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from zcw.domain.calendar import WEEKDAYS, AwayRange, KeepWarm, PreHeat
from zcw.domain.model import Request, Source

log = logging.getLogger("zcw.schedule")

# A pre-heat found up to this late still fires (the daemon restarted, the tick was busy).
GRACE_S = 300.0
# A wall clock that moves this much against the monotonic one has jumped (NTP, a user).
JUMP_S = 60.0


@dataclass(frozen=True, slots=True)
class LoopNow:
    """What keep-warm needs to know of a loop at this instant."""

    temp_c: float | None
    ready_c: float
    heating: bool


@dataclass
class Due:
    """What one check decided: requests for the daemon, and log lines worth keeping."""

    requests: list[Request] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SchedulePlanner:
    """Pre-heats, keep-warm windows and away ranges, checked against the clocks given."""

    def __init__(
        self,
        tz: ZoneInfo,
        *,
        grace_s: float = GRACE_S,
        fired: Mapping[str, str] | None = None,
        keep_warm_drop_c: float = 3.0,
        keep_warm_min_interval_s: float = 600.0,
    ) -> None:
        self.tz = tz
        self.grace_s = grace_s
        self.keep_warm_drop_c = keep_warm_drop_c
        self.keep_warm_min_interval_s = keep_warm_min_interval_s
        self.fired: dict[str, str] = dict(fired or {})  # entry id -> local date it fired for
        self._preheats: list[PreHeat] = []
        self._keep_warm: list[KeepWarm] = []
        self._away: list[AwayRange] = []
        self._triggers: dict[str, CronTrigger] = {}
        self._next: dict[str, datetime] = {}  # entry id -> its next "hot at" time
        self._skew: float | None = None  # wall − monotonic at the last check
        self._last_wall: datetime | None = None
        self._away_now: bool | None = None
        self._last_keep_warm: dict[str, float] = {}

    def __repr__(self) -> str:
        return (
            f"SchedulePlanner({len(self._preheats)} pre-heats, {len(self._keep_warm)} keep-warm, "
            f"{len(self._away)} away ranges, tz={self.tz.key})"
        )

    @property
    def preheats(self) -> list[PreHeat]:
        return list(self._preheats)

    def configure(
        self,
        preheats: Sequence[PreHeat] = (),
        keep_warm: Sequence[KeepWarm] = (),
        away: Sequence[AwayRange] = (),
    ) -> None:
        """Replace the entries; the next fire times are worked out at the next check."""
        self._preheats = list(preheats)
        self._keep_warm = list(keep_warm)
        self._away = list(away)
        self._triggers = {
            p.id: CronTrigger(
                day_of_week=",".join(WEEKDAYS[d] for d in sorted(p.days)),
                hour=p.at.hour,
                minute=p.at.minute,
                timezone=self.tz,
            )
            for p in self._preheats
        }
        self._next = {}

    def next_times(self) -> dict[str, datetime]:
        """Each pre-heat's next "hot at" time, as last worked out."""
        return dict(self._next)

    def check(
        self,
        wall: datetime,
        mono_s: float,
        loops: Mapping[str, LoopNow],
        *,
        lead_s: Callable[[str], float],
    ) -> Due:
        """Everything due at ``wall`` (aware). ``lead_s(loop)`` is that loop's time-to-hot."""
        due = Due()
        wall = wall.astimezone(self.tz)
        self._watch_clock(wall, mono_s, due)
        self._check_away(wall, due)
        for entry in self._preheats:
            self._check_preheat(entry, wall, lead_s(entry.loop), due)
        self._check_keep_warm(wall, mono_s, loops, due)
        self._last_wall = wall
        return due

    # -- the rules ------------------------------------------------------------------------

    def _watch_clock(self, wall: datetime, mono_s: float, due: Due) -> None:
        skew = wall.timestamp() - mono_s
        if self._skew is not None and abs(skew - self._skew) > JUMP_S:
            jump = skew - self._skew
            due.notes.append(f"the wall clock jumped {jump:+.0f} s; schedule worked out again")
            if jump < 0:
                self._next = {}  # times far ahead may now be days away: look again from now
        self._skew = skew

    def _check_away(self, wall: datetime, due: Due) -> None:
        away = any(r.covers(wall.date()) for r in self._away)
        if away != self._away_now:
            if self._away_now is not None or away:
                # A boundary switches the mode; a manual toggle in between wins until the next.
                due.requests.append(
                    Request("mode", Source.SCHEDULE, mode="away" if away else "auto")
                )
                due.notes.append("away dates begin" if away else "away dates end")
            self._away_now = away

    def _check_preheat(self, entry: PreHeat, wall: datetime, lead_s: float, due: Due) -> None:
        # Instants are compared as timestamps: Python compares two datetimes of one zone by
        # their wall-clock reading, which is wrong across a DST change.
        now = wall.timestamp()
        target = self._next.get(entry.id)
        if target is None:
            # From the grace window back, so a restart or a late check still fires it.
            target = self._after(entry, now - self.grace_s - lead_s)
        while target is not None and now >= target.timestamp() - lead_s:
            day = target.date().isoformat()
            late_s = now - (target.timestamp() - lead_s)
            if self.fired.get(entry.id) == day:
                pass  # fired for this local date already (DST's repeated hour, a restart)
            elif late_s > self.grace_s:
                due.notes.append(
                    f"pre-heat {entry.id} for {target:%Y-%m-%d %H:%M} missed by "
                    f"{late_s / 60:.0f} min (the daemon was down or the clock jumped); skipped"
                )
            else:
                self.fired[entry.id] = day
                due.requests.append(Request("start", Source.SCHEDULE, entry.loop))
                due.notes.append(f"pre-heat {entry.id}: hot at {target:%H:%M}, {lead_s:.0f} s lead")
            target = self._after(entry, target.timestamp())
        if target is not None:
            self._next[entry.id] = target

    def _after(self, entry: PreHeat, t: float) -> datetime | None:
        """The entry's first local fire time strictly after the instant ``t``."""
        trigger = self._triggers[entry.id]
        start = datetime.fromtimestamp(t, UTC) + timedelta(microseconds=1)
        nxt: datetime | None = trigger.get_next_fire_time(None, start)
        # apscheduler 3 hands back a repeated local hour twice (DST ends) and may return the
        # same instant again: always move strictly forward.
        while nxt is not None and nxt.timestamp() <= t:
            nxt = trigger.get_next_fire_time(None, nxt.astimezone(UTC) + timedelta(minutes=1))
        return nxt

    def _check_keep_warm(
        self, wall: datetime, mono_s: float, loops: Mapping[str, LoopNow], due: Due
    ) -> None:
        for window in self._keep_warm:
            now = loops.get(window.loop)
            if now is None or now.temp_c is None or now.heating or not window.active(wall):
                continue
            if now.temp_c > now.ready_c - self.keep_warm_drop_c:
                continue
            last = self._last_keep_warm.get(window.loop)
            if last is not None and mono_s - last < self.keep_warm_min_interval_s:
                continue
            self._last_keep_warm[window.loop] = mono_s
            due.requests.append(Request("start", Source.SCHEDULE, window.loop))
            due.notes.append(
                f"keep-warm {window.loop}: {now.temp_c:.1f} °C, "
                f"{now.ready_c - now.temp_c:.1f} K under ready"
            )
