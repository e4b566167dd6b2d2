"""An in-process simulated bridge: relay commands move the plant, plant sensors become readings.

It keeps the bridge's own hard limits (relay deadlines, the 600 s cap that latches until a
reset), so the daemon is exercised against the same safety layer it will meet on a real
Pico. The firmware emulator
behind a pseudo-terminal (``hil.emulator``) is the higher-fidelity replacement; this one is
for fast lockstep simulation (the bench, unit tests of the application).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hil.plant import Plant
from zcw.domain.model import SensorSample
from zcw.ports import ButtonPress, ChannelNotice, Clock, HardwareState, RelayCommand

BRIDGE_CAP_S = 600.0


class SimHardware:
    """Implements :class:`zcw.ports.Hardware` on top of a :class:`hil.plant.Plant`."""

    def __init__(
        self,
        plant: Plant,
        clock: Clock,
        *,
        pump_channel: int | None,
        valve_channels: Mapping[int, str],
        sensors: Sequence[str],
    ) -> None:
        self.plant = plant
        self.clock = clock
        self.pump_channel = pump_channel
        self.valve_channels = dict(valve_channels)
        self.sensors = [s for s in sensors if s in plant.sensor_names]
        self._last_s = clock.now_s()
        self._readings: dict[str, SensorSample] = {}
        self._measured_at: dict[str, float] = {}  # plant time of the conversion last passed on
        self._deadline_s: dict[int, float] = {}
        self._on_since_s: dict[int, float] = {}
        self._presses: list[ButtonPress] = []
        self._notices: list[ChannelNotice] = []
        self._capped: set[int] = set()  # channels latched off at their cap
        self.online = True
        self._closed = False

    def __repr__(self) -> str:
        on = sorted(ch for ch in self._deadline_s)
        return f"SimHardware(t={self.plant.t_s:.1f}s, on={on}, online={self.online})"

    # -- Hardware port ------------------------------------------------------------------

    def apply(self, command: RelayCommand) -> None:
        if self._closed or not self.online:
            return
        now = self.clock.now_s()
        for channel, on in command.channels.items():
            if on and channel in self._capped:
                continue  # latched off at its cap until a reset, as the firmware's NAK cap
            if on:
                self._on_since_s.setdefault(channel, now)
                cap_end = self._on_since_s[channel] + BRIDGE_CAP_S
                self._deadline_s[channel] = min(now + command.deadline_s, cap_end)
            else:
                self._deadline_s.pop(channel, None)
                self._on_since_s.pop(channel, None)
        self._drive()

    def reset_latches(self) -> None:
        self._capped.clear()

    def poll(self) -> HardwareState:
        now = self.clock.now_s()
        self._advance_to(now)
        for name in self.sensors:
            # Each conversion is passed on as soon as the plant's sensor has it, as the
            # firmware sends a reading the moment it reads the scratchpad (its conversion
            # period is the sensor's own). Polling on a period of its own instead held every
            # reading back by up to one more period, a lag no real bridge has.
            measured = self.plant.sensor_measured_at_s(name)
            if self._measured_at.get(name) != measured:
                self._measured_at[name] = measured
                # Stamped with when it was measured, as the serial link does (conversion start).
                age = self.plant.t_s - measured
                self._readings[name] = SensorSample(self.plant.sensor_c(name), now - age)
        presses, self._presses = self._presses, []
        notices, self._notices = self._notices, []
        return HardwareState(
            online=self.online,
            readings=dict(self._readings) if self.online else {},
            confirmed={ch: ch in self._deadline_s for ch in self._channels()},
            presses=presses,
            notices=notices,
            detail="simulated bridge",
            firmware="simulated",
        )

    def close(self) -> None:
        self._deadline_s.clear()
        self._on_since_s.clear()
        self._drive()
        self._closed = True

    # -- simulation controls ------------------------------------------------------------

    def press(self, button: int, *, long: bool = False) -> None:
        self._presses.append(ButtonPress(button, long))

    # -- internals ----------------------------------------------------------------------

    def _channels(self) -> list[int]:
        chans = list(self.valve_channels)
        if self.pump_channel is not None:
            chans.append(self.pump_channel)
        return chans

    def _advance_to(self, now: float) -> None:
        # Expire deadlines at their exact time, as the bridge firmware would.
        while True:
            due = [(t, ch) for ch, t in self._deadline_s.items() if t <= now]
            if not due:
                break
            t, ch = min(due)
            if t > self._last_s:
                self.plant.advance(t - self._last_s)
                self._last_s = t
            del self._deadline_s[ch]
            since = self._on_since_s.pop(ch, t)
            if t - since >= BRIDGE_CAP_S:
                self._capped.add(ch)
                self._notices.append(ChannelNotice("cap", ch, "on for 600 s in one stretch"))
            else:
                self._notices.append(ChannelNotice("dead_man", ch, "not refreshed in time"))
            self._drive()
        if now > self._last_s:
            self.plant.advance(now - self._last_s)
            self._last_s = now

    def _drive(self) -> None:
        if self.pump_channel is not None:
            self.plant.set_pump(self.pump_channel in self._deadline_s)
        for channel, loop in self.valve_channels.items():
            self.plant.set_valve(loop, channel in self._deadline_s)
