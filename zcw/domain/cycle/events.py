"""The events a step tells the world, and the faults that are raised.

Both are dated by the controller's clock, which it sets on the log at every step (the core
reads no clock of its own).
"""

from __future__ import annotations

from collections.abc import Mapping

from zcw.domain.faults import Fault
from zcw.domain.model import Event, EventKind, Source


class EventLog:
    """Events since the last step's decision, in the order they happened."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s
        self._events: list[Event] = []

    def emit(
        self,
        kind: EventKind,
        *,
        loop: str | None = None,
        source: Source | None = None,
        reason: str | None = None,
        data: Mapping[str, float | str | None] | None = None,
    ) -> None:
        self._events.append(
            Event(
                kind=kind,
                at_s=self.now_s,
                loop=loop,
                source=source,
                reason=reason,
                data=dict(data or {}),
            )
        )

    def drain(self) -> tuple[Event, ...]:
        events, self._events = tuple(self._events), []
        return events


class FaultBook:
    """The active faults, by (code, loop); raising or clearing one is an event."""

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._faults: dict[tuple[str, str | None], Fault] = {}

    @property
    def all(self) -> tuple[Fault, ...]:
        return tuple(self._faults.values())

    @property
    def latched(self) -> bool:
        return any(f.latching for f in self._faults.values())

    def has(self, code: str, loop: str | None = None) -> bool:
        return (code, loop) in self._faults

    def raised(self) -> list[tuple[str, str | None]]:
        return list(self._faults)

    def raise_(self, fault: Fault) -> None:
        current = self._faults.get(fault.key)
        if current == fault:
            return
        self._faults[fault.key] = fault
        if current is None or current.code != fault.code:
            self._log.emit(
                "fault",
                loop=fault.loop,
                reason=fault.code,
                data={"message": fault.message, "hint": fault.hint},
            )

    def clear(self, code: str, loop: str | None = None) -> None:
        """Clear a transient fault (a latched one waits for :meth:`clear_latched`)."""
        fault = self._faults.get((code, loop))
        if fault is not None and not fault.latching:
            del self._faults[(code, loop)]
            self._log.emit("fault_cleared", loop=loop, reason=code)

    def clear_latched(self) -> None:
        """``zcw reset``: every latched fault goes."""
        for key in [k for k, f in self._faults.items() if f.latching]:
            del self._faults[key]
            self._log.emit("fault_cleared", loop=key[1], reason=key[0])
