"""What a start request gets: a new cycle, a place in the running one, or a reason why not.

The rules, in order: an unknown loop, away mode (automatic sources only), a fault or a
loop that cannot open yet (held a little if nothing is wrong, while the bridge connects or
the first reading comes), a loop already heating (joined), a pipe that may still be warm
behind a sensor that cannot tell (automatic sources only, see blind_hold), water already
hot, a cycle in progress (joined), the rest between cycles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from zcw.domain import faults as F
from zcw.domain.cycle.cold_line import ColdLineGuard
from zcw.domain.cycle.events import FaultBook
from zcw.domain.cycle.phases import Phase
from zcw.domain.cycle.run import COLD_START_K, cooled
from zcw.domain.cycle.sensor_board import SensorBoard
from zcw.domain.cycle.stops import SENSOR_ACCURACY_K
from zcw.domain.faults import Fault
from zcw.domain.model import EventKind, Mode, Params, Request, loop_key

# A start asked before anything is wrong but before the loop has a reading (the daemon just
# started, the bridge just reconnected) waits this many sensor periods for one.
HOLD_PERIODS = 2.0


Kind = Literal["rejected", "hold", "joined", "already_hot", "join", "begin"]


@dataclass(frozen=True, slots=True)
class Answer:
    """``join``: a new loop in the running cycle; ``joined``: it was heating already."""

    kind: Kind
    reason: str | None = None
    data: Mapping[str, float | str | None] = field(default_factory=dict)
    # The water may be just under ready_c: the cycle must see hot water come (see hot_now).
    confirm: bool = False

    @property
    def event(self) -> EventKind:
        """The event that tells the world (a held start tells nothing yet)."""
        return _EVENTS[self.kind]


_EVENTS: dict[Kind, EventKind] = {
    "rejected": "rejected",
    "hold": "rejected",
    "joined": "joined",
    "already_hot": "already_hot",
    "join": "joined",
    "begin": "cycle_started",
}


@dataclass(frozen=True, slots=True)
class Situation:
    """What a start for one loop meets, as the controller sees it."""

    now_s: float
    phase: Phase
    mode: Mode
    blocked: bool  # everything must be off, or the loop cannot open (I4, I5, binding)
    blocking: Fault | None  # the fault behind it, if there is one
    bridge_online: bool
    heating: bool  # its loop heats in this cycle already
    temp_c: float | None
    last_end_s: float | None
    # The water at the valve now, as the reading and its trend through the sensor's lag
    # tell it (a cooling pipe's water is under its lagging reading).
    water_c: float | None = None
    # Its sensor cannot tell its water and its pipe may still be warm: how long an
    # automatic start must wait (zcw.domain.cycle.blind_hold).
    blind_wait_s: float | None = None


def admit(req: Request, name: str, params: Params, s: Situation, since_s: float) -> Answer:
    """The answer to ``req`` for loop ``name``, first asked at ``since_s``."""
    if name not in params.loop_names:
        return Answer("rejected", "unknown_loop", {"loops": ", ".join(params.loop_names)})
    if s.mode == "away" and req.source.automatic:
        return Answer("rejected", "away")
    if s.blocked:
        return _blocked(name, params, s, since_s)
    if req.action == "commission":
        return _commission(name, params, s)
    if s.heating and s.phase is not Phase.STOPPING:
        return Answer("joined")
    if s.blind_wait_s is not None and req.source.automatic:
        return _warm_pipe(name, s.blind_wait_s)
    hot = hot_now(params, name, s)
    if hot is True:
        return Answer("already_hot")
    if s.phase in (Phase.STARTING, Phase.RUNNING):
        return Answer("join", confirm=hot is None)
    return _rest(params, s) or Answer("begin", confirm=hot is None)


def hot_now(params: Params, name: str, s: Situation) -> bool | None:
    """Is the water at the valve at ready_c already: True, False, or None in doubt?

    A DS18B20 reads within ±0.5 K (SENSOR_ACCURACY_K): only water estimated that far past
    ready_c is surely hot. Within ``hysteresis_c`` under that it may be just under ready_c,
    which a reading cannot tell: a cycle runs and stops only on hot water it saw come (a
    wasted second is cheaper than a cold shower). The estimate is the reading corrected by
    its trend through the sensor's lag: a pipe cooling since its last cycle holds water
    cooler than its lagging sensor reads."""
    lp = params.loop(name)
    water = s.water_c if s.water_c is not None else s.temp_c
    if water is None:
        return False
    if water >= lp.ready_c + SENSOR_ACCURACY_K:
        return True
    return None if water >= lp.ready_c - params.hysteresis_c else False


def _rest(params: Params, s: Situation) -> Answer | None:
    resting = s.last_end_s is not None and s.now_s - s.last_end_s < params.min_rest_s
    if s.phase is not Phase.STOPPING and not resting:
        return None
    end = s.last_end_s if s.last_end_s is not None else s.now_s
    wait_s = max(params.min_rest_s - (s.now_s - end), 0.0)
    if s.phase is Phase.STOPPING:
        wait_s = params.valve_lag_s + params.min_rest_s
    return Answer("rejected", "rest", {"retry_in_s": round(wait_s, 1)})


def _warm_pipe(name: str, wait_s: float) -> Answer:
    message = (
        f"the {name} sensor cannot tell how hot its pipe is (it reads the water late, or zcw "
        f"has not measured it yet: `zcw commission {name}`), and the pipe may still hold hot "
        f"water that a cycle would push into the cold line; automatic starts wait "
        f"{wait_s / 60.0:.0f} min more"
    )
    return Answer("rejected", "warm_pipe", {"retry_in_s": round(wait_s, 1), "message": message})


def _commission(name: str, params: Params, s: Situation) -> Answer:
    """Commissioning is a lone loop's cycle from a cooled pipe, or nothing."""
    if s.phase in (Phase.STARTING, Phase.RUNNING):
        message = "a cycle is running; commission when it has ended"
        return Answer("rejected", "busy", {"message": message})
    rest = _rest(params, s)
    if rest is not None:
        return rest
    lp = params.loop(name)
    if s.temp_c is None or not cooled(lp, s.temp_c):
        cool_c = lp.ready_c - COLD_START_K
        message = (
            f"commissioning starts from a cooled pipe: {name} reads {s.temp_c:.1f} °C; "
            f"try again when it reads {cool_c:.0f} °C or less"
            if s.temp_c is not None
            else f"no reading from the {name} sensor yet"
        )
        return Answer("rejected", "not_cooled", {"message": message})
    return Answer("begin", "commission")


