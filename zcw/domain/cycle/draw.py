"""A user draw in the minute after a stop: never learn from it, never judge it by it.

After the pump stops the water at the valve stands still and only cools, and the sensor
catches up with it: that minute is what the controller learns the sensor's lag and the
water the stop left from, and judges a late stop by. A user who opens the tap at
``hot_ready``, or any time after, moves fresh hot water past the sensor, and the minute no
longer shows the stop. Any of three signs says so:

- **the outlet sensor warms with the pump off**: the heater fires, so water is drawn;
- **the water warms**: standing water never heats. Reconstructed through the sensor's lag
  (:func:`zcw.domain.arrival.recovered_c`) it may seem to, by the part of the catch-up a
  lag known only roughly leaves unexplained; more than that is fresh water. Only for a
  sensor known to follow the water as a first-order lag (a fit, or its mount);
- **a second rise**: a passive sensor's catch-up only slows once it is past its steepest;
  a rise that speeds up again after it slowed is new water.

:func:`spoiled_from` gives the time from which the trace shows a draw (None: clean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from zcw.domain.arrival import recovered_c

# The outlet must warm this much with the pump off: the burner's own proof (I6's 3 K).
OUTLET_DRAW_RISE_C = 3.0
# How much of the catch-up a lag known only roughly may leave unexplained. A lag k times the
# sensor's reconstructs standing water that seems to warm by (1 − k) of the catch-up, of which
# the reconstruction shows k at first: (1 − k) / k. A fitted τ is within ≈ 20 % of the
# sensor's (k ≥ 0.8), a configured one within a factor of two (k ≥ 0.5, docs/physics.md §6) …
LEARNED_TAU_SLACK = 0.25
CONFIGURED_TAU_SLACK = 1.0
# … plus a DS18B20's noise through the inverse of the lag.
WARMING_MARGIN_C = 1.0
# The reconstruction spans this much time, so a 1/16 K step is not read as a warming.
RECONSTRUCT_SPAN_S = 3.0
# The reading's rise is judged over this span; a second rise is one this much faster than
# the slowest since the steepest, once the catch-up has slowed to half its steepest.
SLOPE_SPAN_S = 4.0
SECOND_RISE_C_PER_S = 0.06

Samples = Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class SensorModel:
    """What is known of the loop sensor's lag: ``tau_s``, fitted or only configured, and
    whether it follows the water as a first-order lag at all (a clamp on plastic does not)."""

    tau_s: float
    fitted: bool
    first_order: bool


def spoiled_from(
    samples: Samples, stop_s: float, sensor: SensorModel, outlet: Samples = ()
) -> float | None:
    """When, after ``stop_s``, the loop readings (and the outlet's) show water drawn."""
    after = [(t, v) for t, v in samples if t >= stop_s]
    found = [
        _outlet_warms(outlet, stop_s),
        _water_warms(after, stop_s, sensor) if sensor.first_order else None,
        _second_rise(after),
    ]
    times = [t for t in found if t is not None]
    return min(times) if times else None


def _outlet_warms(outlet: Samples, stop_s: float) -> float | None:
    low: tuple[float, float] | None = None
    for t, v in outlet:
        if t < stop_s:
            continue
        if low is None or v < low[1]:
            low = (t, v)
        elif v - low[1] >= OUTLET_DRAW_RISE_C:
            return low[0]
    return None


def _spanned(samples: Samples, span_s: float) -> list[tuple[float, float, float, float]]:
    """(t0, v0, t1, v1) for each sample and the first one ``span_s`` or more after it."""
    pairs = []
    j = 0
    for i, (t0, v0) in enumerate(samples):
        j = max(j, i + 1)
        while j < len(samples) and samples[j][0] - t0 < span_s:
            j += 1
        if j >= len(samples):
            break
        pairs.append((t0, v0, *samples[j]))
    return pairs


def _water_warms(after: Samples, stop_s: float, sensor: SensorModel) -> float | None:
    """The water reconstructed through the lag rises more than the lag's slack explains."""
    if sensor.tau_s <= 0:
        return None
    slack = LEARNED_TAU_SLACK if sensor.fitted else CONFIGURED_TAU_SLACK
    water = [
        (t1, recovered_c(v0, v1, t1 - t0, sensor.tau_s), v1)
        for t0, v0, t1, v1 in _spanned(after, RECONSTRUCT_SPAN_S)
    ]
    if not water:
        return None
    low_t, low_w, reading = water[0]
    allowance = slack * max(low_w - reading, 0.0) + WARMING_MARGIN_C
    for t, w, _ in water[1:]:
        if w < low_w:
            low_t, low_w = t, w
        elif w - low_w > allowance:
            return low_t
    return None


def _second_rise(after: Samples) -> float | None:
    """The rise slowed to half its steepest, then sped up again."""
    slopes = [(t0, (v1 - v0) / (t1 - t0)) for t0, v0, t1, v1 in _spanned(after, SLOPE_SPAN_S)]
    steepest = 0.0
    slowest: tuple[float, float] | None = None
    for (t, slope), (_, following) in pairwise(slopes):
        steepest = max(steepest, slope)
        caught_up = steepest >= SECOND_RISE_C_PER_S and slope <= steepest / 2
        if slowest is None and not caught_up:
            continue
        if slowest is None or slope < slowest[1]:
            slowest = (t, slope)
        faster = min(slope, following) - slowest[1]  # two spans running: not one step
        if faster >= SECOND_RISE_C_PER_S:
            return slowest[0]
    return None
