"""Clocks: the real monotonic one, and a stepped one for simulation and tests."""

from __future__ import annotations

import time


class MonotonicClock:
    """Seconds from ``time.monotonic``: immune to NTP and DST jumps."""

    def now_s(self) -> float:
        return time.monotonic()


class SteppedClock:
    """A clock that only moves when told to; simulations run the daemon in lockstep with it."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s

    def now_s(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError(f"time cannot go backwards (dt_s = {dt_s})")
        self._now_s += dt_s

    def __repr__(self) -> str:
        return f"SteppedClock(now_s={self._now_s:.3f})"
