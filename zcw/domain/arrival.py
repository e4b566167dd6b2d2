"""Hot-water arrival prediction: estimate the water at the valve from a lagging sensor.

A clamp-on DS18B20 reads the pipe wall through a first-order lag τ (PHYSICS.md §4): on brass
τ ≈ 8 s, on PPR tens of seconds. Stopping when the *reading* crosses ``ready_c`` stops late and
pushes hot water into the cold line (R0: 52 s late, 7 L). Inverting the lag,
``T_water ≈ T_sensor + τ · dT_sensor/dt``, recovers most of that delay. The slope is a
least-squares fit over the last few samples, because the DS18B20 quantises to 0.0625 °C.
"""

from __future__ import annotations

from collections import deque

# Enough samples to average out quantisation, few enough to follow a fast front.
WINDOW_SAMPLES = 4
# The inverse of a lag amplifies noise; never believe more than this much lead.
MAX_LEAD_C = 15.0


class ArrivalEstimator:
    """Tracks one loop sensor during a cycle and estimates the water temperature at the valve."""

    def __init__(self, *, tau_s: float) -> None:
        self._tau_s = max(tau_s, 0.0)
        self._samples: deque[tuple[float, float]] = deque(maxlen=WINDOW_SAMPLES)

    def add(self, at_s: float, value_c: float) -> None:
        if self._samples and at_s <= self._samples[-1][0]:
            return  # the same conversion seen again on a later tick
        self._samples.append((at_s, value_c))

    @property
    def slope_c_per_s(self) -> float:
        n = len(self._samples)
        if n < 2:
            return 0.0
        mean_t = sum(t for t, _ in self._samples) / n
        mean_v = sum(v for _, v in self._samples) / n
        num = sum((t - mean_t) * (v - mean_v) for t, v in self._samples)
        den = sum((t - mean_t) ** 2 for t, _ in self._samples)
        return num / den if den > 0 else 0.0

    @property
    def water_c(self) -> float | None:
        """Estimated water temperature now, or None before the first sample."""
        if not self._samples:
            return None
        latest = self._samples[-1][1]
        # Only a rising front is extrapolated: a falling reading (stale water being pushed
        # out) must never make the controller think hot water has arrived.
        lead_c = min(max(self._tau_s * self.slope_c_per_s, 0.0), MAX_LEAD_C)
        return latest + lead_c
