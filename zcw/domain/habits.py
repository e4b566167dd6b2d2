"""When a household draws hot water, learned per loop, and the pre-heat plan it implies.

The model is a weekly slot matrix per loop: 8 rows (Monday … Sunday, plus public holidays)
of 288 five-minute slots (NavienManager's resolution), each holding the decayed number of
draws that began in it, plus, per row, the decayed number of days zcw watched. Rows are
pooled by **day kind** — workdays (Mon–Fri) and rest days (Sat, Sun, holidays) — so one week
is enough: five workdays and two rest days. A row decays each time its day comes round
again (``DECAY`` per observation, so a habit that moves fades over a few weeks), and each
slot remembers the last date a draw began in it: a slot unused for ``forget_weeks`` is never
planned, whatever its weight.

The plan for a day: the slots of that day's kind are grouped into **habits** (runs of used
slots with gaps of at most ``GAP_SLOTS``). A habit is planned when it was seen at least
twice (once, while its day kind has been watched for less than two days) and on at least
``min_share`` of the days of its kind. Its window runs from its first slot to the end of
its last, widened on each side by the largest of: one slot; the habit's own spread divided
by the number of draws in it (the expected gap between the extreme sample and the true edge
of a spread, for so many samples); and a prior spread of habits, ``PRIOR_SPREAD_MIN``,
divided by the square root of that number. Inside the window the daemon keeps
the loop hot; before it, it pre-heats so the water is hot as the window opens.

Pure: days come in as proleptic Gregorian ordinals (``date.toordinal()``: day 1 is Monday
1 January of year 1), times of day as minutes after local midnight; nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SLOT_MIN = 5
SLOTS = 24 * 60 // SLOT_MIN
ROWS = 8  # Monday … Sunday, then public holidays
HOLIDAY_ROW = 7
WORKDAY_ROWS = (0, 1, 2, 3, 4)
REST_ROWS = (5, 6, HOLIDAY_ROW)
# Each time a row's day comes round again its weights are multiplied by this: a habit
# observed every week keeps a weight near 1/(1-DECAY) times its daily rate; one that stopped
# halves in about four weeks.
DECAY = 0.85
# How far a person's habit wanders from day to day, before zcw has seen it often: a
# behavioural prior (docs/learning.md), not a figure of any house. A habit seen n times is
# planned PRIOR_SPREAD_MIN/√n wider on each side than the draws themselves.
PRIOR_SPREAD_MIN = 20.0
# Draws at most this far apart belong to one habit.
GAP_SLOTS = int(2 * PRIOR_SPREAD_MIN // SLOT_MIN)
# A habit needs this many draws (decayed weight) before it is planned: once is chance.
# Only while a day kind has been watched for fewer than two days each is once enough (a
# week has only two rest days).
MIN_DRAWS = 1.5


def weekday(day: int) -> int:
    """Monday = 0 for a day ordinal (``date.toordinal()``)."""
    return (day - 1) % 7


def day_row(day: int, holidays: Iterable[int] = ()) -> int:
    return HOLIDAY_ROW if day in set(holidays) else weekday(day)


def kind_rows(row: int) -> tuple[int, ...]:
    """The rows pooled with ``row``: all workdays, or all rest days."""
    return REST_ROWS if row in REST_ROWS else WORKDAY_ROWS


def kind_name(row: int) -> str:
    return "rest day" if row in REST_ROWS else "workday"


@dataclass(frozen=True, slots=True)
class Window:
    """Keep ``loop`` hot from ``start_min`` to ``end_min`` (minutes after local midnight)."""

    loop: str
    start_min: float
    end_min: float
    draws: float  # decayed draws the habit holds
    share: float  # draws per day of its kind in the habit (its confidence)
    last_used: int  # the day (ordinal) of its latest draw

    @property
    def text(self) -> str:
        return f"{_hhmm(self.start_min)}-{_hhmm(self.end_min)}"


def _hhmm(minutes: float) -> str:
    m = round(minutes) % (24 * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


@dataclass
class _LoopMatrix:
    weights: list[dict[int, float]] = field(default_factory=lambda: [{} for _ in range(ROWS)])
    last: list[dict[int, int]] = field(default_factory=lambda: [{} for _ in range(ROWS)])


class HabitModel:
    """The slot matrix of every loop, the days watched, and the plan they imply."""

    def __init__(
        self,
        loops: Sequence[str],
        *,
        min_share: float = 0.4,
        forget_weeks: int = 3,
    ) -> None:
        self.loops = tuple(loops)
        self.min_share = min_share
        self.forget_weeks = forget_weeks
        self._m = {name: _LoopMatrix() for name in self.loops}
        self.exposure = [0.0] * ROWS  # decayed days watched, per row
        self.watched: int | None = None  # the latest day (ordinal) counted in
        self.draws_seen = 0

    def __repr__(self) -> str:
        days = sum(self.exposure)
        return f"HabitModel(loops={self.loops}, days={days:.1f}, draws={self.draws_seen})"

    # -- learning ---------------------------------------------------------------------------

    def watch_day(self, day: int, holidays: Iterable[int] = ()) -> bool:
        """Count ``day`` as watched (once): its row decays, then gains one day. Returns
        whether this was a new day."""
        if self.watched is not None and day <= self.watched:
            return False
        row = day_row(day, holidays)
        self.exposure[row] = self.exposure[row] * DECAY + 1.0
        for matrix in self._m.values():
            matrix.weights[row] = {s: w * DECAY for s, w in matrix.weights[row].items() if w > 1e-3}
        self.watched = day
        return True

    def add_draw(self, loop: str, day: int, minute: float, holidays: Iterable[int] = ()) -> None:
        """A draw began at ``loop`` on ``day`` at ``minute`` after local midnight."""
        matrix = self._m.get(loop)
        if matrix is None:
            return
        self.watch_day(day, holidays)
        row = day_row(day, holidays)
        slot = int(minute // SLOT_MIN) % SLOTS
        matrix.weights[row][slot] = matrix.weights[row].get(slot, 0.0) + 1.0
        matrix.last[row][slot] = max(matrix.last[row].get(slot, 0), day)
        self.draws_seen += 1

    # -- reading ----------------------------------------------------------------------------

    def rates(self, loop: str, row: int) -> list[float]:
        """Draws per day beginning in each slot, for the day kind of ``row`` (pooled)."""
        rows = kind_rows(row)
        days = sum(self.exposure[r] for r in rows)
        out = [0.0] * SLOTS
        matrix = self._m.get(loop)
        if matrix is None or days <= 0:
            return out
        for r in rows:
            for slot, w in matrix.weights[r].items():
                out[slot] += w / days
        return out

    def days_watched(self, row: int) -> float:
        return sum(self.exposure[r] for r in kind_rows(row))

    def plan(self, day: int, holidays: Iterable[int] = ()) -> list[Window]:
        """The windows to keep hot on ``day``, every loop, in time order."""
        row = day_row(day, holidays)
        rows = kind_rows(row)
        # Judged on the days before it: the daemon counts a day in as it begins, and a day
        # not yet lived would dilute every habit's share without its draws (a habit seen on
        # one of two rest days fell under the bar on the third).
        days = self.days_watched(row) - (1.0 if self.watched == day else 0.0)
        if days <= 0:
            return []
        oldest = day - 7 * self.forget_weeks
        out: list[Window] = []
        for loop, matrix in self._m.items():
            weight = [0.0] * SLOTS
            last = [0] * SLOTS
            for r in rows:
                for slot, w in matrix.weights[r].items():
                    weight[slot] += w
                for slot, d in matrix.last[r].items():
                    last[slot] = max(last[slot], d)
            for group in _groups([s for s in range(SLOTS) if weight[s] > 1e-3]):
                total = sum(weight[s] for s in group)
                share = total / days
                used = max(last[s] for s in group)
                if total < min(MIN_DRAWS, days / 2) or share < self.min_share or used < oldest:
                    continue
                first, end = group[0] * SLOT_MIN, (group[-1] + 1) * SLOT_MIN
                n = max(total, 1.0)
                margin = max(SLOT_MIN, (end - first) / n, PRIOR_SPREAD_MIN / n**0.5)
                out.append(
                    Window(
                        loop,
                        max(first - margin, 0.0),
                        min(end + margin, 24 * 60.0),
                        round(total, 3),
                        round(share, 3),
                        used,
                    )
                )
        return sorted(out, key=lambda w: (w.start_min, w.loop))

    # -- persistence ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "slot_min": SLOT_MIN,
            "exposure": [round(e, 4) for e in self.exposure],
            "watched": self.watched,
            "draws_seen": self.draws_seen,
            "loops": {
                name: {
                    "weights": [{str(s): round(w, 4) for s, w in row.items()} for row in m.weights],
                    "last": [{str(s): d for s, d in row.items()} for row in m.last],
                }
                for name, m in self._m.items()
            },
        }

    def restore(self, data: Mapping[str, Any] | None) -> bool:
        """What an earlier run learned; a stored model of another shape is ignored."""
        if not isinstance(data, Mapping) or data.get("slot_min") != SLOT_MIN:
            return False
        try:
            exposure = [float(e) for e in data["exposure"]]
            if len(exposure) != ROWS:
                return False
            loops: dict[str, _LoopMatrix] = {}
            for name, stored in dict(data.get("loops", {})).items():
                if name not in self._m:
                    continue  # a loop no longer configured
                weights = [{int(s): float(w) for s, w in row.items()} for row in stored["weights"]]
                last = [{int(s): int(d) for s, d in row.items()} for row in stored["last"]]
                if len(weights) != ROWS or len(last) != ROWS:
                    return False
                loops[name] = _LoopMatrix(weights, last)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        self.exposure = exposure
        watched = data.get("watched")
        self.watched = watched if isinstance(watched, int) else None
        self.draws_seen = int(data.get("draws_seen", 0))
        self._m.update(loops)
        return True


def _groups(slots: Sequence[int]) -> list[list[int]]:
    groups: list[list[int]] = []
    for s in slots:
        if groups and s - groups[-1][-1] <= GAP_SLOTS:
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups
