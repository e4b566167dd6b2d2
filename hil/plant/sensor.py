"""The DS18B20 measurement chain (docs/physics.md §3.1, §4).

``τ_s dT_b/dt = κ·T_loc + (1−κ)·T_a − T_b``: a first-order lag towards the local temperature,
with a leak to ambient when κ < 1 (dry or uninsulated contact). A conversion starts every
``period_s``; its result, quantised to 0.0625 °C plus the unit's offset, is readable
``conversion_s`` later.
"""

from __future__ import annotations

import math

LSB_C = 0.0625


class Ds18b20:
    """One sensor; call :meth:`step` with the local temperature every plant step."""

    def __init__(
        self,
        *,
        tau_s: float,
        kappa: float,
        offset_c: float,
        ambient_c: float,
        start_c: float,
        period_s: float = 1.0,
        conversion_s: float = 0.75,
    ) -> None:
        self.tau_s = tau_s
        self.kappa = kappa
        self.offset_c = offset_c
        self.ambient_c = ambient_c
        self.period_s = period_s
        self.conversion_s = conversion_s
        self.body_c = start_c
        self.reading_c = self._quantise(start_c)
        self.measured_at_s = 0.0  # when the conversion behind reading_c started
        self._next_start_s = 0.0
        self._pending: tuple[float, float, float] | None = None  # (ready at, value, started)

    def convert_now(self) -> float:
        """What a conversion started now will read: for a bridge that runs its own schedule
        (the firmware under the emulator) and latches the value at its Convert T."""
        return self._quantise(self.body_c)

    def _quantise(self, value: float) -> float:
        return round(value / LSB_C) * LSB_C + self.offset_c

    def step(self, local_c: float, t_s: float, dt_s: float) -> None:
        target = self.kappa * local_c + (1 - self.kappa) * self.ambient_c
        if self.tau_s > 0:
            self.body_c = target + (self.body_c - target) * math.exp(-dt_s / self.tau_s)
        else:
            self.body_c = target
        if self._pending is not None and t_s >= self._pending[0]:
            _, self.reading_c, self.measured_at_s = self._pending
            self._pending = None
        if t_s >= self._next_start_s:
            self._pending = (t_s + self.conversion_s, self._quantise(self.body_c), t_s)
            self._next_start_s = t_s + self.period_s
