"""Run ``firmware_bridge``'s own ``Bridge`` under CPython behind a real pseudo-terminal.

The HAL here is wired to the plant model: relay channel 0 drives the pump, channel i the
valve of the house's i-th tap, and each plant sensor is a DS18B20 whose scratchpad (with a
real CRC-8) encodes the plant's reading. The daemon opens the pty's path exactly as it would
open ``/dev/ttyACM0``. Faults can be injected: sensor faults (``missing`` takes the sensor
off the bus), forced temperatures, button presses, a reboot, and an unplug (the pty closes)
followed by a replug (a new pty appears).

Time: the emulator's own clock (``now_ms()``, the plant's time) starts at 0; the firmware
sees it as a Pico tick value, ``ticks_start_ms`` later and wrapping at 2**30 as
``time.ticks_ms()`` does, so a test can start just before the wrap. The clock runs at
``speed`` × wall time, or, with ``manual_clock``, stands still until ``advance(ms)`` moves
it in small steps: a test then judges the firmware in emulator time whatever the load of
the machine. The firmware's loop keeps running meanwhile, so frames are still answered.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import sys
import threading
import time
import tty
from pathlib import Path
from types import ModuleType
from typing import Any

from hil.plant import Plant

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge"


def _firmware(name: str) -> ModuleType:
    """Import a firmware module by its flat MicroPython name (``bridge``, ``fake_hal`` …)."""
    if str(FIRMWARE_DIR) not in sys.path:
        sys.path.insert(0, str(FIRMWARE_DIR))
    return importlib.import_module(name)


def rom_for(sensor_name: str) -> str:
    """The ROM id the emulator gives a plant sensor (the firmware's own fake_hal rule)."""
    return str(_firmware("fake_hal").rom_for(sensor_name))


class PlantHal:
    """The firmware HAL, backed by the plant and a pty master fd."""

    def __init__(self, plant: Plant, fd: int, buttons: int = 2) -> None:
        fake_hal = _firmware("fake_hal")
        self._scratchpad = fake_hal.scratchpad_for
        self.plant = plant
        self.safe_mode = False  # after SAFE: silent until the next reset
        self.fd = fd
        self.by_rom = {rom_for(n): n for n in plant.sensor_names}
        self.faults: dict[str, str] = {}  # sensor name -> fault
        self.forced: dict[str, float] = {}  # sensor name -> temperature it reads instead
        self._stuck: dict[str, bytes] = {}
        self.button_levels = [False] * buttons
        self._decoder = _firmware("protocol").Decoder()
        self.frames: list[tuple[float, str, list[str]]] = []  # what the bridge said, with t
        self.relays: dict[int, bool] = {}
        self.history: list[tuple[float, int, bool]] = []
        self.conversions = 0
        self._converted: dict[str, float] = {}  # sensor name -> value latched at Convert T
        self.log_rx = False  # keep what the host said, with t, in ``rx``
        self.rx: list[tuple[float, int, str, list[str]]] = []
        self._rx_decoder = _firmware("protocol").Decoder()

    def read(self) -> bytes:
        if self.fd < 0:
            return b""
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # BlockingIOError too: nothing to read
            return b""
        if self.log_rx:
            for seq, kind, fields in self._rx_decoder.feed(data):
                self.rx.append((self.plant.t_s, seq, kind, fields))
        return data

    def write(self, data: bytes) -> None:
        for _seq, kind, fields in self._decoder.feed(data):
            if kind in ("T", "LCLOSE", "FAULT", "BOOT", "BTN", "OFF"):
                self.frames.append((self.plant.t_s, kind, fields))
        if self.fd < 0:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.fd, data)  # a Pico drops output nobody reads; so do we

    def set_relay(self, channel: int, on: bool) -> None:
        if self.relays.get(channel, False) != on:
            self.history.append((self.plant.t_s, channel, on))
        self.relays[channel] = on
        if channel == 0:
            self.plant.set_pump(on)
        elif channel - 1 < len(self.plant.loops):
            self.plant.set_valve(self.plant.loops[channel - 1], on)

    def roms(self) -> list[str]:
        """A bus search: every sensor but those made ``missing``."""
        return [rom for rom, name in self.by_rom.items() if self.faults.get(name) != "missing"]

    def start_conversion(self) -> None:
        # Latch each sensor's value now, as a DS18B20 does at Convert T: the firmware reads
        # the scratchpad 750 ms later and the link stamps it with this moment. Reading the
        # plant's own (already converted, already late) value then would add up to 1.75 s
        # of lag the stamps do not show.
        self.conversions += 1
        self._converted = {
            name: self.forced.get(name, self.plant.sensor_convert_c(name))
            for name in self.by_rom.values()
        }

    def read_scratchpad(self, rom: str) -> bytes | None:
        name = self.by_rom.get(rom)
        if name is None:
            return None
        fault = self.faults.get(name)
        value = self._converted.get(name)
        if value is None:
            value = self.forced.get(name, self.plant.sensor_c(name))
        pad: bytes = self._scratchpad(value)
        if fault == "disconnected" or fault == "missing":
            return None
        if fault == "crc_error":
            return pad[:8] + bytes([pad[8] ^ 0x5A])
        if fault == "power_on_85":
            return bytes(self._scratchpad(85.0))
        if fault == "zero":
            return bytes(9)
        if fault == "stuck":
            return self._stuck.setdefault(name, pad)
        self._stuck.pop(name, None)
        return pad

    def buttons(self) -> list[bool]:
        return list(self.button_levels)

    def led(self, on: bool) -> None:
        pass

    def restart_into_safe_mode(self) -> None:
        """The firmware's `SAFE`: the Pico resets into safe mode (relays off, the bridge not
        running, the REPL open for mpremote) until it is reset again (`reboot`)."""
        for channel in list(self.relays):
            self.set_relay(channel, False)
        self.safe_mode = True


