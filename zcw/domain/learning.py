"""What zcw learns about each loop from its own cycles, with no hints and no hardware.

**Transit**: from every cycle that started from a cooled pipe and whose arrival the sensor saw,
the time from pump start to hot water at the valve. Without a heater-outlet sensor it is what
tells "the heater did not fire" from "the pipe is long" (I6), and it bounds the stuck-sensor
check on long loops. Config hints (pipe length and type, pump flow) give a first value before
the loop has taught one.

It is exponentially weighted, so a re-plumbed loop or a new pump is relearned within a few
cycles, and it survives restarts: the store persists :class:`Learned` as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

# How much one new cycle moves what was learned: three or four cycles relearn a changed loop.
WEIGHT = 0.3


@dataclass(frozen=True, slots=True)
class Learned:
    """One loop's learned parameters."""

    transit_s: float | None = None
    transit_cycles: int = 0

    def with_transit(self, transit_s: float) -> Learned:
        old = self.transit_s
        transit = transit_s if old is None else old + WEIGHT * (transit_s - old)
        return replace(self, transit_s=round(transit, 2), transit_cycles=self.transit_cycles + 1)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Learned:
        """Tolerant of older or newer rows: unknown keys are ignored, bad values dropped."""
        transit = data.get("transit_s")
        cycles = data.get("transit_cycles")
        if not isinstance(transit, int | float) or not 0 < transit <= 3600:
            return cls()
        return cls(
            transit_s=float(transit),
            transit_cycles=cycles if isinstance(cycles, int) and cycles >= 0 else 0,
        )
