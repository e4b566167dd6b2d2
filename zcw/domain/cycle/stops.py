"""When is the hot water at the valve? A chain of stop policies, each with one answer.

Each policy answers ``should_stop(run, ctx)`` with its reason, or None. The chain asks them
in order and the first reason stops the loop:

1. ``estimate``: the water predicted from the lagging sensor (:mod:`zcw.domain.arrival`),
   looking ahead a spin-down, has reached the stop threshold (before it, ``settled``: a
   short cycle begun in doubt of hot water already there, which found it no cooler);
2. ``cold_probe``: the cold-line probe, just past the valve, has risen to it in this cycle
   (the better witness when the loop sensor is slow);
3. ``arrival``: a sensor too slow for this front, on a pipe that arrives on time: the
   arrival the loop learned (:meth:`Learned.arrival_for`), once the front shows;
4. ``first_warming``: a sensor that never reads ready_c in time (``stops_on_rise``): its
   first warming.

Before the *earliest front* (:func:`earliest_front_s`) a rise is the pipe's own water on the
move, not the heater's: the estimate does not look ahead, and a first warming is no front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from zcw.domain.arrival import SPIN_DOWN_S
from zcw.domain.cycle.probe_lag import ahead_c
from zcw.domain.cycle.rise import SLUG_EARLIEST_RISE, WARMING_K
from zcw.domain.cycle.run import COLD_START_K, LoopRun
from zcw.domain.learning import STANDING_TARGET_K, Learned
from zcw.domain.model import LoopParams, Params

# The front cannot reach the valve before this fraction of a cooled pipe's transit: the pipe's
# own water must be pushed out first (a warm pipe's comes at ≈ 0.65 of it, so stay below).
FRONT_EARLIEST_TRANSIT = 0.5
# A stop on the learned arrival waits for the recovered water to have risen this much, out of
# the cooled-pipe range: the front is at the sensor, not an ignition retry or a cold heater.
FRONT_EVIDENCE_K = 3.0

# A DS18B20 reads within this of the water (its datasheet's ±0.5 K).
SENSOR_ACCURACY_K = 0.5
# Where no cold line is at stake a stop a little late costs a fraction of a litre of hot
# water, one a little early a cold tap: aim this much later there.
NO_COLD_LINE_MARGIN_K = 1.0

StopReason = Literal["estimate", "cold_probe", "arrival", "first_warming", "settled", "timed"]
# A slow sensor's loop stops this far into the commissioned transit (it measures the transit
# to within ≈ 8 %) from a cooled pipe, and this far from a warm one, whose front comes at
# 0.65–0.9 of it (docs/tuning.md).
TIMED_COOLED_FRACTION = 0.9
TIMED_WARM_FRACTION = 0.6
# A cycle begun in doubt of hot water already at the valve pushes at least this long (the
# sensor's lag, to see the water from upstream), then stops if that water is no cooler …
DOUBT_PUSH_MIN_S = 5.0
# … than this under the reading it began with.
DOUBT_FALL_K = 0.25


@dataclass(frozen=True, slots=True)
class StopContext:
    """What a policy may know beyond the run: the time, the plumbing, what the loop learned."""

    now_s: float
    since_pump_s: float | None
    params: Params
    learned: Learned
    front_possible: bool  # the earliest front has passed
    burner_unproven: bool  # an outlet sensor has not yet seen the burner light
    lone: bool  # one loop on the pump
    cold_c: float | None  # the loop's cold-line probe, in crossover
    # … its slope of the last seconds, and how far it trails the water (.probe_lag)
    cold_slope_c_per_s: float | None = None
    cold_lag_s: float = 0.0
    doubt_push_s: float = DOUBT_PUSH_MIN_S  # how long a doubtful cycle pushes (SettledDoubt)


class StopPolicy(Protocol):
    """One answer to "is the hot water at the valve?"."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None: ...


def stop_threshold_c(params: Params, lp: LoopParams) -> float:
    """The estimate's aim. In crossover the water at the valve *is* what enters the cold line:
    ready_c, never past cold_line_max_c (I5 without T_cold). Into a return pipe or down a
    drain, NO_COLD_LINE_MARGIN_K past ready_c. Everywhere the look-ahead's learned gain sets
    where the water stands after the stop (standing_target_c)."""
    if params.topology == "crossover":
        return min(lp.ready_c, params.cold_line_max_c)
    return lp.ready_c + NO_COLD_LINE_MARGIN_K


def earliest_front_s(run: LoopRun, learned: Learned, transit_s: float | None) -> float:
    """Pump on → the earliest the heater's front can be at the valve: half a cooled pipe's
    transit, and, for a slow sensor that learned its clean first warming from a cooled pipe,
    what a slug's creep allows (:meth:`RiseTracker.slug_hold_s`). A warm pipe's cycle is
    never held for a slug: its front comes early, and the rise is learned from cooled pipes."""
    earliest = 0.0 if not transit_s else FRONT_EARLIEST_TRANSIT * transit_s
    rise_s = learned.rise_s
    if rise_s is not None and not run.warm and SLUG_EARLIEST_RISE * rise_s < run.params.max_run_s:
        earliest = max(earliest, run.rise.slug_hold_s(rise_s))
    return earliest