class Emulator:
    """A running emulated bridge. ``with Emulator(plant) as emu:`` then open ``emu.pty_path``."""

    def __init__(
        self,
        plant: Plant,
        *,
        speed: float = 1.0,
        config: dict[str, Any] | None = None,
        link_path: Path | None = None,
        ticks_start_ms: int = 0,
        manual_clock: bool = False,
    ) -> None:
        # Like udev's /dev/serial/by-id/… name, link_path follows the pty across replugs.
        self.link_path = link_path
        self.plant = plant
        self.speed = speed
        ticks = _firmware("ticks")
        self._ticks_add = ticks.ticks_add
        self.ticks_start_ms = ticks_start_ms & ticks.MASK
        self.manual_clock = manual_clock
        self._manual_ms = round(plant.t_s * 1000)
        self.config = {"relays": 5, "buttons": 2, "sensor_period_ms": 1000, "host_timeout_ms": 2000}
        self.config.update(config or {})
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wall0 = time.monotonic()
        self._sim0_s = plant.t_s
        self._press_until: dict[int, float] = {}
        self.released_at: dict[int, float] = {}  # wall clock of the last release, per button
        self._open_pty()
        self.hal = PlantHal(plant, self._master)
        self.bridge = self._new_bridge("power_on")

    def __repr__(self) -> str:
        return f"Emulator({self.plant.house.name}, pty={self.pty_path}, speed={self.speed})"

    def _new_bridge(self, reason: str) -> Any:
        bridge_mod = _firmware("bridge")
        return bridge_mod.Bridge(self.hal, self.config, boot_reason=reason)

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.pty_path = os.ttyname(slave)
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
            self.link_path.symlink_to(self.pty_path)

    @property
    def port(self) -> str:
        """The path a daemon should open: the stable link if any, else the pty itself."""
        return str(self.link_path) if self.link_path is not None else self.pty_path

    # -- time ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The emulator's clock, in ms since the plant's start (not wrapped)."""
        if self.manual_clock:
            return self._manual_ms
        return int((self._sim0_s + (time.monotonic() - self._wall0) * self.speed) * 1000)

    def ticks_ms(self, now_ms: int | None = None) -> int:
        """What the firmware sees for ``now_ms``: a Pico tick value, wrapping at 2**30."""
        return int(
            self._ticks_add(self.ticks_start_ms, self.now_ms() if now_ms is None else now_ms)
        )

    def advance(self, ms: int, step_ms: int = 10) -> float:
        """Manual clock: move time ``ms`` on, one firmware pass every ``step_ms``."""
        assert self.manual_clock, "advance() is for an emulator with manual_clock"
        end = self._manual_ms + ms
        while True:
            with self._lock:
                self._manual_ms = min(self._manual_ms + step_ms, end)
                self.step()
                if self._manual_ms >= end:
                    return self.plant.t_s

    def step(self) -> None:
        """One pass: advance the plant to now, run the firmware loop once."""
        with self._lock:
            now_ms = self.now_ms()
            dt = now_ms / 1000.0 - self.plant.t_s
            if dt > 0:
                self.plant.advance(dt)
            for idx, until in list(self._press_until.items()):
                if now_ms >= until:
                    self.hal.button_levels[idx] = False
                    self.released_at[idx] = time.perf_counter()
                    del self._press_until[idx]
            if not self.hal.safe_mode:
                self.bridge.poll(self.ticks_ms(now_ms))

    def run(self) -> None:
        while not self._stop.is_set():
            self.step()
            # Wake at once when the host writes; otherwise pass again in 2 ms.
            fd = self._master
            try:
                if fd >= 0:
                    select.select([fd], [], [], 0.002)
                else:
                    time.sleep(0.002)
            except (OSError, ValueError):  # unplugged meanwhile
                time.sleep(0.002)

    def __enter__(self) -> Emulator:
        self._thread = threading.Thread(target=self.run, name="zcw-emulator", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    # -- fault injection ----------------------------------------------------------------

    def inject_sensor(self, name: str, fault: str | None) -> None:
        """``fault``: power_on_85, disconnected, crc_error, zero, stuck, missing (off the
        bus: the next rescan misses it), or None to heal."""
        with self._lock:
            if fault is None:
                self.hal.faults.pop(name, None)
            else:
                self.hal.faults[name] = fault

    def force_temp(self, name: str, temp_c: float | None) -> None:
        """The sensor reads ``temp_c`` from its next conversion on; None: the plant again."""
        with self._lock:
            if temp_c is None:
                self.hal.forced.pop(name, None)
            else:
                self.hal.forced[name] = temp_c

    def sensors(self) -> dict[str, str]:
        """Sensor name → the ROM id the firmware sees for it."""
        return {name: rom for rom, name in self.hal.by_rom.items()}

    def press_button(self, index: int, *, long: bool = False) -> None:
        with self._lock:
            self.hal.button_levels[index] = True
            self._press_until[index] = self.now_ms() + (1700 if long else 150)

    def reboot(self, reason: str = "watchdog_or_reset") -> None:
        """The Pico restarts: relays OFF, bindings forgotten, a BOOT frame with the reason."""
        with self._lock:
            for ch in range(self.config["relays"]):
                self.hal.set_relay(ch, False)
            self.hal.safe_mode = False
            self.bridge = self._new_bridge(reason)

    def unplug(self) -> None:
        """The USB cable is pulled: the pty goes away and the Pico loses power."""
        with self._lock:
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._master = self._slave = -1
            self.hal.fd = -1
            if self.link_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.link_path.unlink()
            for ch in range(self.config["relays"]):
                self.hal.set_relay(ch, False)

    def replug(self) -> str:
        """Plugged back in: a fresh boot on a new pty; returns its path."""
        with self._lock:
            self._open_pty()
            self.hal.fd = self._master
            self.bridge = self._new_bridge("power_on")
            return self.pty_path

    def relays(self) -> dict[int, bool]:
        with self._lock:
            return dict(self.hal.relays)
