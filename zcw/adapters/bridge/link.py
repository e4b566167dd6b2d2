"""The serial link to the bridge: implements the ``Hardware`` port over USB serial.

A reader thread always drains the port (a Pico's USB CDC blocks when nobody reads), decodes
frames and keeps the latest confirmed state. ``apply()`` sends relay commands with sequence
numbers and deadlines; unacknowledged commands are retried up to ``MAX_RETRIES`` times. The
link survives an unplug: it reports itself offline, reopens the port every second, and
re-handshakes (version check, clear the dead-man fault, re-bind the local thermostats).
Only relay states the bridge *confirmed* (its ``R`` reports) are published.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import serial

from zcw.adapters.bridge.protocol import PROTOCOL_VERSION, Decoder, Frame, encode
from zcw.domain.model import SensorError, SensorSample
from zcw.ports import ButtonPress, HardwareState, RelayCommand

# A 12-bit DS18B20 conversion (firmware_bridge/sensors.py CONVERSION_MS).
CONVERSION_S = 0.75

log = logging.getLogger("zcw.bridge")

ACK_TIMEOUT_S = 0.3
MAX_RETRIES = 3
REFRESH_S = 1.0  # re-send every ON this often, well inside its deadline
HEARTBEAT_S = 0.5
SILENT_AFTER_S = 3.0  # no frame from the bridge for this long: offline
REOPEN_S = 1.0
PUMP_CHANNEL = 0

_ERRORS: dict[str, SensorError] = {
    "disconnected": "disconnected",
    "crc": "crc",
    "zero": "crc",
    "power_on_85": "power_on_85",
    "out_of_range": "out_of_range",
}


@dataclass(frozen=True, slots=True)
class Binding:
    """A local thermostatic close: the bridge closes ``channel`` when ``rom`` reads ≥ limit."""

    channel: int
    rom: str
    limit_c: float


class SerialBridge:
    """The real bridge (or the emulator on a pty) as a :class:`zcw.ports.Hardware`."""

    def __init__(
        self,
        port: str,
        *,
        baud: int = 115200,
        sensors: Mapping[str, str],
        bindings: Sequence[Binding] = (),
        pump_lock: bool = True,
        host_timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[[str, int], serial.Serial] | None = None,
    ) -> None:
        self.port = port
        self.baud = baud
        self.rom_to_name = {rom.lower(): name for name, rom in sensors.items()}
        self.bindings = list(bindings)
        self.pump_lock = pump_lock
        self.host_timeout_ms = int(host_timeout_s * 1000)
        self.clock = clock
        self._opener = opener or (lambda p, b: serial.Serial(p, b, timeout=0.05, write_timeout=0.5))
        self._lock = threading.RLock()
        self._ser: serial.Serial | None = None
        self._seq = 0
        self._pending: dict[int, tuple[bytes, float, int]] = {}
        self._readings: dict[str, SensorSample] = {}
        self._confirmed: dict[int, bool] = {}
        self._presses: list[ButtonPress] = []
        self._faults: list[str] = []
        self._rebooted = False
        self._handshaken = False
        self._last_rx = -1e9
        self._last_tx = -1e9
        self._sent: dict[int, tuple[bool, float]] = {}
        self.info: tuple[str, ...] = ()
        self.boot_reason = ""
        self.problem = "not connected yet"
        self.frames_seen = 0
        self._waker: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zcw-bridge-reader", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"SerialBridge({self.port!r}, online={self._online()}, problem={self.problem!r})"

    # -- Hardware port ------------------------------------------------------------------

    def apply(self, command: RelayCommand) -> None:
        now = self.clock()
        with self._lock:
            if not self._handshaken:
                return
            self._retry(now)
            deadline_ms = int(command.deadline_s * 1000)
            # Valves open before the pump; the pump stops before the valves (and the bridge's
            # own pump lock refuses a pump with every valve closed).
            order = sorted(
                command.channels.items(),
                key=lambda kv: (
                    (kv[1], kv[0] == PUMP_CHANNEL) if kv[1] else (kv[0] != PUMP_CHANNEL,)
                ),
            )
            for channel, on in order:
                last = self._sent.get(channel)
                if last is None or last[0] != on or (on and now - last[1] >= REFRESH_S):
                    self._command("SET", (channel, 1 if on else 0, deadline_ms if on else 0), now)
                    self._sent[channel] = (on, now)
            if now - self._last_tx >= HEARTBEAT_S:
                self._command("HB", (), now)

    def poll(self) -> HardwareState:
        with self._lock:
            presses, self._presses = self._presses, []
            faults, self._faults = self._faults, []
            rebooted, self._rebooted = self._rebooted, False
            online = self._online()
            return HardwareState(
                online=online,
                readings=dict(self._readings) if online else {},
                confirmed=dict(self._confirmed) if online else {},
                presses=presses,
                rebooted=rebooted,
                faults=faults,
                detail=f"{self.port}" if online else f"{self.port}: {self.problem}",
                firmware=self.info[0] if self.info else "",
            )

    @property
    def readings(self) -> dict[str, SensorSample]:
        """The latest reading of each sensor, with the time it was measured (thread-safe).

        Unlike :meth:`poll` it drains nothing, and it answers while offline too: the readings
        from before an unplug stay until the bridge answers again, then go (see the handshake).
        """
        with self._lock:
            return dict(self._readings)

    @property
    def online(self) -> bool:
        """Handshaken, and heard from within the last few seconds (thread-safe)."""
        with self._lock:
            return self._online()

    def close(self) -> None:
        """All relays OFF (best effort), then stop the reader and close the port."""
        with self._lock:
            if self._ser is not None and self._handshaken:
                now = self.clock()
                for channel in sorted(self._sent, key=lambda c: c != PUMP_CHANNEL):
                    self._command("SET", (channel, 0, 0), now)
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            self._close_port("closed")

    def set_waker(self, waker: Callable[[], None]) -> None:
        """Called (from the reader thread) when something needs the daemon now: a button."""
        self._waker = waker

    # -- internals ----------------------------------------------------------------------

    def _online(self) -> bool:
        return self._handshaken and self.clock() - self._last_rx < SILENT_AFTER_S

    def _command(self, kind: str, fields: tuple[str | int, ...], now: float) -> None:
        self._seq = self._seq % 0xFFFF + 1
        frame = encode(self._seq, kind, fields)
        if kind != "HB":
            self._pending[self._seq] = (frame, now, 0)
        self._write(frame)
        self._last_tx = now

    def _retry(self, now: float) -> None:
        for seq, (frame, sent, tries) in list(self._pending.items()):
            if now - sent < ACK_TIMEOUT_S:
                continue
            if tries >= MAX_RETRIES:
                del self._pending[seq]
                log.warning("bridge did not acknowledge %r after %d retries", frame, tries)
                continue
            self._pending[seq] = (frame, now, tries + 1)
            self._write(frame)

    def _write(self, frame: bytes) -> None:
        ser = self._ser
        if ser is None:
            return
        try:
            ser.write(frame)
        except (serial.SerialException, OSError) as exc:
            self._close_port(f"write failed ({exc}); is the USB cable plugged in?")

    def _close_port(self, why: str) -> None:
        if self._ser is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._ser.close()
            log.warning("bridge %s offline: %s", self.port, why)
        self._ser = None
        self._handshaken = False
        self.problem = why
        self._confirmed = {}
        self._sent = {}
        self._pending = {}

    def _run(self) -> None:
        decoder = Decoder()
        while not self._stop.is_set():
            ser = self._ser
            if ser is None:
                self._try_open(decoder)
                continue
            try:
                # Whatever is waiting, or block (≤ the port timeout) for the first byte: a fixed
                # read size would wait for the timeout and add its length to every press.
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as exc:
                with self._lock:
                    self._close_port(f"read failed ({exc}); is the USB cable plugged in?")
                continue
            if data:
                for frame in decoder.feed(data):
                    with self._lock:
                        self._on_frame(frame)

    def _try_open(self, decoder: Decoder) -> None:
        try:
            ser = self._opener(self.port, self.baud)
        except (serial.SerialException, OSError) as exc:
            self.problem = (
                f"cannot open {self.port} ({exc}); check the cable, `ls /dev/serial/by-id/`, "
                "and that this user is in the dialout group"
            )
            self._stop.wait(REOPEN_S)
            return
        with self._lock:
            self._ser = ser
            self.problem = "waiting for the bridge's answer"
            decoder.feed(b"\n")  # forget any half frame from before the unplug
            self._hello(self.clock())

    def _hello(self, now: float) -> None:
        self._handshaken = False
        self._command("HELLO", (PROTOCOL_VERSION, self.host_timeout_ms), now)

    def _after_handshake(self, now: float) -> None:
        self._handshaken = True
        self.problem = ""
        self._sent = {}
        # Readings from before a replug or a bridge reboot belong to the old session: kept,
        # a start on one would pass, then abort as it went stale during the valve lead.
        # Fresh ones arrive within a sensor period; until then a start is refused, cleanly.
        self._readings.clear()
        self._command("CLR", (), now)
        self._command("LOCK", (1 if self.pump_lock else 0,), now)
        for b in self.bindings:
            self._command("BIND", (b.channel, b.rom.lower(), round(b.limit_c * 16)), now)
        log.info("bridge %s online (%s)", self.port, " ".join(self.info) or "no info yet")

    def _on_frame(self, frame: Frame) -> None:
        now = self.clock()
        self._last_rx = now
        self.frames_seen += 1
        kind, f = frame.kind, frame.fields
        if kind == "ACK" and f:
            seq = int(f[0])
            pending = self._pending.pop(seq, None)
            if pending is not None and pending[0].split(b",")[1].startswith(b"HELLO"):
                self._after_handshake(now)
        elif kind == "NAK" and len(f) >= 2:
            pending = self._pending.pop(int(f[0]), None)
            if f[1] == "version":
                self.problem = (
                    f"the bridge does not speak protocol version {PROTOCOL_VERSION}; flash the "
                    "firmware from this zcw version (firmware_bridge/README.md)"
                )
                log.error("bridge %s: %s", self.port, self.problem)
            elif pending is not None:
                log.warning("bridge refused %r: %s", pending[0], f[1])
        elif kind == "T" and len(f) == 3:
            name = self.rom_to_name.get(f[0].lower())
            if name is not None:
                # The bridge sends a reading the moment its conversion ends, so it was
                # measured one conversion time ago; the arrival estimate needs that time.
                measured = now - CONVERSION_S
                if f[2] == "ok":
                    self._readings[name] = SensorSample(int(f[1]) / 16.0, measured)
                else:
                    self._readings[name] = SensorSample(None, measured, _ERRORS.get(f[2], "crc"))
        elif kind == "R" and f:
            mask = int(f[0])
            self._confirmed = {ch: bool(mask & (1 << ch)) for ch in range(5)}
        elif kind == "BTN" and len(f) == 2:
            self._presses.append(ButtonPress(int(f[0]), long=f[1] == "L"))
            if self._waker is not None:
                self._waker()
        elif kind == "BOOT":
            self.boot_reason = f[0] if f else "?"
            self._rebooted = True
            log.warning("bridge rebooted (reason: %s); re-handshaking", self.boot_reason)
            self._pending = {}
            self._hello(now)
        elif kind == "INFO":
            self.info = f
            if len(f) > 1 and f[1] != str(PROTOCOL_VERSION):
                self.problem = (
                    f"bridge firmware {f[0]} speaks protocol {f[1]}, zcw speaks "
                    f"{PROTOCOL_VERSION}; flash matching firmware (firmware_bridge/README.md)"
                )
                self._handshaken = False
        elif kind in ("FAULT", "LCLOSE", "OFF"):
            self._faults.append(kind.lower() + ":" + ",".join(f))
