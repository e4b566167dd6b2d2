"""Commissioning: the installer's first cycle, watched (`zcw commission LOOP`).

One cycle from a cooled pipe with a stop no sensor can make late by much: the loop sensor's
first 1 K warming, or the cold-line probe. Then the water stands still at the valve and the
sensor catches up with it: a step response. From the cycle and the minutes after it:

- **the sensor's lag**: its 63 % response time to a step of the water. A sensor that follows
  the water as a first-order lag (on a brass valve body, immersed) is fitted as the lag fit of
  every cycle does (:func:`zcw.domain.learning.fit_after_stop`); any other (a clamp on a plastic
  pipe, whose wall adds its own lag) as two lags in series started by the front, over the
  whole record: the cycle's rise and the catch-up after it are one step response;
- **the transit**: pump on → the hot water at the valve, from the water reconstructed through
  that lag (the first-order case) or the front's time in the two-lag fit;
- **the volume moved** to bring it there: the transit at the pump's configured flow.

The verdict is the lag: a sensor that reads the water within ``GOOD_LAG_S`` is good; a slower
one reads hot water too late for any estimate, and wants a cold-line probe or moving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from zcw.domain.learning import GOOD_SENSOR_LAG_S, crossing_s, fit_after_stop, reconstruct

# After the stop, watch the sensor this long: a clamp on PPR takes minutes to catch up.
WATCH_S = 240.0
# A sensor that reads a step of the water 63 % within this reads the water: good.
GOOD_LAG_S = GOOD_SENSOR_LAG_S
# A first warming that stopped before the water was hot: its rise may be extrapolated this far.
EXTRAPOLATE_S = 10.0
# The two-lag fit: the faster lag is a fraction of the slower.
_FAST_FRACTIONS = (0.0, 0.1, 0.2, 0.35, 0.5)

Samples = Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Commissioned:
    """What a commissioning cycle measured."""

    transit_s: float | None  # pump on → hot water at the valve
    lag_s: float  # the sensor's 63 % response time to a step of the water
    first_order: bool  # it follows the water as a single lag (its τ is lag_s)
    volume_l: float | None  # moved in the transit, at the configured flow
    warming_s: float | None  # pump on → the sensor's first 1 K warming (where it stopped)

    @property
    def good(self) -> bool:
        return self.first_order and self.lag_s <= GOOD_LAG_S


def measure(
    samples: Samples,
    pump_s: tuple[float, float],
    *,
    ready_c: float,
    lag_after_s: float,
    flow_lpm: float | None,
    warming_s: float | None,
) -> Commissioned | None:
    """The figures from a commissioning cycle's readings ``[(t, °C)]``, which run
    ``WATCH_S`` past the pump's stop; ``pump_s`` is (on, off)."""
    on, off = pump_s
    fit = fit_after_stop(samples, off)
    if fit is not None and fit.tau_s <= 2 * GOOD_LAG_S:
        arrived = _arrival_s(samples, fit.tau_s, ready_c, on, off + lag_after_s)
        transit = None if arrived is None else arrived - on
        return _result(transit, fit.tau_s, True, flow_lpm, warming_s)
    two = fit_two_lags(samples, on, off)
    if two is None:
        return None
    front = two[0]
    lag = observed_lag_s(samples, front)
    if lag is None:
        return None
    return _result(front - on, lag, False, flow_lpm, warming_s)


def _arrival_s(
    samples: Samples, tau_s: float, ready_c: float, on_s: float, end_s: float
) -> float | None:
    """When the water, reconstructed through the lag, reached ready_c; or, where the stop
    came first (a fast sensor's first warming comes before the water is hot), when its rise
    at the stop would have taken it there, if that is near."""
    crossed = crossing_s(samples, tau_s, ready_c, (on_s, end_s))
    if crossed is not None:
        return crossed
    water = [(t, w) for t, w in reconstruct([p for p in samples if p[0] <= end_s], tau_s)]
    water = [(t, w) for t, w in water if t >= on_s][-4:]
    if len(water) < 2:
        return None
    (t0, w0), (t1, w1) = water[0], water[-1]
    slope = (w1 - w0) / (t1 - t0) if t1 > t0 else 0.0
    if slope <= 0 or w1 >= ready_c:
        return None
    ahead = (ready_c - w1) / slope
    return t1 + ahead if ahead <= EXTRAPOLATE_S else None


def observed_lag_s(samples: Samples, front_s: float) -> float | None:
    """From the front's arrival to the reading's 63 % of the way from where it stood before
    the front to the highest it reached: the sensor's response to the front, as seen."""
    before = [v for t, v in samples if t <= front_s]
    after = [(t, v) for t, v in samples if t > front_s]
    if not before or not after:
        return None
    start, peak = before[-1], max(v for _, v in after)
    if peak - start < 1.0:
        return None
    target = start + (1.0 - math.exp(-1.0)) * (peak - start)
    return next(t for t, v in after if v >= target) - front_s


