"""A scripted rig around the pure controller: a fake clock, settable sensors, a relay log.

Shared by the unit tests and ``hil/``. Like gpiozero's mock pins it records a timestamped
history of every relay change, so a test can assert on exact times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from zcw.domain.controller import Controller, Decision
from zcw.domain.model import (
    BridgeNotice,
    BridgeNoticeKind,
    Event,
    Params,
    Relays,
    Request,
    SensorError,
    SensorSample,
    Source,
    cold_key,
    loop_key,
)


@dataclass(frozen=True, slots=True)
class RelayChange:
    """One relay edge: at ``t_s`` the output ``name`` ("pump" or a loop) went ``on``."""

    t_s: float
    name: str
    on: bool


@dataclass
class Rig:
    """Drive a Controller tick by tick with a fake clock."""

    params: Params
    tick_s: float = 0.25
    now_s: float = 0.0
    temps: dict[str, float | None] = field(default_factory=dict)
    errors: dict[str, SensorError] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)
    bridge_online: bool = True
    events: list[Event] = field(default_factory=list)
    notices: list[BridgeNotice] = field(default_factory=list)
    history: list[RelayChange] = field(default_factory=list)
    relays: Relays | None = None
    last: Decision | None = None

    def __post_init__(self) -> None:
        self.controller = Controller(self.params, now_s=self.now_s)
        self.relays = Relays.off(self.params.loop_names)
        self.delivered: dict[str, SensorSample] = {}
        self._samples: dict[str, SensorSample] = {}
        # Sensor conversions arrive once per sensor period, like a real DS18B20.
        self._next_conversion_s = 0.0

    # -- inputs ---------------------------------------------------------------------------

    def set_loop(self, loop: str, value_c: float | None) -> None:
        self.temps[loop_key(loop)] = value_c

    def set_cold(self, loop: str, value_c: float | None) -> None:
        self.temps[cold_key(loop)] = value_c

    def request(self, action: str = "start", loop: str | None = None, **kw: object) -> Decision:
        source = kw.pop("source", Source.CLI)
        assert isinstance(source, Source)
        req = Request(action=action, source=source, loop=loop, **kw)  # type: ignore[arg-type]
        return self.tick(requests=[req])

    # -- time -----------------------------------------------------------------------------

    def readings(self) -> dict[str, SensorSample]:
        if self.now_s >= self._next_conversion_s:
            self._next_conversion_s = self.now_s + self.params.sensor_period_s
            for key in set(self.temps) | set(self.errors):
                if key not in self.frozen:
                    err = self.errors.get(key)
                    value = None if err else self.temps.get(key)
                    self._samples[key] = SensorSample(value, self.now_s, err)
        return dict(self._samples)

    def notify(self, kind: BridgeNoticeKind, loop: str | None = None, detail: str = "") -> None:
        """Something the bridge did by itself, handed to the controller on the next tick."""
        self.notices.append(BridgeNotice(kind, loop, detail))

    def tick(self, requests: Iterable[Request] = ()) -> Decision:
        self.delivered = self.readings()
        notices, self.notices = self.notices, []
        decision = self.controller.step(
            self.now_s,
            self.delivered,
            list(requests),
            bridge_online=self.bridge_online,
            notices=notices,
        )
        self._record(decision)
        self.now_s = round(self.now_s + self.tick_s, 9)
        return decision

    def run(self, seconds: float) -> Decision:
        decision = self.last
        end = self.now_s + seconds
        while self.now_s < end - 1e-9:
            decision = self.tick()
        assert decision is not None
        return decision

    def run_until(self, predicate: object, timeout_s: float) -> Decision:
        assert callable(predicate)
        end = self.now_s + timeout_s
        while self.now_s < end:
            decision = self.tick()
            if predicate(decision):
                return decision
        raise AssertionError(f"condition not met within {timeout_s} s")

    # -- outputs --------------------------------------------------------------------------

    def _record(self, decision: Decision) -> None:
        before = self.relays
        assert before is not None
        after = decision.relays
        at = self.now_s
        if after.pump != before.pump:
            self.history.append(RelayChange(at, "pump", after.pump))
        for name, on in after.valves.items():
            if on != before.valves.get(name, False):
                self.history.append(RelayChange(at, name, on))
        self.relays = after
        self.last = decision
        self.events.extend(decision.events)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def changes(self, name: str) -> list[tuple[float, bool]]:
        return [(c.t_s, c.on) for c in self.history if c.name == name]
