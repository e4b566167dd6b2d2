"""Calendar entries in the user's words: pre-heats, keep-warm windows and away dates.

Pure value types and their parsers, shared by the config, the control socket, MQTT and the
scheduler. Days are always **names** (``mon-fri``, ``sat,sun``, ``daily``), never numbers:
apscheduler 3 counts Monday as 0 and cron counts Sunday as 0, and a user cannot tell which
one a bare number meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAILY = frozenset(range(7))
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")

EntrySource = Literal["file", "runtime", "learned"]


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``daily``, ``mon,wed-fri`` → weekday numbers (Monday = 0).

    Raises ValueError with a sentence that says what is accepted.
    """
    words = text.strip().lower()
    if words in ("daily", "every day", "all"):
        return DAILY
    days: set[int] = set()
    for part in (p.strip() for p in words.split(",")):
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first.strip(), text), _day(last.strip(), text)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            days.add(_day(part, text))
    return frozenset(days)


def _day(word: str, text: str) -> int:
    if word.isdigit():
        raise ValueError(
            f"days {text!r}: write weekday names, not numbers (apscheduler counts Monday as 0, "
            "cron Sunday as 0); e.g. 'mon-fri', 'sat,sun' or 'daily'"
        )
    key = word[:3]
    if key not in WEEKDAYS or not word.startswith(key):
        raise ValueError(
            f"days {text!r}: {word!r} is not a weekday; use mon tue wed thu fri sat sun, "
            "ranges like 'mon-fri', lists like 'sat,sun', or 'daily'"
        )
    return WEEKDAYS.index(key)


def days_text(days: frozenset[int]) -> str:
    """The canonical words for a set of weekdays: 'daily', 'mon-fri', 'sat,sun', 'mon,wed'."""
    if days == DAILY:
        return "daily"
    runs: list[str] = []
    ordered = sorted(days)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        a, b = WEEKDAYS[ordered[i]], WEEKDAYS[ordered[j]]
        runs.append(a if i == j else f"{a},{b}" if j == i + 1 else f"{a}-{b}")
        i = j + 1
    return ",".join(runs)


def parse_hhmm(text: str) -> time:
    """``06:50`` → time(6, 50); anything else is a ValueError that says the format."""
    m = _HHMM.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a time of day; write it as HH:MM, e.g. '06:50'")
    return time(int(m.group(1)), int(m.group(2)))


@dataclass(frozen=True, slots=True)
class PreHeat:
    """ "Hot water at ``loop`` by ``at`` on ``days``": zcw starts early by the loop's
    time-to-hot."""

    loop: str
    at: time
    days: frozenset[int]
    source: EntrySource = "file"

    @property
    def id(self) -> str:
        """Stable across restarts and the same however it was typed: ``bathroom@06:50/mon-fri``."""
        return f"{self.loop}@{self.at:%H:%M}/{days_text(self.days)}"

    def to_json(self) -> dict[str, str]:
        return {"loop": self.loop, "at": f"{self.at:%H:%M}", "days": days_text(self.days)}

    @staticmethod
    def parse(loop: str, at: str, days: str, source: EntrySource = "file") -> PreHeat:
        return PreHeat(loop, parse_hhmm(at), parse_days(days), source)


@dataclass(frozen=True, slots=True)
class KeepWarm:
    """Keep ``loop`` hot from ``start`` to ``end`` on ``days`` (巡航): re-heat whenever its
    water falls a few kelvin below ready. A window may run past midnight (22:00-01:00); its
    days are the days it starts on."""

    loop: str
    start: time
    end: time
    days: frozenset[int]

    def active(self, local: datetime) -> bool:
        t, day = local.time(), local.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= t < self.end
        if t >= self.start:
            return day in self.days
        return (day - 1) % 7 in self.days and t < self.end


@dataclass(frozen=True, slots=True)
class AwayRange:
    """Away from ``first`` to ``last``, both days included."""

    first: date
    last: date

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last

    def to_json(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    @staticmethod
    def parse(first: str, last: str) -> AwayRange:
        try:
            a, b = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError:
            raise ValueError(
                f"away dates {first!r}…{last!r}: write them as YYYY-MM-DD, e.g. 2026-12-20"
            ) from None
        if b < a:
            raise ValueError(f"away range ends ({last}) before it starts ({first})")
        return AwayRange(a, b)
