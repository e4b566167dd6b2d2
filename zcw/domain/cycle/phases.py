"""Where the cycle is, and every way it may move on: one transition table.

::

    IDLE ──start──► STARTING ──pump_on──► RUNNING ──stop──► STOPPING ──finish──► IDLE
      └──start_pumpless──────────────────►┘   └──finish──► IDLE (no pump, or it never ran)
    STARTING ──finish──► IDLE (stopped or aborted before the pump started)

``finish`` also ends a cycle at once from any phase but IDLE (a hard abort: a cold-line
overrun, a lost bridge), without the valve lag.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Phase(StrEnum):
    """Where the cycle is. IDLE also covers min_rest after a cycle."""

    IDLE = "idle"
    STARTING = "starting"  # valves open, waiting valve_lead_s before the pump
    RUNNING = "running"
    STOPPING = "stopping"  # pump off, waiting valve_lag_s before closing valves


class Move(StrEnum):
    """What moves a cycle from one phase to the next."""

    START = "start"  # valves open; the pump follows valve_lead_s later
    START_PUMPLESS = "start_pumpless"  # drain: the open valve is the flow
    PUMP_ON = "pump_on"  # valve_lead_s has passed
    STOP = "stop"  # pump off; the valves follow valve_lag_s later
    FINISH = "finish"  # valves closed: the cycle is over


TRANSITIONS: Mapping[tuple[Phase, Move], Phase] = {
    (Phase.IDLE, Move.START): Phase.STARTING,
    (Phase.IDLE, Move.START_PUMPLESS): Phase.RUNNING,
    (Phase.STARTING, Move.PUMP_ON): Phase.RUNNING,
    (Phase.STARTING, Move.FINISH): Phase.IDLE,
    (Phase.RUNNING, Move.STOP): Phase.STOPPING,
    (Phase.RUNNING, Move.FINISH): Phase.IDLE,
    (Phase.STOPPING, Move.FINISH): Phase.IDLE,
}


def next_phase(phase: Phase, move: Move) -> Phase:
    """The phase ``move`` leads to from ``phase``; a move the table lacks is a bug."""
    try:
        return TRANSITIONS[(phase, move)]
    except KeyError:
        raise ValueError(f"no move {move} from phase {phase}") from None