def _blocked(name: str, params: Params, s: Situation, since_s: float) -> Answer:
    if s.blocking is not None:
        return Answer(
            "rejected", "fault", {"fault": s.blocking.code, "message": s.blocking.message}
        )
    # Nothing is wrong yet: the bridge is still connecting or the loop's first reading has
    # not come. Hold the request a little rather than refuse it.
    if s.now_s - since_s < HOLD_PERIODS * params.sensor_period_s:
        return Answer("hold")
    if not s.bridge_online:
        message = "the bridge is not connected yet"
    else:
        message = f"no reading from the {name} sensor yet; try again in a few seconds"
    return Answer("rejected", "not_ready", {"message": message})


def loop_ready(name: str, board: SensorBoard, cold: ColdLineGuard, faults: FaultBook) -> bool:
    """Can this loop's valve open at all: a valid loop reading (I4), a readable cold-line
    sensor where I5 relies on it, and the bridge's local thermostat bound."""
    if not board.valid(loop_key(name)):
        return False
    return not cold.blind(name, board) and not faults.has("bridge_binding", name)


def blocking_fault(name: str, faults: Iterable[Fault]) -> Fault | None:
    """The fault that keeps ``name`` from starting, if one is raised (latched first)."""
    blocking = {*F.sensor_codes("loop"), *F.sensor_codes("cold-line"), "bridge_binding"}
    shown = tuple(faults)
    found = [f for f in shown if f.latching or f.code == "bridge_offline"]
    found += [f for f in shown if f.loop == name and f.code in blocking]
    return found[0] if found else None
