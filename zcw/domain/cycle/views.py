"""What the world sees of the controller: one Snapshot per step, and the Decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from zcw.domain.cycle.phases import Phase
from zcw.domain.cycle.run import LoopState
from zcw.domain.faults import Fault
from zcw.domain.learning import Learned
from zcw.domain.model import Event, Mode, Relays
from zcw.domain.safety import Veto

State = Literal["idle", "heating", "fault", "away"]


@dataclass(frozen=True, slots=True)
class LoopView:
    """What the world sees of one loop."""

    temp_c: float | None
    water_est_c: float | None
    valve: bool
    state: LoopState


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """The outcome of the last finished cycle."""

    loops: tuple[str, ...]
    source: str
    started_s: float
    ended_s: float
    time_to_hot_s: float | None
    volume_l: float | None
    outcome: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One typed picture per control tick; MQTT, the dashboard and the logs all read it."""

    at_s: float
    state: State
    phase: Phase
    mode: Mode
    pump: bool
    loops: Mapping[str, LoopView]
    faults: tuple[Fault, ...]
    last_cycle: CycleSummary | None
    heater_out_c: float | None = None
    cold_c: Mapping[str, float | None] = field(default_factory=dict)
    learned: Mapping[str, Learned] = field(default_factory=dict)

    @property
    def fault(self) -> Fault | None:
        """The fault to show first: a latched one, else the bridge being offline (which makes
        every sensor go stale too: the cause before its symptoms), else the oldest."""
        latched = [f for f in self.faults if f.latching]
        offline = [f for f in self.faults if f.code == "bridge_offline"]
        ordered = latched or offline or list(self.faults)
        return ordered[0] if ordered else None


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of one step: what the relays should be, and what happened."""

    relays: Relays
    events: tuple[Event, ...]
    snapshot: Snapshot
    vetoes: tuple[Veto, ...] = ()


def overall_state(faults: tuple[Fault, ...], phase: Phase, mode: Mode) -> State:
    """A latched fault first, then a cycle, then a transient fault, then away."""
    if any(f.latching for f in faults):
        return "fault"
    if phase is not Phase.IDLE:
        return "heating"
    if faults:
        return "fault"
    return "away" if mode == "away" else "idle"
