"""Hot draws and tap-flicks, told from sensor signatures while the pump is off.

Nothing here knows about taps being opened: zcw has no flow sensor. It sees two things.

- **T_out** (the heater outlet, optional): a gas burner lights a few seconds after any hot
  tap opens, and the outlet rises several kelvin within a minute (from a cooled heat
  exchanger, or after the dip the cold mains water makes in a warm one). That is the onset.
- **T_loop** (at each far tap): hot water reaches the valve only if the draw is at that tap
  and lasts longer than the pipe's volume takes to flow out. That says *which* loop, and that
  the draw was a real one.

A **draw** at a loop is a T_loop rise (``RISE_K`` above its lowest in ``WINDOW_S``), dated
back to the T_out onset that came before it (or, without T_out, by the loop's transit). It
ends when the reading falls from its peak (the water stands and cools).

A **tap-flick** (点动) is a T_out onset that no loop answers with hot water within the time
a real draw at any loop would have taken to bring it (learned from the draws seen, else
from the pump's transit): the tap was closed again before the water could arrive, so the
user asked for a pre-heat. Only for loops that allow it and whose water is cold.

Never a draw or a flick:

- pump-driven flow: nothing is judged while the pump runs;
- a cycle's tail: a lagging sensor goes on rising after the pump stops. Each sensor is
  judged again only once its reading has stopped rising (``SETTLE_S``), from there on;
- the heater's own cycling (a tank's thermostat, a burner cycling at minimum power): a
  rise counts only if it happens within ``WINDOW_S`` — a thermostat takes many minutes.

Pure and cheap: one sample per sensor per second at most, a few small deques.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from zcw.domain.cycle.run import COLD_START_K

# A draw at a loop: its reading rises this much within WINDOW_S. A DS18B20 steps by
# 0.0625 K and jitters by a step or two; ambient drifts by a fraction of a kelvin an hour.
RISE_K = 2.0
# The outlet: a burner lighting moves it far more than this within WINDOW_S (I6 in
# docs/safety.md uses the same 3 K to prove the burner in a cycle).
OUT_RISE_K = 3.0
WINDOW_S = 60.0
# A loop answers an onset when its reading rises this much after it (a clip on plastic
# rises slowly; a small clear rise is enough once the burner has said a tap is open).
ANSWER_K = 0.5
# A sensor is judged again once its reading has not risen for this long after a cycle.
SETTLE_S = 20.0
# In a cycle's tail the reading catches up with the water the stop left at the valve, which
# the controller aims under cold_line_max_c (2 K over ready_c by default): a reading this
# far over ready_c is a tap drawing the heater's water through, tail or not …
TAIL_DRAW_K = 4.0
TAIL_MARGIN_K = 2.0
# … unless the heater's water is not that far over it. A step front (a storage tank on
# copper) can leave several kelvin more than the aim at a sensor a few cells from the valve,
# so once draws have shown the heater's water at a loop, a tail's draw is water within this
# much of the hottest of them (a DS18B20 reads 95 % of a step in three lags; a tank a shower
# has half emptied is a few kelvin cooler).
HEATER_WATER_MARGIN_K = 5.0
# A reading that rose this much in the last RECENT_S may be a tap opening (the burner has
# not lit yet, or the hot water has only begun to arrive): no keep-warm cycle then.
STIR_K = 0.25
STIR_OUT_K = 1.0
RECENT_S = 20.0
TAIL_MAX_S = 900.0
# A draw is over when the reading has fallen this far from a peak this old (the water stands
# and cools). A dip inside a draw (the cold slug a gas heater sends while it ignites) comes
# back up to a new peak well within END_HOLD_S.
END_DROP_K = 0.5
END_HOLD_S = 60.0
# Sampling: at most one sample per sensor this often.
SAMPLE_S = 1.0
# Without any learned figure, how long a draw's hot water may take to reach a loop sensor.
DEFAULT_ANSWER_S = 150.0
ANSWER_MARGIN = 1.25
RECENT_DELAYS = 12


@dataclass(frozen=True, slots=True)
class LoopHints:
    """What the controller has learned of a loop, for judging draws there."""

    transit_s: float | None = None  # pump on → hot at the valve
    tau_s: float = 8.0  # the loop sensor's lag
    ready_c: float = 36.0
    hysteresis_c: float = 0.5


@dataclass(frozen=True, slots=True)
class Draw:
    """A hot draw: at ``loop`` (None when only the outlet saw it), from ``start_s`` for
    ``duration_s`` (None when unknown)."""

    loop: str | None
    start_s: float
    duration_s: float | None
    via: str  # "outlet+loop", "loop" or "outlet"


@dataclass(frozen=True, slots=True)
class Flick:
    """A tap-flick asking for hot water at ``loop``; the burner lit at ``onset_s``."""

    loop: str
    onset_s: float
    at_s: float


@dataclass
class Found:
    draws: list[Draw] = field(default_factory=list)
    flicks: list[Flick] = field(default_factory=list)


@dataclass
class _Trace:
    """One sensor's recent samples while it is judged, and whether a cycle's tail holds it."""

    window: deque[tuple[float, float]] = field(default_factory=deque)
    last_s: float = -1e18
    tail: bool = False
    tail_start_s: float = 0.0
    tail_peak_c: float = -1e9
    tail_peak_s: float = 0.0
    recent: tuple[float, float] = (-1e18, 0.0)  # the latest sample, judged or not
    lows: deque[tuple[float, float]] = field(default_factory=deque)  # last RECENT_S

    def note(self, now: float, value: float) -> None:
        self.recent = (now, value)
        self.lows.append((now, value))
        while self.lows and now - self.lows[0][0] > RECENT_S:
            self.lows.popleft()

    def add(self, now: float, value: float) -> None:
        self.window.append((now, value))
        while self.window and now - self.window[0][0] > WINDOW_S:
            self.window.popleft()

    def low(self) -> tuple[float, float] | None:
        """The lowest sample in the window (the latest, if several), or None."""
        if not self.window:
            return None
        best = self.window[0]
        for t, v in self.window:
            if v <= best[1]:
                best = (t, v)
        return best

    def start_tail(self, now: float) -> None:
        self.tail, self.tail_start_s = True, now
        self.tail_peak_c, self.tail_peak_s = -1e9, now
        self.window.clear()

    def settle(self, now: float, value: float) -> bool:
        """In a tail: has the reading stopped rising? Then it is judged from here on."""
        if value > self.tail_peak_c + 0.01:
            self.tail_peak_c, self.tail_peak_s = value, now
        if now - self.tail_peak_s >= SETTLE_S or now - self.tail_start_s >= TAIL_MAX_S:
            self.tail = False
            self.window.clear()
        return not self.tail


@dataclass
class _Open:
    """A draw under way at a loop."""

    start_s: float
    via: str
    peak_c: float
    peak_s: float  # the last time the reading was at its peak


@dataclass
class _Onset:
    """The outlet said a tap opened; which loop answers, if any?"""

    at_s: float
    deadline_s: float
    loop_c: dict[str, float | None]  # each loop's reading at the onset
    tail_loops: tuple[str, ...]  # loops still in a cycle's tail then
    claimed: bool = False  # a loop's draw took it as its start
    answered: str | None = None  # the loop whose reading first rose after it


class DrawDetector:
    """Feed :meth:`step` every tick (it samples once a second); it returns what it found."""

    def __init__(
        self,
        loops: Sequence[str],
        *,
        has_outlet: bool,
        tapflick: Collection[str] = (),
    ) -> None:
        self.loops = tuple(loops)
        self.has_outlet = has_outlet
        self.tapflick = tuple(name for name in self.loops if name in set(tapflick))
        self._loop = {name: _Trace() for name in self.loops}
        self._out = _Trace()
        self._open: dict[str, _Open] = {}
        self._onsets: list[_Onset] = []
        self._out_armed = True
        self._out_peak_c = -1e9
        self._out_peak_s = 0.0
        self._pumping = False
        self._rose_s: dict[str, float] = {}  # when each loop's latest draw showed at its sensor
        # Seconds from an outlet onset to the answering loop's rise, per loop (learned).
        self.delays: dict[str, deque[float]] = {n: deque(maxlen=RECENT_DELAYS) for n in loops}
        # The highest readings of recent tails that held no draw, per loop.
        self.ceilings: dict[str, deque[float]] = {n: deque(maxlen=RECENT_DELAYS) for n in loops}
        # The highest readings of recent draws, per loop: the heater's water as it arrives.
        self.draw_peaks: dict[str, deque[float]] = {n: deque(maxlen=RECENT_DELAYS) for n in loops}

    def __repr__(self) -> str:
        return (
            f"DrawDetector(loops={self.loops}, outlet={self.has_outlet}, "
            f"tapflick={self.tapflick}, open={sorted(self._open)})"
        )

    # -- public -----------------------------------------------------------------------------

    @property
    def drawing(self) -> bool:
        """A tap is (or may be) running: a draw is under way, an onset awaits its answer, or a
        reading has just begun to rise. A keep-warm cycle then would only push the user's hot
        water into the cold line."""
        if self._open or any(not o.claimed for o in self._onsets):
            return True
        stirring = [(t, STIR_K) for t in self._loop.values()] + [(self._out, STIR_OUT_K)]
        return any(_rose_lately(trace, k) for trace, k in stirring)

    def answer_s(self, hints: Mapping[str, LoopHints]) -> float:
        """How long after an onset a real draw at any loop would have shown at its sensor."""
        bounds = []
        for name in self.loops:
            seen = self.delays[name]
            h = hints.get(name, LoopHints())
            if len(seen) >= 3:
                bounds.append(max(seen) * ANSWER_MARGIN + h.tau_s)
            elif h.transit_s is not None:
                # A draw runs at about the pump's flow, or half of it at a kitchen tap.
                bounds.append(2.0 * h.transit_s + 3 * h.tau_s)
            else:
                bounds.append(DEFAULT_ANSWER_S)
        return max(bounds) if bounds else DEFAULT_ANSWER_S

    def step(
        self,
        now_s: float,
        *,
        pumping: bool,
        loop_c: Mapping[str, float | None],
        out_c: float | None,
        hints: Mapping[str, LoopHints],
    ) -> Found:
        found = Found()
        if pumping:
            if not self._pumping:
                self._begin_pumping(now_s, found)
            self._pumping = True
            return found
        if self._pumping:
            self._pumping = False
            for trace in (*self._loop.values(), self._out):
                trace.start_tail(now_s)
            self._out_armed = True
        if self.has_outlet and out_c is not None:
            self._step_outlet(now_s, out_c, loop_c, hints)
        for name in self.loops:
            value = loop_c.get(name)
            if value is not None:
                self._step_loop(name, now_s, value, hints.get(name, LoopHints()), found)
        self._judge_onsets(now_s, loop_c, hints, found)
        return found

    # -- the outlet -------------------------------------------------------------------------

    def _step_outlet(
        self,
        now: float,
        value: float,
        loop_c: Mapping[str, float | None],
        hints: Mapping[str, LoopHints],
    ) -> None:
        trace = self._out
        if now - trace.last_s < SAMPLE_S:
            return
        trace.last_s = now
        trace.note(now, value)
        if trace.tail and not trace.settle(now, value):
            return
        if not self._out_armed:
            # After an onset, the outlet climbs to the burner's temperature and stays: the
            # next onset needs it to have stopped rising first (a new dip, a new rise).
            if value > self._out_peak_c + 0.01:
                self._out_peak_c, self._out_peak_s = value, now
            if now - self._out_peak_s < SETTLE_S:
                return
            self._out_armed = True
            trace.window.clear()
        trace.add(now, value)
        low = trace.low()
        if low is None or value - low[1] < OUT_RISE_K:
            return
        self._out_armed = False
        self._out_peak_c, self._out_peak_s = value, now
        onset = low[0]
        # A loop whose reading rose first (hot water already standing just upstream) has its
        # draw under way: the burner lighting is that draw's onset, not a new one.
        recent = [n for n, o in self._open.items() if o.start_s >= onset - WINDOW_S - SETTLE_S]
        if recent:
            current = self._open[recent[-1]]
            current.start_s, current.via = min(current.start_s, onset), "outlet+loop"
            return
        tails = tuple(n for n in self.loops if self._loop[n].tail)
        self._onsets.append(
            _Onset(
                at_s=onset,
                deadline_s=onset + self.answer_s(hints),
                loop_c={n: loop_c.get(n) for n in self.loops},
                tail_loops=tails,
            )
        )

    # -- the loops --------------------------------------------------------------------------

    def _step_loop(
        self, name: str, now: float, value: float, hints: LoopHints, found: Found
    ) -> None:
        trace = self._loop[name]
        if now - trace.last_s < SAMPLE_S:
            return
        trace.last_s = now
        if trace.tail and value >= self._tail_draw_c(name, hints):
            # The heater's water at the valve in a cycle's tail: someone is drawing.
            trace.tail = False
            trace.window.clear()
            onset = self._claim(name, now, now, hints)
            start = onset.at_s if onset is not None else now - (hints.transit_s or 0.0)
            self._open[name] = _Open(start, "outlet+loop" if onset else "loop", value, now)
            self._rose_s[name] = now
            return
        trace.note(now, value)
        if trace.tail:
            if not trace.settle(now, value):
                return
            self.ceilings[name].append(trace.tail_peak_c)  # a tail with no draw in it
        current = self._open.get(name)
        if current is not None:
            if value > current.peak_c:
                current.peak_c = value
            if value >= current.peak_c - END_DROP_K / 2:
                current.peak_s = now  # still running: the reading holds at its peak
            elif value <= current.peak_c - END_DROP_K and now - current.peak_s >= END_HOLD_S:
                del self._open[name]
                trace.window.clear()
                self.draw_peaks[name].append(current.peak_c)
                found.draws.append(
                    Draw(
                        name,
                        current.start_s,
                        max(current.peak_s - current.start_s, 0.0),
                        current.via,
                    )
                )
            return
        trace.add(now, value)
        low = trace.low()
        if low is None or value - low[1] < RISE_K:
            return
        rise_s = low[0]
        onset = self._claim(name, rise_s, now, hints)
        if onset is not None:
            start, via = onset.at_s, "outlet+loop"
        else:
            back = hints.transit_s or 0.0
            start, via = rise_s - back, "loop"
        self._open[name] = _Open(start, via, value, now)
        self._rose_s[name] = rise_s

    def _tail_draw_c(self, name: str, hints: LoopHints) -> float:
        """A reading this high in a cycle's tail is a draw: TAIL_DRAW_K over ready_c, over the
        highest this loop's sensor caught up to after recent stops (a late stop, or a return
        line's hot standing water, leaves more than cold_line_max_c), and near the heater's
        water where draws have shown it (a step front's stop leaves more than both)."""
        seen, drawn = self.ceilings[name], self.draw_peaks[name]
        return max(
            hints.ready_c + TAIL_DRAW_K,
            max(seen) + TAIL_MARGIN_K if seen else -1e9,
            max(drawn) - HEATER_WATER_MARGIN_K if drawn else -1e9,
        )

    def _claim(self, name: str, rise_s: float, now: float, hints: LoopHints) -> _Onset | None:
        """The latest unclaimed outlet onset this loop's rise answers, if any."""
        for onset in reversed(self._onsets):
            if not onset.claimed and onset.at_s <= rise_s + SAMPLE_S:
                onset.claimed = True
                if onset.answered is None:
                    onset.answered = name
                    self._learn_delay(onset, name, now, hints)
                return onset
        return None

    def _learn_delay(self, onset: _Onset, name: str, now: float, hints: LoopHints) -> None:
        """How long a draw's hot water took to show at this loop from a cooled pipe: what a
        flick is judged by. A pipe still warm from a cycle or a draw answers within seconds,
        and a dozen such answers would crowd out the cooled pipe's (H2: a bound of 34 s, and
        draws from a cold pipe, 58-65 s, taken for flicks)."""
        before = onset.loop_c.get(name)
        if (
            name not in onset.tail_loops
            and before is not None
            and before <= (hints.ready_c - COLD_START_K)
        ):
            self.delays[name].append(now - onset.at_s)

    def _judge_onsets(
        self,
        now: float,
        loop_c: Mapping[str, float | None],
        hints: Mapping[str, LoopHints],
        found: Found,
    ) -> None:
        keep = []
        for onset in self._onsets:
            if onset.claimed:
                continue
            if onset.answered is None:
                onset.answered = self._answered(onset, loop_c)
                if onset.answered is not None:
                    name = onset.answered
                    self._learn_delay(onset, name, now, hints.get(name, LoopHints()))
            answered = onset.answered
            if now < onset.deadline_s:
                keep.append(onset)
                continue
            if answered is not None and answered not in onset.tail_loops:
                if self._rose_s.get(answered, -1e18) < onset.at_s - WINDOW_S:
                    # A small rise at a loop the 2 K rule never called a draw.
                    found.draws.append(Draw(answered, onset.at_s, None, "outlet+loop"))
            elif onset.tail_loops:
                # The user opened the tap zcw had just heated (its sensor is still catching
                # up, so it cannot say): a draw there, never a flick.
                found.draws.append(Draw(onset.tail_loops[-1], onset.at_s, None, "outlet"))
            elif any(t >= onset.at_s - WINDOW_S - SETTLE_S for t in self._rose_s.values()):
                pass  # a draw some loop's sensor showed first: the burner lit for it
            elif answered is None and (loop := self._flick_loop(onset, hints)) is not None:
                found.flicks.append(Flick(loop, onset.at_s, now))
            else:
                found.draws.append(Draw(answered, onset.at_s, None, "outlet"))
        self._onsets = keep

    def _answered(self, onset: _Onset, loop_c: Mapping[str, float | None]) -> str | None:
        best, rise = None, ANSWER_K
        for name in self.loops:
            before, now = onset.loop_c.get(name), loop_c.get(name)
            if before is not None and now is not None and now - before >= rise:
                best, rise = name, now - before
        return best

    def _flick_loop(self, onset: _Onset, hints: Mapping[str, LoopHints]) -> str | None:
        """The loop a flick asks for: the first tap-flick loop whose water was cold."""
        for name in self.tapflick:
            h = hints.get(name, LoopHints())
            before = onset.loop_c.get(name)
            if before is not None and before < h.ready_c - h.hysteresis_c:
                return name
        return None

    def _begin_pumping(self, now: float, found: Found) -> None:
        # A draw under way when the pump starts ends here (the pump's flow takes over the
        # readings); onsets still waiting for an answer can no longer get one.
        for name, current in list(self._open.items()):
            found.draws.append(
                Draw(name, current.start_s, max(current.peak_s - current.start_s, 0.0), current.via)
            )
        self._open.clear()
        for onset in self._onsets:
            if not onset.claimed:
                found.draws.append(Draw(None, onset.at_s, None, "outlet"))
        self._onsets.clear()


def _rose_lately(trace: _Trace, by_k: float) -> bool:
    if not trace.lows:
        return False
    return trace.recent[1] - min(v for _, v in trace.lows) >= by_k
