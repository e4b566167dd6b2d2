"""Hot-water arrival prediction: estimate the water at the valve from a lagging sensor.

A DS18B20 on the valve body or the pipe reads the water through a first-order lag τ
(docs/physics.md §4): on brass τ ≈ 8 s, on PPR tens of seconds. Stopping when the *reading* crosses
``ready_c`` stops late and pushes hot water into the cold line (R0: 52 s late, 7 L).

The lag is inverted exactly between two conversions: if the water held ``w`` over the interval,
``s₁ = w + (s₀ − w)·e^(−Δt/τ)``, so ``w = (s₁ − a·s₀)/(1 − a)`` with ``a = e^(−Δt/τ)``. That
``w`` is the water in the middle of the last interval between two conversion *starts* (samples
carry when they were measured, not when they arrived), so the estimate looks ahead along the
recovered slope over the time since then, plus the water that still flows while the pump spins
down. τ comes from :mod:`zcw.domain.learning` once the loop has taught it.
"""

from __future__ import annotations

import math
from collections import deque

# Flow goes on for about this long after the pump is told to stop (spin-down, valve lag).
SPIN_DOWN_S = 0.3
# The inverse of a lag amplifies noise; never believe more than this much lead.
MAX_LEAD_C = 15.0


def recovered_c(s0: float, s1: float, dt_s: float, tau_s: float) -> float:
    """The water that took a τ-lagged sensor from ``s0`` to ``s1`` in ``dt_s`` (module doc)."""
    a = math.exp(-dt_s / tau_s)
    return (s1 - a * s0) / (1 - a)


class ArrivalEstimator:
    """Tracks one loop sensor during a cycle and estimates the water temperature at the valve."""

    def __init__(self, *, tau_s: float, lead_gain: float = 1.0) -> None:
        self._tau_s = max(tau_s, 0.0)
        self._gain = lead_gain
        self._samples: deque[tuple[float, float]] = deque(maxlen=4)

    def add(self, at_s: float, value_c: float) -> None:
        if self._samples and at_s <= self._samples[-1][0]:
            return  # the same conversion seen again on a later tick
        self._samples.append((at_s, value_c))

    def _water(self, i: int) -> float:
        """The water over the interval that ends at sample ``i`` (``i`` ≥ 1)."""
        (t0, s0), (t1, s1) = self._samples[i - 1], self._samples[i]
        if self._tau_s <= 0:
            return s1
        return recovered_c(s0, s1, t1 - t0, self._tau_s)

    def water_c(self, now_s: float, *, look_ahead: bool = True) -> float | None:
        """Estimated water temperature at ``now_s``, or None before the first sample.

        Without ``look_ahead`` it is the recovered water itself, not extrapolated.
        """
        n = len(self._samples)
        if n == 0:
            return None
        latest = self._samples[-1][1]
        if n == 1:
            return latest
        water = self._water(n - 1)
        if n >= 3 and look_ahead:
            # The slope of the recovered water, least squares over the last intervals.
            pts = [(self._samples[i][0], self._water(i)) for i in range(1, n)]
            mt = sum(t for t, _ in pts) / len(pts)
            mw = sum(w for _, w in pts) / len(pts)
            stt = sum((t - mt) ** 2 for t, _ in pts)
            slope = sum((t - mt) * (w - mw) for t, w in pts) / stt if stt > 0 else 0.0
            t1, t2 = self._samples[-2][0], self._samples[-1][0]
            ahead = now_s - t2 + (t2 - t1) / 2 + SPIN_DOWN_S
            water += max(slope, 0.0) * ahead * self._gain
        # Only a rising front counts: a falling reading (stale water being pushed out) must
        # never make the controller think hot water has arrived, nor hide a reading above it.
        return latest + min(max(water - latest, 0.0), MAX_LEAD_C)
