"""What a proxy plug's state means: poll results and cycle news in, requests and switching out.

Pure (no I/O, no clock: every input carries ``now``), so its rules are table- and
property-tested on their own:

- An off→on change that zcw did not cause is a user's edge: one start request.
- A poll that failed or timed out is *unknown*: never an edge. Two known readings that
  straddle failed polls still make an edge, unless they are more than ``outage_s`` apart.
- The first reading after start-up, after an outage, or after a switch command whose outcome
  is unknown only *learns* the state; a plug found on then, with no cycle behind it, is
  switched off, not obeyed.
- zcw's own switching is known from the command's result, so its switch-off is never taken
  for a user's cancel. The worker runs polls and commands one at a time, in order, so a
  reading that arrives before a command's result was taken before the command.
- A user's on→off while the plug's cycle runs (or its request is pending) stops that loop.
- When the cycle ends, however it ends, the plug is switched off. With ``mirror`` the plug is
  also switched on for cycles of its loop from other triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Ask:
    """Submit a request for the plug's loop."""

    action: Literal["start", "stop"]


@dataclass(frozen=True, slots=True)
class Switch:
    """Switch the plug (zcw's own doing, reported back with :meth:`PlugMachine.switched`)."""

    on: bool


Action = Ask | Switch

# A gap in the readings longer than this is an outage: the next reading only learns.
OUTAGE_S = 30.0


class PlugMachine:
    """The edge detector and switching rules of one proxy plug."""

    def __init__(self, *, mirror: bool = False, outage_s: float = OUTAGE_S) -> None:
        self.mirror = mirror
        self.outage_s = outage_s
        self.known: bool | None = None  # the plug's state as last seen or set by zcw
        self.known_at: float | None = None
        self.awaiting = False  # a start request is out and not yet answered
        self.active = False  # a cycle this plug stands for is running
        self.switching: bool | None = None  # target of a switch command not yet done

    def __repr__(self) -> str:
        return (
            f"PlugMachine(known={self.known}, awaiting={self.awaiting}, active={self.active}, "
            f"switching={self.switching}, mirror={self.mirror})"
        )

    # -- the plug ---------------------------------------------------------------------

    def polled(self, now_s: float, on: bool | None) -> list[Action]:
        """A poll's result: True/False, or None when it failed or timed out (unknown)."""
        if on is None:
            return []
        before, before_at = self.known, self.known_at
        self.known, self.known_at = on, now_s
        if before is None or before_at is None or now_s - before_at > self.outage_s:
            # Start-up, an outage, or a command of unknown outcome: learn, never obey.
            if on and not (self.active or self.awaiting) and self.switching is None:
                return [self._switch(False)]
            return []
        if on == before:
            return []
        if on:
            self.awaiting = True
            return [Ask("start")]
        if self.active or self.awaiting:
            return [Ask("stop")]
        return []

    def switched(self, now_s: float, on: bool, ok: bool) -> list[Action]:
        """A switch command finished: ``ok`` False means its outcome is unknown."""
        if self.switching == on:
            self.switching = None
        if ok:
            self.known, self.known_at = on, now_s
        else:
            self.known = self.known_at = None
        return []

    # -- the daemon -------------------------------------------------------------------

    def answered(self, now_s: float, started: bool) -> list[Action]:
        """The daemon answered this plug's start: started/joined, or already_hot/rejected."""
        self.awaiting = False
        if started:
            self.active = True
            return []
        return self._end()

    def started_elsewhere(self, now_s: float) -> list[Action]:
        """A cycle of the plug's loop started from another trigger."""
        if not self.mirror or self.active:
            return []
        self.active = True
        if self.known is True and self.switching is None:
            return []
        return [self._switch(True)]

    def ended(self, now_s: float) -> list[Action]:
        """The plug's loop stopped heating (hot_ready, aborted, stopped, shutdown)."""
        if not self.active:
            return []
        return self._end()

    def _end(self) -> list[Action]:
        self.active = False
        if self.known is False and self.switching is None:
            return []
        return [self._switch(False)]

    def _switch(self, on: bool) -> Switch:
        self.switching = on
        return Switch(on)


class CloudSwitchMachine:
    """A Bemfa switch: its messages are the user's commands, not readings of a state.

    ``on`` starts the loop and ``off`` stops it while its cycle runs; when the cycle ends
    zcw publishes ``off`` (Bemfa's ``<topic>/set``, which is not sent back to zcw). A retained
    message is one from before zcw connected: it only learns, and a stale ``on`` is
    answered with ``off`` rather than obeyed.
    """

    def __init__(self) -> None:
        self.awaiting = False
        self.active = False

    def __repr__(self) -> str:
        return f"CloudSwitchMachine(awaiting={self.awaiting}, active={self.active})"

    def message(self, now_s: float, payload: str, *, retained: bool) -> list[Action]:
        word = payload.strip().lower().split("#", 1)[0]
        if retained:
            busy = self.active or self.awaiting
            return [Switch(False)] if word == "on" and not busy else []
        if word == "on":
            self.awaiting = True
            return [Ask("start")]
        if word == "off" and (self.active or self.awaiting):
            return [Ask("stop")]
        return []

    def answered(self, now_s: float, started: bool) -> list[Action]:
        self.awaiting = False
        if started:
            self.active = True
            return []
        return [Switch(False)]

    def started_elsewhere(self, now_s: float) -> list[Action]:
        return []

    def ended(self, now_s: float) -> list[Action]:
        if not self.active:
            return []
        self.active = False
        return [Switch(False)]