def _result(
    transit: float | None,
    lag_s: float,
    first_order: bool,
    flow_lpm: float | None,
    warming_s: float | None,
) -> Commissioned:
    volume = None if transit is None or not flow_lpm else round(transit * flow_lpm / 60.0, 2)
    return Commissioned(
        transit_s=None if transit is None else round(transit, 2),
        lag_s=round(lag_s, 2),
        first_order=first_order,
        volume_l=volume,
        warming_s=warming_s,
    )


def step_response(t_s: float, slow_s: float, fast_s: float) -> float:
    """Two lags in series, 0 → 1 after a unit step at t = 0."""
    if t_s <= 0:
        return 0.0
    if fast_s <= 0:
        return 1.0 - math.exp(-t_s / slow_s)
    if abs(slow_s - fast_s) < 1e-6:
        return 1.0 - (1.0 + t_s / slow_s) * math.exp(-t_s / slow_s)
    a, b = math.exp(-t_s / slow_s), math.exp(-t_s / fast_s)
    return 1.0 - (slow_s * a - fast_s * b) / (slow_s - fast_s)


def response_63_s(slow_s: float, fast_s: float) -> float:
    """When the two lags' step response reaches 1 − 1/e."""
    target, lo, hi = 1.0 - math.exp(-1.0), 0.0, 10.0 * (slow_s + fast_s)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if step_response(mid, slow_s, fast_s) < target else (lo, mid)
    return (lo + hi) / 2


def fit_two_lags(samples: Samples, on_s: float, off_s: float) -> tuple[float, float, float] | None:
    """(front time, slow lag, fast lag) that best explain the readings from pump on as a
    step of the water at the front time, seen through two lags, plus the standing water's
    slow cooling after the stop. Least squares: the levels are linear, the times a grid,
    searched coarse then fine."""
    points = [(t, v) for t, v in samples if t >= on_s]
    if len(points) < 30:
        return None
    coarse = points[::2]
    slows = [2.0 * 1.25**k for k in range(23)]
    fronts = _frange(on_s, off_s, 2.0)
    best = _best(coarse, off_s, slows, _FAST_FRACTIONS, fronts)
    if best is None:
        return None
    front, slow, fraction = best
    slows = [slow * 1.025**k for k in range(-10, 11)]
    fractions = sorted({min(max(fraction + d, 0.0), 0.9) for d in (-0.1, -0.05, 0.0, 0.05, 0.1)})
    fronts = _frange(max(front - 2.5, on_s), min(front + 2.5, off_s), 0.25)
    best = _best(points, off_s, slows, fractions, fronts)
    if best is None:
        return None
    front, slow, fraction = best
    return front, slow, fraction * slow


def _frange(lo: float, hi: float, step: float) -> list[float]:
    out, x = [], lo
    while x <= hi + 1e-9:
        out.append(x)
        x += step
    return out


def _best(
    points: Samples,
    off_s: float,
    slows: Sequence[float],
    fractions: Sequence[float],
    fronts: Sequence[float],
) -> tuple[float, float, float] | None:
    best: tuple[float, float, float, float] | None = None
    for slow in slows:
        for fraction in fractions:
            for front in fronts:
                residual = _levels_residual(points, front, slow, fraction * slow, off_s)
                if best is None or residual < best[0]:
                    best = (residual, front, slow, fraction)
    return None if best is None else best[1:]


def _levels_residual(
    points: Samples, front_s: float, slow_s: float, fast_s: float, off_s: float
) -> float:
    """The squared residual of v ≈ a + b·R(t − front) − c·(t − off)⁺, a b c by least squares."""
    rows = [
        (1.0, step_response(t - front_s, slow_s, fast_s), max(t - off_s, 0.0)) for t, _ in points
    ]
    values = [v for _, v in points]
    return _lstsq_residual(rows, values)


def _lstsq_residual(rows: Sequence[tuple[float, float, float]], values: Sequence[float]) -> float:
    """Residual of the least-squares fit of three columns (normal equations, Cramer's rule)."""
    m = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    y = [sum(r[i] * v for r, v in zip(rows, values, strict=True)) for i in range(3)]
    det = _det3(m)
    if abs(det) < 1e-12:
        return math.inf
    coef = []
    for k in range(3):
        mk = [row[:] for row in m]
        for i in range(3):
            mk[i][k] = y[i]
        coef.append(_det3(mk) / det)
    return sum(
        (v - sum(c * x for c, x in zip(coef, r, strict=True))) ** 2
        for r, v in zip(rows, values, strict=True)
    )


def _det3(m: Sequence[Sequence[float]]) -> float:
    return (
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    )
