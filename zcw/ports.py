"""Ports: the small interfaces the application needs from the outside world.

The composition root (``zcw.app``) plugs concrete adapters into these: the serial bridge link
or the simulator for :class:`Hardware`, the monotonic clock or a simulated one for
:class:`Clock`. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from zcw.domain.model import BridgeNoticeKind, SensorSample


class Clock(Protocol):
    """Monotonic seconds. The daemon never reads wall time for control decisions."""

    def now_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A press reported by the bridge: a wired button or a 433 MHz receiver output."""

    button: int
    long: bool


@dataclass(frozen=True, slots=True)
class RelayCommand:
    """The full desired relay state, by channel, with the deadline for every ON.

    The bridge turns a relay OFF by itself when its deadline passes without a refresh, so a
    dead daemon cannot leave the pump running (docs/safety.md, layer 1).
    """

    channels: Mapping[int, bool]
    deadline_s: float


@dataclass(frozen=True, slots=True)
class ChannelNotice:
    """A bridge notice by relay channel; the wiring turns the channel into a loop."""

    kind: BridgeNoticeKind
    channel: int | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HardwareState:
    """What the bridge reported since the last poll."""

    online: bool
    readings: Mapping[str, SensorSample]
    confirmed: Mapping[int, bool]
    presses: Sequence[ButtonPress] = ()
    rebooted: bool = False
    notices: Sequence[ChannelNotice] = field(default_factory=tuple)
    detail: str = ""
    firmware: str = ""  # the bridge firmware's version, once it has said


class Hardware(Protocol):
    """The bridge (real, emulated or simulated) as the daemon sees it."""

    def apply(self, command: RelayCommand) -> None:
        """Send the desired relay state; must not block for long."""

    def poll(self) -> HardwareState:
        """Latest readings, confirmed relays and events; must not block for long."""

    def reset_latches(self) -> None:
        """The user reset zcw's latched faults: clear the bridge's own latches too (its cap)."""

    def close(self) -> None:
        """Turn every relay OFF and release the device. Idempotent."""