class Estimate:
    """The recovered water, looking ahead once the front can be there. A cycle begun in doubt
    of the water already at the valve (admission.hot_now) wants it a sensor's accuracy past
    the threshold: water a degree cooler than it reads must not pass for hot."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        estimate = run.estimator.water_c(ctx.now_s, look_ahead=ctx.front_possible)
        threshold = stop_threshold_c(ctx.params, run.params)
        if run.confirm:
            threshold += SENSOR_ACCURACY_K
        hot = estimate is not None and estimate >= threshold
        return "estimate" if hot else None


class ColdProbe:
    """T_cold sits just past the valve: the water it reads is the water at the valve, a few
    seconds later, seen by a probe in the flow; the stop projects it by those seconds
    (:mod:`.probe_lag`). It must have risen in this cycle to say the front came: the slug a
    previous stop left behind the valve can still be warm when the next cycle starts. But
    water a sensor's accuracy under the cold line's limit is never pushed on, risen or not:
    a re-heat of a pipe still hot behind its valve (a loop whose sensor cannot read the
    water, re-heated two minutes after its last stop) pushes it in from the first second."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        if ctx.cold_c is None:
            return None
        risen = run.rise.cold_risen(ctx.cold_c)
        water = ahead_c(ctx.cold_c, ctx.cold_slope_c_per_s, ctx.cold_lag_s)
        hot = risen and water >= stop_threshold_c(ctx.params, run.params)
        at_limit = water >= ctx.params.cold_line_max_c - SENSOR_ACCURACY_K
        return "cold_probe" if hot or at_limit else None


class LearnedArrival:
    """A lone loop's cycle (a second loop halves the flow) stops on the arrival it learned, a
    spin-down ahead, once the recovered water shows the front on its way: risen, and out of
    the cooled-pipe range, so a heater that lit late or never earns no stop (I6)."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        since = ctx.since_pump_s
        if ctx.params.topology != "crossover" or since is None:
            return None
        if not ctx.lone or run.start_c is None:
            return None
        arrival = ctx.learned.arrival_for(run.start_c)
        if arrival is None or since < arrival - SPIN_DOWN_S or ctx.burner_unproven:
            return None
        water = run.estimator.water_c(ctx.now_s, look_ahead=False)
        start = run.rise.min_c
        if water is None or start is None:
            return None
        shows = water - start >= FRONT_EVIDENCE_K and water >= run.params.ready_c - COLD_START_K
        return "arrival" if shows else None


class FirstWarming:
    """A sensor that reads ready_c late or never (the loop learned ``stops_on_rise``): its
    first warming, once the front can be there and the burner has lit."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        warmed = (
            ctx.learned.stops_on_rise
            and run.rise.rose(WARMING_K)
            and not ctx.burner_unproven
            and ctx.front_possible
        )
        return "first_warming" if warmed else None


class TimedFront:
    """A sensor commissioning found too slow, with no cold-line probe to stop on: its first
    warming comes seconds after the water (a clamp on bare PPR: ≈ 10 s, a litre of hot water
    into the cold line). It stops on the time instead, a little before the front can be at
    the valve by the transit commissioning measured (earlier still from a warm pipe, whose
    front comes sooner): the cold line is kept safe, and the last of the cool water reaches
    the tap when it is opened. The loop's config check and status ask for a better sensor."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        transit = ctx.learned.commissioned_transit_s
        since = ctx.since_pump_s
        if not ctx.learned.stops_on_rise or transit is None or since is None:
            return None
        if ctx.burner_unproven:
            return None
        fraction = TIMED_WARM_FRACTION if run.warm else TIMED_COOLED_FRACTION
        return "timed" if since >= fraction * transit - SPIN_DOWN_S else None


class AnyWarming:
    """Commissioning: the first warming of any sensor, wherever it sits, once the burner lit;
    no estimate, since nothing is known yet of the sensor it would invert."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        warmed = run.rise.rose(WARMING_K) and not ctx.burner_unproven
        return "first_warming" if warmed else None


class SettledDoubt:
    """In crossover a cycle begun in doubt (admission.hot_now) of water that reads hot is a
    short one: it replaces the water at the valve with the pipe's own from upstream, as long
    as the sensor needs to see it, and stops there if it is no cooler: the water is as hot as
    it was, and waiting for the heater's front behind a warm pipe, which a lagging sensor
    sees late, would push it into the cold line. A cooler pipe upstream (the reading falls)
    makes it a plain cycle. So does a reading under ready_c: water no cooler than that is
    still not hot, and only the heater's front makes it so."""

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        if not run.confirm or ctx.params.topology != "crossover" or ctx.since_pump_s is None:
            return None
        if run.start_c is None or run.start_c < run.params.ready_c:
            return None
        return "settled" if ctx.since_pump_s >= ctx.doubt_push_s else None


class StopChain:
    """The policies in order; the first reason stops the loop. A commissioning cycle has a
    chain of its own: the cold-line probe, or the sensor's first warming."""

    def __init__(self, policies: Sequence[StopPolicy] | None = None) -> None:
        self.first_warming = FirstWarming()
        self.policies: tuple[StopPolicy, ...] = tuple(
            policies
            or (
                SettledDoubt(),
                Estimate(),
                ColdProbe(),
                LearnedArrival(),
                TimedFront(),
                self.first_warming,
            )
        )
        self.commissioning: tuple[StopPolicy, ...] = (ColdProbe(), AnyWarming())

    def should_stop(self, run: LoopRun, ctx: StopContext) -> StopReason | None:
        for policy in self.commissioning if run.commissioning else self.policies:
            reason = policy.should_stop(run, ctx)
            if reason is not None:
                return reason
        return None


def standing_target_c(params: Params, lp: LoopParams) -> float:
    """Where the look-ahead's gain aims the water standing at the valve after a stop, as the
    lag fit reads it (STANDING_TARGET_K past ready_c; past the threshold elsewhere)."""
    return stop_threshold_c(params, lp) + STANDING_TARGET_K
