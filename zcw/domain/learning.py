"""What zcw learns about each loop from its own cycles, with no hints and no hardware.

**Sensor lag τ**, after every cycle. When the pump stops, the water at the valve stands still
and cools only slowly, while the lagging sensor is still catching up with it. Inverting the lag
(:mod:`zcw.domain.arrival`) with the right τ turns that catching-up into a flat line; with τ too
small the reconstruction keeps rising, too large and it overshoots and decays. So τ is the value
whose reconstruction over the minute after the stop is closest to a straight line: a blind
deconvolution that needs no reference thermometer. A clamp on a plastic pipe is not a
first-order lag; its fit does not come out flat, is rejected, and the configured τ stays.

**Lead gain**, from the same fit. The flat reconstruction, read back at the stop, is the water
the stop left at the valve. Aiming that at just above ``ready_c`` — inside the window before
water over ``cold_line_max_c`` enters the cold line — turns each cycle into a measurement of
how early or late the arrival estimate stopped. Too hot: the estimate looked ahead too little,
so its gain goes up; too cold, down. The look-ahead extrapolates a front whose shape differs
from house to house (a gas heater's exponential approach, a storage tank's step), so its gain
is the loop's to learn.

**A sensor that never gets there.** A dry clip on plastic can sit below ``ready_c`` even with
hot water flowing (docs/physics.md §4). When a cycle runs to ``max_run_s`` although the sensor
clearly warmed, the loop learns to stop at that first warming instead: late, but seconds late
rather than minutes of hot water into the cold line. ``zcw reset``, which the fault's hint asks
for once the sensor is re-seated, forgets it again.

**Arrival, for a sensor that sees fronts late.** After each lone loop's cycle, the
reconstruction (with the learned τ) shows when the water itself crossed the stop's aim
(``ready_c`` + STANDING_TARGET_K, where the estimate aims too): the cycle's true arrival;
and, from a cooled pipe, the fit tells how far past the cold-line limit the water was when
the estimate stopped the pump.
A storage tank's step front (H3) outruns any look-ahead from a lagging clamp, yet it arrives
at a time set by how warm the pipe was at the start, within a fraction of a second, cycle
after cycle. Where the estimate is known to stop too late and a line through (reading at the
start, arrival) fits that well, the controller stops on the line's arrival instead, once the
sensor shows the front is on its way. Warm starts (a second shower) are on the line too,
unless their water came far sooner than any front could: hot water still standing upstream.
A stop that comes out clearly early (the water well short of ``ready_c``) sends the next
cycle back to the estimate, whose arrival then joins the line.

**Transit**: from every cycle that started from a cooled pipe, the time from pump start to
the stop on its arrival (seen by the sensor, or learned as above). Without a heater-outlet
sensor it is what tells "the heater did not fire" from "the pipe is long" (I6), it bounds
the stuck-sensor check on long loops, and it holds the look-ahead back until the heater's
water can be near the valve (a rise before that is the pipe's own water). Config hints (pipe
length and type, pump flow) give a first value before the loop has taught one.

It is exponentially weighted, so a re-plumbed loop or a new pump is relearned within a few
cycles, and it survives restarts: the store persists :class:`Learned` as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from itertools import pairwise
from typing import Any

from zcw.domain.arrival import recovered_c

# How much one new cycle moves what was learned: three or four cycles relearn a changed loop.
WEIGHT = 0.3
# The stop aims for standing water this far above ready_c as the fit reads it (≈ 0.6 K low):
# the water itself then sits ≈ 1.3 K above ready_c, under a cold-line limit 2 K above.
STANDING_TARGET_K = 0.7
# The look-ahead gain: where it starts, its range, and its step per kelvin of error, capped so
# one step front's cold or very hot stop cannot throw the gain away.
LEAD_GAIN_START = 0.5
LEAD_GAIN_RANGE = (0.0, 1.5)
GAIN_PER_K = 0.05
MAX_GAIN_STEP = 0.15

# Stop on the learned arrival only where stops on the estimate leave the water over the
# cold-line limit on average (as the fit reads it) …
SENSOR_OVER_K = 0.0
# … from the latest lone-loop cycles (warm ones too), at least this many, …
ARRIVAL_POINTS = 8
MIN_ARRIVAL_POINTS = 3
# … once a line through (reading at the start, arrival) fits them within this RMS: a fraction
# of the ≈ 1 s window between ready_c and the cold-line limit.
ARRIVAL_STEADY_S = 0.35
# The line is trusted this far (K) beyond the starts it was fitted on.
ARRIVAL_REACH_K = 5.0
# A warm start's arrival joins the line only this late in the cooled pipe's transit: sooner,
# it was hot water a draw left standing upstream, not the heater's front.
WARM_FRONT_TRANSIT = 0.8
# A stop on the learned arrival left the water clearly short of ready_c when the water
# standing at the valve after it reads this far below (see LagTrace.arrival_lesson).
CLEARLY_COLD_K = 2.0
# A sensor that reads a step of the water 63 % within this reads the water (commissioning).
GOOD_SENSOR_LAG_S = 20.0
# Commissioning's lag counts as half a full fit: a front that stepped on during the stop's
# spin-down stretches it a little, and the first cycles' fits should soon outweigh it.
COMMISSIONED_TAU_WEIGHT = 0.5
# A slug held the first warming back this many cycles in a row: forget the learned rise (a
# front that comes before half of it would look like a slug every time, and never teach).
SLUG_FORGET_CYCLES = 4

# The τ search: 0.5 s … ≈ 140 s in 5 % steps.
TAU_GRID_S = tuple(0.5 * 1.05**k for k in range(116))
# After the stop, judge the reconstruction over this window (s after the stop), from when
# the valve has closed and the water stands …
FIT_WINDOW_S = (1.0, 60.0)
# … only if the sensor still moved this much in it (else the stop was early: nothing to see) …
MIN_CATCH_UP_C = 1.0
# … and it counts fully from this much catch-up: below it the water's own cooling in the
# same minute pulls the fit's τ low.
FULL_CATCH_UP_C = 6.0
# … and accept it only if it came out this flat (standing water cools, it never heats).
FLAT_SLOPE_C_PER_S = (-0.1, 0.02)


@dataclass(frozen=True, slots=True)
class Learned:
    """One loop's learned parameters."""

    transit_s: float | None = None
    transit_cycles: int = 0
    tau_s: float | None = None
    tau_fits: int = 0
    # How much the fits behind tau_s weigh together (see with_tau), up to 1 / WEIGHT.
    tau_weight: float = 0.0
    lead_gain: float = LEAD_GAIN_START
    warm_lead_gain: float = LEAD_GAIN_START
    stops_on_rise: bool = False
    # Pump on → a cooled pipe's reading first rose WARMING_K (cycle.rise), in the cycles of a loop
    # that stops on its first warming whose reading no slug moved (see with_rise).
    rise_s: float | None = None
    # Cycles in a row whose first warming a slug held back (see after_slug).
    slug_cycles: int = 0
    # (reading at the start, pump on → water at the stop's aim) of the latest lone-loop cycles.
    arrivals: tuple[tuple[float, float], ...] = ()
    # The last stop on the learned arrival left the water clearly short of ready_c: the next
    # cycle stops on the estimate, and measures the arrival again.
    arrival_doubted: bool = False
    sensor_over_c: float | None = None
    # Commissioned (`zcw commission`): a watched first cycle measured the loop; what it found
    # of the sensor (its lag to read a step of the water, whether that is a single lag) and
    # the water the transit moves.
    commissioned: bool = False
    sensor_lag_s: float | None = None
    sensor_first_order: bool | None = None
    transit_volume_l: float | None = None
    # The transit commissioning measured, kept apart from transit_s (which the cycles move):
    # a loop whose sensor warms too late stops on it (zcw.domain.cycle.stops.TimedFront).
    commissioned_transit_s: float | None = None
    # How far the cold-line probe's reading trails the water entering the cold line (s),
    # learned from its catch-up after each stop (zcw.domain.cycle.probe_lag).
    cold_lag_s: float | None = None

    def with_cold_lag(self, lag_s: float) -> Learned:
        """A stop's catch-up showed the cold-line probe ``lag_s`` behind the water."""
        old = self.cold_lag_s
        lag = lag_s if old is None else old + WEIGHT * (lag_s - old)
        return replace(self, cold_lag_s=round(lag, 2))

    def with_standing(self, standing_c: float, target_c: float, *, warm: bool = False) -> Learned:
        """A stop left ``standing_c`` at the valve, aiming at ``target_c``: adjust the gain of
        its kind of start (see :meth:`gain_for`)."""
        step = max(-MAX_GAIN_STEP, min(MAX_GAIN_STEP, GAIN_PER_K * (standing_c - target_c)))
        old = self.gain_for(warm=warm)
        gain = round(max(LEAD_GAIN_RANGE[0], min(LEAD_GAIN_RANGE[1], old + step)), 3)
        return replace(self, warm_lead_gain=gain) if warm else replace(self, lead_gain=gain)

    def gain_for(self, *, warm: bool) -> float:
        """The look-ahead gain for a cycle from a cooled pipe, or from a warm one.

        A warm pipe (a second shower soon after the first) brings the front in on top of its
        own warm water, a shape unlike the cold start's, and the estimate needs a gain of its
        own: one shared gain, pulled by both, stops cold starts early and warm ones late.
        """
        return self.warm_lead_gain if warm else self.lead_gain

    def with_tau(self, tau_s: float, catch_up_c: float = FULL_CATCH_UP_C) -> Learned:
        """A fit found ``tau_s`` from a sensor that caught up ``catch_up_c`` after the stop.

        Geometric: τ spans two decades between an immersion probe and a dry clip. A fit
        counts by its catch-up (FULL_CATCH_UP_C), as a weighted mean over the first fits and
        an exponentially weighted one after, so a short catch-up — whose fit the standing
        water's own cooling pulls low — can no more set τ than it can move a settled one.
        """
        weight = min(max(catch_up_c / FULL_CATCH_UP_C, 0.0), 1.0) ** 2
        old, seen = self.tau_s, self.tau_weight
        if old is None or seen <= 0:
            tau, seen = tau_s, weight
        else:
            seen = min(seen + weight, 1 / WEIGHT)
            tau = math.exp(math.log(old) + weight / seen * math.log(tau_s / old))
        return replace(
            self, tau_s=round(tau, 3), tau_fits=self.tau_fits + 1, tau_weight=round(seen, 3)
        )

    def with_transit(self, transit_s: float) -> Learned:
        old = self.transit_s
        transit = transit_s if old is None else old + WEIGHT * (transit_s - old)
        return replace(self, transit_s=round(transit, 2), transit_cycles=self.transit_cycles + 1)

    def with_rise(self, rise_s: float) -> Learned:
        """A cooled pipe's reading first rose ``rise_s`` after pump on.

        A later rise is taken at once, an earlier one only in part: a slug the controller
        could not yet tell apart (the first cycles, before there is a rise to judge it by)
        only ever makes the rise come early, while the clean rise comes a sensor delay after
        the water and never before it.
        """
        old = self.rise_s
        rise = rise_s if old is None or rise_s > old else old + WEIGHT * (rise_s - old)
        return replace(self, rise_s=round(rise, 2), slug_cycles=0)

    def after_slug(self) -> Learned:
        """A slug held this cycle's first warming back. A front that comes before half the
        learned rise (a faster pump, a shorter pipe) would look like one every time and never
        teach: after SLUG_FORGET_CYCLES in a row the rise is forgotten and measured anew."""
        if self.slug_cycles + 1 >= SLUG_FORGET_CYCLES:
            return replace(self, rise_s=None, slug_cycles=0)
        return replace(self, slug_cycles=self.slug_cycles + 1)

    def with_arrival(self, start_c: float, arrival_s: float) -> Learned:
        """A cycle from a pipe reading ``start_c`` had its water at the stop's aim
        ``arrival_s`` after pump on."""
        point = (round(start_c, 2), round(arrival_s, 2))
        return replace(self, arrivals=(*self.arrivals, point)[-ARRIVAL_POINTS:])

    def with_arrival_doubted(self, doubted: bool) -> Learned:
        """Whether the latest cycle calls the line into doubt (see :meth:`arrival_for`)."""
        return replace(self, arrival_doubted=doubted)

    def with_sensor_over(self, over_c: float) -> Learned:
        """A stop on the estimate left the water ``over_c`` above the cold-line limit."""
        old = self.sensor_over_c
        over = over_c if old is None else old + WEIGHT * (over_c - old)
        return replace(self, sensor_over_c=round(over, 2))

    def arrival_for(self, start_c: float) -> float | None:
        """The arrival to stop on for a cycle starting at ``start_c``, or None where the
        estimate does as well or the arrivals are not steady enough (see the module doc)."""
        if self.arrival_doubted:
            return None
        if self.sensor_over_c is None or self.sensor_over_c < SENSOR_OVER_K:
            return None
        fit = _arrival_line(self.arrivals, start_c)
        if (
            fit is not None
            and fit[1] > ARRIVAL_STEADY_S
            and len(self.arrivals) > MIN_ARRIVAL_POINTS
        ):
            # One odd cycle (the day's first, say) must not hold the line back for eight.
            line, points = fit, self.arrivals
            misses = [abs(a - _arrival_line_at(line, c)) for c, a in points]
            worst = misses.index(max(misses))
            fit = _arrival_line(points[:worst] + points[worst + 1 :], start_c)
        if fit is None or fit[1] > ARRIVAL_STEADY_S:
            return None
        return _arrival_line_at(fit, start_c)

    def with_commission(
        self,
        *,
        transit_s: float | None,
        lag_s: float,
        first_order: bool,
        volume_l: float | None,
        warming_s: float | None,
        slow: bool,
        guarded: bool,
    ) -> Learned:
        """What a commissioning cycle measured becomes the loop's starting point: its transit,
        its sensor's lag (fitted in full, where the sensor follows the water as one lag), and
        for a slow sensor with no cold-line probe to stop on (``guarded``), a stop on its
        first warming from the first cycle on, at the time it took from a cooled pipe."""
        learned = replace(
            self,
            commissioned=True,
            sensor_lag_s=round(lag_s, 2),
            sensor_first_order=first_order,
            transit_volume_l=volume_l,
        )
        if transit_s is not None:
            learned = replace(learned, transit_s=round(transit_s, 2), transit_cycles=1)
            learned = replace(learned, commissioned_transit_s=round(transit_s, 2))
        if first_order:
            learned = replace(
                learned, tau_s=round(lag_s, 3), tau_fits=1, tau_weight=COMMISSIONED_TAU_WEIGHT
            )
        if slow and not guarded:
            learned = replace(learned, stops_on_rise=True)
            if warming_s is not None:
                learned = replace(learned, rise_s=round(warming_s, 2), slug_cycles=0)
        return learned

    def judged_anew(self) -> Learned:
        """After ``zcw reset`` (a re-seated sensor): forget what was concluded about the
        sensor, keep what was measured of the pipe."""
        return replace(
            self,
            stops_on_rise=False,
            rise_s=None,
            slug_cycles=0,
            sensor_over_c=None,
            arrival_doubted=False,
        )

    def summary(self) -> dict[str, Any]:
        """What an installer wants to see of it (``zcw status``): plain numbers, no internals."""
        coldest = min((c for c, _ in self.arrivals), default=None)
        on_arrival = coldest is not None and self.arrival_for(coldest) is not None
        return {
            "sensor_tau_s": self.tau_s,
            "transit_s": self.transit_s,
            "cycles": self.transit_cycles,
            "stops_on_rise": self.stops_on_rise,
            "first_warming_s": self.rise_s,
            "stops_on_learned_arrival": on_arrival,
            "commissioned": self.commissioned,
            "sensor_lag_s": self.sensor_lag_s,
            "sensor_reads_water": (
                None
                if self.sensor_first_order is None or self.sensor_lag_s is None
                else self.sensor_first_order and self.sensor_lag_s <= GOOD_SENSOR_LAG_S
            ),
            "transit_volume_l": self.transit_volume_l,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Learned:
        """Tolerant of older or newer rows: unknown keys are ignored, bad values dropped."""
        transit, transit_n = _number(data, "transit_s", 3600.0), _count(data, "transit_cycles")
        tau, tau_n = _number(data, "tau_s", 300.0), _count(data, "tau_fits")
        weight = _real(data.get("tau_weight"))
        # A row from before the weights: its τ stands as if fully weighed.
        weight = 1.0 if weight is None else min(max(weight, 0.0), 1 / WEIGHT)
        gain, warm_gain = _gain(data, "lead_gain"), _gain(data, "warm_lead_gain")
        return cls(
            arrivals=_points(data.get("arrivals")),
            arrival_doubted=data.get("arrival_doubted") is True,
            sensor_over_c=_signed(data, "sensor_over_c", 100.0),
            rise_s=_number(data, "rise_s", 3600.0),
            slug_cycles=_count(data, "slug_cycles"),
            transit_s=transit,
            transit_cycles=transit_n if transit is not None else 0,
            tau_s=tau,
            tau_fits=tau_n if tau is not None else 0,
            tau_weight=weight if tau is not None else 0.0,
            lead_gain=gain,
            warm_lead_gain=warm_gain,
            stops_on_rise=data.get("stops_on_rise") is True,
            commissioned=data.get("commissioned") is True,
            sensor_lag_s=_number(data, "sensor_lag_s", 3600.0),
            sensor_first_order=_flag(data.get("sensor_first_order")),
            transit_volume_l=_number(data, "transit_volume_l", 1000.0),
            commissioned_transit_s=_number(data, "commissioned_transit_s", 3600.0),
            cold_lag_s=_number(data, "cold_lag_s", 60.0),
        )


# A line through (start reading, arrival): its slope (s/K), its RMS residual (s), and a point
# on it (start, arrival).
_Line = tuple[float, float, tuple[float, float]]


def _arrival_line(points: Sequence[tuple[float, float]], start_c: float) -> _Line | None:
    """The line through enough arrivals, if ``start_c`` is near their starts and it falls."""
    if len(points) < MIN_ARRIVAL_POINTS:
        return None
    starts = [c for c, _ in points]
    if not min(starts) - ARRIVAL_REACH_K <= start_c <= max(starts) + ARRIVAL_REACH_K:
        return None  # a start unlike any seen: no far extrapolation
    mean_c, n = sum(starts) / len(starts), len(points)
    # The scatter about the line, unbiased: a line through three points fits them with one
    # degree of freedom to spare, and would look steadier than the pipe is.
    if max(starts) - min(starts) < 1.0:  # one start temperature: the line is its mean
        mean = sum(a for _, a in points) / n
        residual = sum((a - mean) ** 2 for _, a in points) / (n - 1)
        return 0.0, math.sqrt(residual), (mean_c, mean)
    slope, residual, at = _line(points, mean_c)
    if slope > 0:
        return None  # a warmer pipe never arrives later: this is not one pipe's behaviour
    return slope, math.sqrt(residual * n / (n - 2)), (mean_c, at)


def _arrival_line_at(line: _Line, start_c: float) -> float:
    slope, _, (c0, a0) = line
    return a0 + slope * (start_c - c0)


def _real(value: Any) -> float | None:
    """A finite JSON number as a float, else None (a bool is no number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too big for a float: JSON allows it
        return None
    return number if math.isfinite(number) else None


def _number(data: dict[str, Any], key: str, high: float) -> float | None:
    value = _real(data.get(key))
    return value if value is not None and 0 < value <= high else None


def _points(value: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list | tuple):  # a list once through JSON
        return ()
    points = []
    for item in value[-ARRIVAL_POINTS:]:
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        start, arrival = _real(item[0]), _real(item[1])
        if start is None or arrival is None:
            continue
        if -20.0 <= start <= 100.0 and 0.0 < arrival <= 3600.0:
            points.append((start, arrival))
    return tuple(points)


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _gain(data: dict[str, Any], key: str) -> float:
    value = _real(data.get(key))
    lo, hi = LEAD_GAIN_RANGE
    return value if value is not None and lo <= value <= hi else LEAD_GAIN_START


def _signed(data: dict[str, Any], key: str, bound: float) -> float | None:
    value = _real(data.get(key))
    return value if value is not None and -bound <= value <= bound else None


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _intervals(
    samples: Sequence[tuple[float, float]], tau_s: float
) -> list[tuple[float, float, float]]:
    """(start, end, water) of each interval between conversions, by exact inversion of a τ lag."""
    return [
        (t0, t1, recovered_c(s0, s1, t1 - t0, tau_s))
        for (t0, s0), (t1, s1) in pairwise(samples)
        if t1 > t0
    ]


def reconstruct(samples: Sequence[tuple[float, float]], tau_s: float) -> list[tuple[float, float]]:
    """The water over each interval between conversions, dated at the interval's end."""
    return [(t1, water) for _, t1, water in _intervals(samples, tau_s)]


def crossing_s(
    samples: Sequence[tuple[float, float]],
    tau_s: float,
    level_c: float,
    within: tuple[float, float],
) -> float | None:
    """When the reconstructed water first rose through ``level_c`` inside ``within``, or None.

    Each reconstructed value is the water over the interval between two conversions, so it
    sits at the interval's middle; the crossing is interpolated between those middles.
    """
    points = [((t0 + t1) / 2, water) for t0, t1, water in _intervals(samples, tau_s)]
    lo, hi = within
    for (ta, wa), (tb, wb) in pairwise(points):
        if wa < level_c <= wb and tb > lo:
            at = ta + (tb - ta) * (level_c - wa) / (wb - wa)
            if at > hi:
                return None
            if at >= lo:
                return at
    return None


def _line(points: Sequence[tuple[float, float]], at_s: float) -> tuple[float, float, float]:
    """Least-squares line: its slope, mean squared residual, and value at ``at_s``."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    stt = sum((t - mt) ** 2 for t, _ in points)
    slope = sum((t - mt) * (v - mv) for t, v in points) / stt if stt > 0 else 0.0
    residual = sum((v - mv - slope * (t - mt)) ** 2 for t, v in points) / n
    return slope, residual, mv + slope * (at_s - mt)


@dataclass(frozen=True, slots=True)
class LagFit:
    """What the minute after a stop shows: the sensor's τ, and the water the stop left at the
    valve (the flat reconstruction, back at the stop time)."""

    tau_s: float
    standing_c: float
    catch_up_c: float  # how far the reading moved in the window: what the fit had to go on


def fit_after_stop(samples: Sequence[tuple[float, float]], stop_s: float) -> LagFit | None:
    """Fit a cycle's readings ``[(t, °C)]`` that run a minute past the pump stop, or None."""
    lo, hi = stop_s + FIT_WINDOW_S[0], stop_s + FIT_WINDOW_S[1]
    window = [(t, v) for t, v in samples if lo - 1.5 <= t <= hi]
    if len(window) < 20 or window[-1][0] < hi - 2.0:
        return None
    values = [v for _, v in window]
    catch_up = max(values) - min(values)
    if catch_up < MIN_CATCH_UP_C:
        return None
    best: tuple[float, float, float, float] | None = None  # residual, τ, slope, value at stop
    for tau in TAU_GRID_S:
        points = [(t, w) for t, w in reconstruct(window, tau) if t >= lo]
        slope, residual, at_stop = _line(points, stop_s)
        if best is None or residual < best[0]:
            best = (residual, tau, slope, at_stop)
    if best is None:
        return None
    _, tau, slope, at_stop = best
    on_edge = tau in (TAU_GRID_S[0], TAU_GRID_S[-1])
    flat = FLAT_SLOPE_C_PER_S[0] <= slope <= FLAT_SLOPE_C_PER_S[1]
    return LagFit(tau, at_stop, catch_up) if flat and not on_edge else None


class LagTrace:
    """One loop's readings through a cycle and the minute after its pump stopped."""

    def __init__(self, loop: str) -> None:
        self.loop = loop
        self.samples: list[tuple[float, float]] = []
        self.stop_s: float | None = None
        # Set at the stop of a lone loop's cycle: what its arrival is judged against (see
        # Learned.with_arrival).
        self.pump_s: tuple[float, float] | None = None  # pump on, pump off
        self.start_c: float | None = None  # the loop's reading when the cycle started
        self.on_arrival = False  # the stop came from the learned arrival, not the estimate
        self.cooled = False  # it ran from a cooled pipe: its stop judges the estimate too
        self.warm = False  # it began with a warm pipe: its stop teaches the warm gain
        self.outlet: list[tuple[float, float]] = []  # the heater outlet's readings, if any
        # From when the minute after the stop shows water drawn (zcw.domain.cycle.draw):
        # nothing after it is the stop's, so it is neither fitted nor judged.
        self.spoiled_s: float | None = None
        self.window_s = FIT_WINDOW_S[1]  # how long after the stop it is watched
        self.commissioning = False  # a watched first cycle (zcw.domain.commission)

    def add(self, at_s: float, value_c: float) -> None:
        if not self.samples or at_s > self.samples[-1][0]:
            self.samples.append((at_s, value_c))

    def add_outlet(self, at_s: float, value_c: float) -> None:
        if not self.outlet or at_s > self.outlet[-1][0]:
            self.outlet.append((at_s, value_c))

    def complete(self, now_s: float) -> bool:
        return self.stop_s is not None and now_s >= self.stop_s + self.window_s + 1.0

    def fit(self) -> LagFit | None:
        if self.stop_s is None or self.spoiled_s is not None:
            return None
        return fit_after_stop(self.samples, self.stop_s)

    def peak_after_stop_c(self) -> float | None:
        """The highest reading in the minute after the stop, as the sensor caught up with the
        water the stop left at the valve."""
        if self.stop_s is None:
            return None
        stop, end = self.stop_s, self.spoiled_s if self.spoiled_s is not None else math.inf
        return max((v for t, v in self.samples if stop < t < end), default=None)

    def arrival_lesson(
        self,
        learned: Learned,
        *,
        ready_c: float,
        cold_line_max_c: float,
        tau_s: float,
        lag_s: float,
        standing_c: float | None,
    ) -> Learned:
        """What this cycle, if a lone loop ran it, teaches of its arrival.

        ``standing_c``: the water the fit found at the valve after the stop, if it fitted.
        """
        if self.pump_s is None or self.start_c is None or tau_s <= 0:
            return learned
        on, off = self.pump_s
        # The water moves until the valve closes, a valve lag after the pump stopped.
        crossed = crossing_s(self.samples, tau_s, ready_c, (on, off + lag_s))
        # The line is of the water's arrival where the estimate aims it, not at ready_c: on a
        # steep front a stop timed for ready_c itself left it short as often as not.
        aimed = crossing_s(self.samples, tau_s, ready_c + STANDING_TARGET_K, (on, off + lag_s))
        if aimed is not None and self._front_arrived(aimed - on, learned.transit_s):
            learned = learned.with_arrival(self.start_c, aimed - on)
        if not self.on_arrival:
            # A warm pipe's stop on the estimate judges neither the estimate (sensor_over_c
            # measures cooled-pipe fronts) nor the line. A cooled one's arrival is on the line
            # now (if it saw one): the line may be trusted again.
            if not self.cooled:
                return learned
            learned = learned.with_arrival_doubted(False)
            if standing_c is None:
                return learned
            return learned.with_sensor_over(standing_c - cold_line_max_c)
        return self._doubt(learned, crossed, ready_c, standing_c)

    def _doubt(
        self, learned: Learned, crossed: float | None, ready_c: float, standing_c: float | None
    ) -> Learned:
        """A stop on the line that came out clearly cold shows no arrival, so the line alone
        would never learn that the pipe got slower: the next cycle stops on the estimate, and
        puts the arrival it sees on the line. Only clearly: a ±0.5 K sensor cannot tell a stop
        right on the arrival from one just short of it (docs/tuning.md). Without a fit, the
        reading a minute after the stop has all but caught up with the water; after a draw,
        nothing tells what the stop left."""
        if self.spoiled_s is not None:
            return learned
        if standing_c is None and self.samples:
            standing_c = self.samples[-1][1]
        cold = standing_c is not None and standing_c < ready_c - CLEARLY_COLD_K
        return learned.with_arrival_doubted(crossed is None and cold)

    def _front_arrived(self, arrival_s: float, transit_s: float | None) -> bool:
        """Was it the heater's front that reached ready_c, so the arrival belongs on the line?

        From a cooled pipe, always. From a warm one only once a cooled-pipe transit is known,
        and not much before it: sooner, it was hot water that still stood upstream, whose
        arrival no reading at the valve can foretell.
        """
        if self.cooled:
            return True
        return transit_s is not None and arrival_s >= WARM_FRONT_TRANSIT * transit_s
