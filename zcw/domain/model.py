"""Value types shared by the pure core: parameters, sensor samples, requests, events, relay intents.

Everything here is immutable and stdlib-only, so the controller can be driven from a table
in a test, from the daemon's control tick, or from the bench, with the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Topology = Literal["crossover", "return_line", "drain"]
Mode = Literal["auto", "away"]


class Source(StrEnum):
    """Who asked for a cycle: every request names its trigger (``zcw history`` shows it)."""

    BUTTON = "button"
    MQTT = "mqtt"
    MIHOME = "mihome"
    SCHEDULE = "schedule"
    LEARNED = "learned"
    TAPFLICK = "tapflick"
    CLI = "cli"
    DASHBOARD = "dashboard"

    @property
    def automatic(self) -> bool:
        """Automatic sources are suppressed by away mode; manual ones never are."""
        return self in (Source.SCHEDULE, Source.LEARNED)


@dataclass(frozen=True, slots=True)
class LoopParams:
    """One far tap: its valve, its sensor and its limits."""

    name: str
    ready_c: float = 38.0
    max_run_s: float = 180.0
    has_valve: bool = True
    has_cold_sensor: bool = False
    # Time constant of the loop sensor's response to the water (pipe wall + probe).
    # Used to predict the water from the lagging reading; 0 means "trust the reading".
    sensor_tau_s: float = 8.0
    # Best known time from pump start to hot water at the valve, if any (hints or learning).
    transit_hint_s: float | None = None
    # Pump flow estimate, for the volume figure only.
    flow_hint_lpm: float | None = None
    # Does the sensor follow the water as a single lag (on a valve body, immersed, clamped on
    # metal)? False for a clamp on plastic, whose wall adds its own; None: not said.
    sensor_first_order: bool | None = None


@dataclass(frozen=True, slots=True)
class Params:
    """Installation-wide control parameters (already validated by zcw.config)."""

    loops: tuple[LoopParams, ...]
    topology: Topology = "crossover"
    has_pump: bool = True
    has_heater_out: bool = False
    valve_lead_s: float = 0.5
    valve_lag_s: float = 0.5
    min_rest_s: float = 30.0
    ignition_timeout_s: float = 30.0
    cold_line_max_c: float = 38.0
    hysteresis_c: float = 2.0
    sensor_period_s: float = 1.0
    # A loop reading frozen this long while the heater outlet proves hot water is coming is
    # a stuck sensor (I4).
    stuck_after_s: float = 60.0
    # Hard cap the bridge enforces on any relay-ON whatever the host says (docs/safety.md, I3).
    bridge_cap_s: float = 600.0

    def loop(self, name: str) -> LoopParams:
        for lp in self.loops:
            if lp.name == name:
                return lp
        raise KeyError(name)

    @property
    def loop_names(self) -> tuple[str, ...]:
        return tuple(lp.name for lp in self.loops)

    @property
    def default_loop(self) -> str:
        return self.loops[0].name


HEATER_OUT = "heater_out"


def loop_key(name: str) -> str:
    """Reading key of a loop's T_loop sensor."""
    return f"loop:{name}"


def cold_key(name: str) -> str:
    """Reading key of a loop's T_cold sensor (the cold side of its valve)."""
    return f"cold:{name}"


SensorError = Literal["power_on_85", "disconnected", "crc", "out_of_range", "jump", "stale"]


@dataclass(frozen=True, slots=True)
class SensorSample:
    """One reading as delivered by the bridge.

    ``error`` is set when the bridge itself already knows the reading is bad (CRC failure,
    −127 "disconnected"); ``value_c`` is then None. ``at_s`` is when it was measured, on the
    controller's clock.
    """

    value_c: float | None
    at_s: float
    error: SensorError | None = None


BridgeNoticeKind = Literal["local_close", "refused", "dead_man", "cap", "bind_refused", "bound"]


@dataclass(frozen=True, slots=True)
class BridgeNotice:
    """What the bridge did, or refused, on its own (docs/safety.md, layer 1), as the core sees it.

    - ``local_close``: it closed the valve on its own thermostat (limit reached, or the sensor
      failed); ``refused``: it refused to open it for the same reason;
    - ``dead_man``: it turned everything off (the host went silent, or a relay outlived its
      deadline);
    - ``cap``: a relay ran 600 s in one stretch and is latched off;
    - ``bind_refused`` / ``bound``: it refused, or accepted, the valve's local thermostat.

    ``loop`` is the valve's loop, None for the pump or the bridge as a whole.
    """

    kind: BridgeNoticeKind
    loop: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    """A user or automation request. ``loop`` None means the default loop (or all, for stop).
    ``commission`` is a start watched from a cooled pipe (see zcw.domain.commission)."""

    action: Literal["start", "stop", "reset", "mode", "commission"]
    source: Source
    loop: str | None = None
    mode: Mode | None = None


EventKind = Literal[
    "cycle_started",
    "joined",
    "already_hot",
    "rejected",
    "hot_ready",
    "cycle_aborted",
    "cycle_stopped",
    "fault",
    "fault_cleared",
    "mode_changed",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Feedback for a request, or a change worth telling the world about."""

    kind: EventKind
    at_s: float
    loop: str | None = None
    source: Source | None = None
    reason: str | None = None
    data: Mapping[str, float | str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Relays:
    """Desired (or confirmed) relay state: the pump plus one valve per loop."""

    pump: bool
    valves: Mapping[str, bool]

    @property
    def any_valve_open(self) -> bool:
        return any(self.valves.values())

    @property
    def all_off(self) -> bool:
        return not self.pump and not self.any_valve_open

    @staticmethod
    def off(loops: tuple[str, ...]) -> Relays:
        return Relays(pump=False, valves=dict.fromkeys(loops, False))
