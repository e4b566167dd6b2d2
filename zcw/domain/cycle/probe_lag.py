"""How far the cold-line probe's reading trails the water entering the cold line (I5 with
T_cold), and how the stop looks ahead by it.

The probe sits in the cold line just past the valve and reads the water that entered a few
seconds before: its own lag, the conversion, the reading's age. On a front that climbs
0.25 K/s that is about a kelvin; on one that climbs three times as fast (a tap drawing while
the pump runs adds its flow) it was 3.6 K, and a stop on a probe reading of 36 °C let
39.4 °C into the cold line (docs/learning.md, H4). So the stop projects the probe along its
own slope by that lag (:func:`ahead_c`), and the lag is learned from every stop the probe
saw: after it the valve is shut and the line's water stands, and the probe goes on rising
to the last water that entered; that rise over the slope it had at the stop is the lag.
"""

from __future__ import annotations

from dataclasses import dataclass

# The probe's slope is taken over its readings of this span: a fast front turns within it.
SLOPE_SPAN_S = 3.0
# After a stop, the probe's catch-up is watched this long (longer, and the line's standing
# water cools, or a cold tap's draw pulls mains water past it).
WATCH_S = 20.0
# A catch-up measures the lag only off a slope this steep: a flat probe divides its noise.
MIN_SLOPE_C_PER_S = 0.1
# A measured lag past this is not the probe's (a cold tap opened, a sensor moved): ignored.
MAX_LAG_S = 30.0


def ahead_c(cold_c: float, slope_c_per_s: float | None, lag_s: float) -> float:
    """The water entering the cold line now, from a probe reading ``lag_s`` behind it. Only
    a rising probe is projected: a falling one already reads over the water."""
    return cold_c + max(slope_c_per_s or 0.0, 0.0) * lag_s


@dataclass(slots=True)
class ProbeWatch:
    """The probe after one stop: its reading and slope then, and the highest since."""

    loop: str
    stop_s: float
    stop_c: float
    slope_c_per_s: float
    peak_c: float

    def add(self, value_c: float) -> None:
        self.peak_c = max(self.peak_c, value_c)

    def done(self, now_s: float) -> bool:
        return now_s - self.stop_s >= WATCH_S

    def lag_s(self) -> float | None:
        """The lag this catch-up shows, or None when it cannot tell."""
        if self.slope_c_per_s < MIN_SLOPE_C_PER_S:
            return None
        lag = (self.peak_c - self.stop_c) / self.slope_c_per_s
        return lag if 0.0 <= lag <= MAX_LAG_S else None
