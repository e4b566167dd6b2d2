"""The serial link to the bridge: implements the ``Hardware`` port over USB serial.

A reader thread always drains the port (a Pico's USB CDC blocks when nobody reads), decodes
frames and keeps the latest confirmed state. ``apply()`` sends relay commands with sequence
numbers and deadlines; unacknowledged commands are retried up to ``MAX_RETRIES`` times. The
link survives an unplug: it reports itself offline, reopens the port every second, and
re-handshakes (version check, clear the dead-man fault, re-bind the local thermostats).
Only relay states the bridge *confirmed* (its ``R`` reports) are published.

What the bridge does by itself (a local close, its dead-man, a cap, a refused ON) becomes a
:class:`~zcw.ports.ChannelNotice` for the core. A frame the link cannot make sense of is
counted and dropped; the reader is supervised and restarted, so no input can silence it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import serial

from zcw.adapters.bridge.protocol import PROTOCOL_VERSION, Decoder, Frame, decode_line, encode
from zcw.domain.model import BridgeNoticeKind, SensorError, SensorSample
from zcw.ports import ButtonPress, ChannelNotice, HardwareState, RelayCommand

# The firmware reads a conversion this long after starting it (firmware_bridge/sensors.py).
CONVERSION_S = 0.8

log = logging.getLogger("zcw.bridge")

ACK_TIMEOUT_S = 0.3
MAX_RETRIES = 3
REFRESH_S = 1.0  # re-send every ON this often, well inside its deadline
HEARTBEAT_S = 0.5
# Ticks come on a grid, each a little late: one that ran late followed by one on time are a
# little less than the grid step apart. Without this slack an idle daemon ticking every
# HEARTBEAT_S (runner.IDLE_TICK_S) would send a heartbeat only every other tick.
HEARTBEAT_SLACK_S = 0.1
SILENT_AFTER_S = 3.0  # no frame from the bridge for this long: offline
REOPEN_S = 1.0
# The reader blocks in read() until a byte arrives, and a byte wakes it at once: this timeout
# adds no latency, it only bounds how long a read waits when nothing comes. A bridge talks
# every second (its R report), so an idle link wakes about as often as it has frames to read
# instead of 20 times a second for nothing (README, "Footprint"). close() cancels the read
# rather than waiting it out.
READ_TIMEOUT_S = 1.0
PUMP_CHANNEL = 0
DEFAULT_RELAYS = 5

_ERRORS: dict[str, SensorError] = {
    "disconnected": "disconnected",
    "missing": "disconnected",
    "crc": "crc",
    "zero": "crc",
    "power_on_85": "power_on_85",
    "out_of_range": "out_of_range",
}
# A refused SET, by the bridge's reason, as a notice for the core (None: nothing to tell).
_REFUSALS: dict[str, BridgeNoticeKind] = {"limit": "refused", "sensor": "refused", "cap": "cap"}


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
        self._opener = opener or (
            lambda p, b: serial.Serial(p, b, timeout=READ_TIMEOUT_S, write_timeout=0.5)
        )
        self._lock = threading.RLock()
        self._ser: serial.Serial | None = None
        self._seq = 0
        self._pending: dict[int, tuple[bytes, float, int]] = {}
        self._readings: dict[str, SensorSample] = {}
        self._confirmed: dict[int, bool] = {}
        self._presses: list[ButtonPress] = []
        self._notices: list[ChannelNotice] = []
        self._silent_reported = False  # a host_silent trip already told the core
        self._clear_after_poll = False  # send CLR once the core has seen the trip
        self._clear_due = False
        self._rebooted = False
        self._handshaken = False
        self._last_rx = -1e9
        self._last_tx = -1e9
        self._sent: dict[int, tuple[bool, float]] = {}
        self.relays = DEFAULT_RELAYS
        self.info: tuple[str, ...] = ()
        self._roms: dict[int, str] = {}
        self.firmware = ""
        self.boot_reason = ""
        self.problem = "not connected yet"
        self.frames_seen = 0
        self.decode_errors = 0
        self.reader_restarts = 0
        self._waker: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._thread = self._start_reader()

    def __repr__(self) -> str:
        return (
            f"SerialBridge({self.port!r}, online={self._online()}, problem={self.problem!r}, "
            f"decode_errors={self.decode_errors})"
        )

    # -- Hardware port ------------------------------------------------------------------

    def apply(self, command: RelayCommand) -> None:
        now = self.clock()
        self._supervise()
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
            if self._clear_due:
                # The core has seen the dead-man trip and ended its cycle: the bridge may
                # take ONs again.
                self._clear_due = False
                self._command("CLR", (), now)
            if now - self._last_tx >= HEARTBEAT_S - HEARTBEAT_SLACK_S:
                self._command("HB", (), now)

    def poll(self) -> HardwareState:
        self._supervise()
        with self._lock:
            presses, self._presses = self._presses, []
            notices, self._notices = self._notices, []
            if self._clear_after_poll:
                self._clear_after_poll, self._clear_due = False, True
            rebooted, self._rebooted = self._rebooted, False
            online = self._online()
            return HardwareState(
                online=online,
                readings=dict(self._readings) if online else {},
                confirmed=dict(self._confirmed) if online else {},
                presses=presses,
                rebooted=rebooted,
                notices=notices,
                detail=f"{self.port}" if online else f"{self.port}: {self.problem}",
                firmware=self.firmware,
            )

    def reset_latches(self) -> None:
        """The user's reset: clear the bridge's cap latches (and a dead-man trip) with CLR."""
        with self._lock:
            if self._handshaken:
                self._command("CLR", (), self.clock())

    @property
    def readings(self) -> dict[str, SensorSample]:
        """The latest reading of each sensor, with the time it was measured (thread-safe).

        Unlike :meth:`poll` it drains nothing, and it answers while offline too: the readings
        from before an unplug stay until the bridge answers again, then go (see the handshake).
        """
        with self._lock:
            return dict(self._readings)

    @property
    def roms(self) -> list[str]:
        """The sensors the bridge found on its 1-Wire bus (its ROM frames, in order)."""
        with self._lock:
            return [self._roms[i] for i in sorted(self._roms)]

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
        self._cancel_read()
        self._thread.join(timeout=2)
        with self._lock:
            self._close_port("closed")

    def set_waker(self, waker: Callable[[], None]) -> None:
        """Called (from the reader thread) when something needs the daemon now: a button, or
        the bridge answering the handshake."""
        self._waker = waker

    # -- the reader, supervised -----------------------------------------------------------

    def _start_reader(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="zcw-bridge-reader", daemon=True)
        thread.start()
        return thread

    def _cancel_read(self) -> None:
        """Wake the reader out of a blocking read, where the port can (pyserial on POSIX and
        Windows): it then sees ``_stop`` at once. A cancel that comes before the read starts
        is not lost (POSIX: a byte waits in pyserial's abort pipe); a port without it is left
        to its read timeout."""
        cancel = getattr(self._ser, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                cancel()

    def _supervise(self) -> None:
        """Restart the reader if it died: without it nothing is confirmed and no button is
        heard. (It catches everything itself; this is the second line.)"""
        if not self._thread.is_alive() and not self._stop.is_set():
            self.reader_restarts += 1
            log.error("bridge reader thread had stopped; restarting it")
            self._thread = self._start_reader()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._read_forever()
            except Exception:  # a bug here must not silence the bridge for good
                self.reader_restarts += 1
                log.exception("bridge reader failed; reconnecting")
                with self._lock:
                    self._close_port("the reader failed (see the log); reconnecting")
                self._stop.wait(REOPEN_S)

    def _read_forever(self) -> None:
        decoder = Decoder()
        while not self._stop.is_set():
            ser = self._ser
            if ser is None:
                self._try_open(decoder)
                continue
            try:
                # Whatever is waiting, or block (≤ the port timeout) for the first byte: a fixed
                # read size would wait for the timeout and add its length to every press, and
                # the read returns as soon as that first byte is there.
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as exc:
                with self._lock:
                    self._close_port(f"read failed ({exc}); is the USB cable plugged in?")
                continue
            if data:
                for frame in decoder.feed(data):
                    with self._lock:
                        self._take(frame)

    def _take(self, frame: Frame) -> None:
        """One frame, whatever it holds: a well-framed one with nonsense fields is counted
        and dropped, never allowed to stop the reader."""
        try:
            self._on_frame(frame)
        except (ValueError, IndexError, KeyError, UnicodeError) as exc:
            self.decode_errors += 1
            if self.decode_errors == 1 or self.decode_errors % 1000 == 0:
                log.warning(
                    "bridge sent a frame zcw cannot use (%s: %s); %d dropped so far",
                    frame.kind,
                    exc,
                    self.decode_errors,
                )

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
        self._silent_reported = self._clear_after_poll = self._clear_due = False
        self._command("CLR", (), now)
        self._command("LOCK", (1 if self.pump_lock else 0,), now)
        for b in self.bindings:
            self._command("BIND", (b.channel, b.rom.lower(), round(b.limit_c * 16)), now)
        log.info("bridge %s online (%s)", self.port, " ".join(self.info) or "no info yet")
        if self._waker is not None:
            # The daemon learns it now, not at its next tick: READY, and the end of an outage,
            # a tick sooner (up to IDLE_TICK_S).
            self._waker()

    def _notice(self, kind: BridgeNoticeKind, channel: int | None, detail: str) -> None:
        self._notices.append(ChannelNotice(kind, channel, detail))

    def _binding(self, channel: int) -> Binding | None:
        return next((b for b in self.bindings if b.channel == channel), None)

    def _sensor_story(self, channel: int, why: str) -> str:
        """Why the bridge closed or refused a bound valve, in words: its sensor and reading."""
        b = self._binding(channel)
        if b is None:
            return f"relay {channel}: {why}"
        name = self.rom_to_name.get(b.rom.lower(), b.rom)
        reading = self._readings.get(name)
        if why == "limit":
            value = reading.value_c if reading is not None else None
            read = f"read {value:.1f} °C" if value is not None else "read hot"
            return f"its sensor {name} {read}, at or over the {b.limit_c:.1f} °C limit"
        if why.startswith("sensor_"):  # a local close names the failure itself
            return f"its sensor {name} failed ({why.removeprefix('sensor_')})"
        if reading is None:
            return f"its sensor {name} has not reported yet"
        if reading.error is not None:
            return f"its sensor {name} failed ({reading.error})"
        return f"its sensor {name} has no fresh reading"

    def _on_frame(self, frame: Frame) -> None:
        now = self.clock()
        self._last_rx = now
        self.frames_seen += 1
        kind, f = frame.kind, frame.fields
        if kind == "ACK" and f:
            self._on_answer(int(f[0]), None, now)
        elif kind == "NAK" and len(f) >= 2:
            self._on_answer(int(f[0]), f[1], now)
        elif kind == "T" and len(f) == 3:
            name = self.rom_to_name.get(f[0].lower())
            if name is not None:
                # The bridge sends a reading the moment it reads the scratchpad, so it was
                # measured one conversion time ago; the arrival estimate needs that time.
                measured = now - CONVERSION_S
                if f[2] == "ok":
                    self._readings[name] = SensorSample(int(f[1]) / 16.0, measured)
                else:
                    self._readings[name] = SensorSample(None, measured, _ERRORS.get(f[2], "crc"))
        elif kind == "R" and f:
            mask = int(f[0])
            self._confirmed = {ch: bool(mask & (1 << ch)) for ch in range(self.relays)}
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
            self._on_info(f)
        elif kind == "ROM" and len(f) == 2:
            self._roms[int(f[0])] = f[1]
        elif kind == "LCLOSE" and len(f) == 2:
            channel = int(f[0])
            why = "" if f[1] == "no_valve" else self._sensor_story(channel, f[1])
            self._notice("local_close", channel, why or "the pump lock: no valve open")
        elif kind == "OFF" and len(f) == 2:
            channel = int(f[0])
            if f[1] == "cap":
                self._notice("cap", channel, f"relay {channel} was on for 600 s in one stretch")
            else:
                self._notice(
                    "dead_man", channel, f"relay {channel} outlived its deadline unrefreshed"
                )
        elif kind == "FAULT" and f and f[0] == "host_silent":
            self._on_host_silent()

    def _on_host_silent(self) -> None:
        """The bridge's dead-man tripped (it repeats this on every frame until CLR): tell the
        core once, and clear it only after the core has ended its cycle (see poll/apply)."""
        if self._silent_reported or not self._handshaken:
            return  # told already, or a handshake is about to clear it anyway
        self._silent_reported = self._clear_after_poll = True
        detail = f"it heard nothing from zcw for {self.host_timeout_ms / 1000:g} s"
        self._notice("dead_man", None, detail)

    def _on_info(self, f: tuple[str, ...]) -> None:
        self.info = f
        self.firmware = f[0] if f else ""
        if len(f) > 2:
            self.relays = max(1, min(int(f[2]), 16))
        self._roms = {}  # the ROM frames that follow list the sensors anew
        if len(f) > 1 and f[1] != str(PROTOCOL_VERSION):
            self.problem = (
                f"bridge firmware {f[0]} speaks protocol {f[1]}, zcw speaks "
                f"{PROTOCOL_VERSION}; flash matching firmware (firmware_bridge/README.md)"
            )
            self._handshaken = False

    def _on_answer(self, seq: int, refusal: str | None, now: float) -> None:
        pending = self._pending.pop(seq, None)
        if pending is None:
            return  # an answer to a retry already answered, or to another session
        sent = decode_line(pending[0].rstrip(b"\n"))
        if sent is None:
            return
        if sent.kind == "HELLO":
            if refusal is None:
                self._after_handshake(now)
            else:
                self._hello_refused(refusal)
            return
        if refusal is None:
            if sent.kind == "SET" and sent.fields[1] == "1":
                self._silent_reported = False
            elif sent.kind == "BIND":
                self._notice("bound", int(sent.fields[0]), "")
            elif sent.kind == "CLR":
                self._silent_reported = False
            return
        if sent.kind == "BIND":
            self._notice("bind_refused", int(sent.fields[0]), f"it answered {refusal!r}")
        elif sent.kind == "SET" and refusal in _REFUSALS:
            channel = int(sent.fields[0])
            detail = (
                f"relay {channel} is latched off after its 600 s cap"
                if refusal == "cap"
                else self._sensor_story(channel, refusal)
            )
            self._notice(_REFUSALS[refusal], channel, detail)
        elif refusal == "stale":
            log.debug("bridge ignored a stale retry: %r", pending[0])
        elif refusal not in ("no_valve", "host_silent"):
            log.warning("bridge refused %r: %s", pending[0], refusal)

    def _hello_refused(self, why: str) -> None:
        if why == "version":
            self.problem = (
                f"the bridge does not speak protocol version {PROTOCOL_VERSION}; flash the "
                "firmware from this zcw version (firmware_bridge/README.md)"
            )
        else:
            self.problem = f"the bridge refused the handshake ({why})"
        log.error("bridge %s: %s", self.port, self.problem)
