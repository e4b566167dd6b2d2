"""The bridge core: protocol, relays, sensors, buttons and the local safety rules.

``Bridge(hal, config).poll(now_ms)`` does one pass of the main loop and never blocks. Time is
passed in, so the same code runs on the Pico, in the CPython emulator and under the
MicroPython unix port in tests. Safety that must hold even when the Pi is dead lives here:

- host silent for ``host_timeout_ms`` → every relay OFF and the ``host_silent`` fault latches;
- every relay-ON has a deadline, and no relay stays ON longer than 600 s (``relays.CAP_MS``);
- a valve bound to a sensor closes by itself at its limit or when the sensor fails;
- with the pump lock on, no open valve means pump OFF.
"""

import protocol
import relays as relays_mod
import sensors as sensors_mod
from buttons import Buttons

FIRMWARE_VERSION = "1.0.0"
MAX_HOST_TIMEOUT_MS = 3000
REPORT_MS = 1000


class Bridge:
    """One bridge. ``config`` keys: relays, buttons, sensor_period_ms, host_timeout_ms."""

    def __init__(self, hal, config, boot_reason="power_on"):
        self.hal = hal
        self.config = config
        self.relays = relays_mod.Relays(hal, config.get("relays", 5))
        self.sensors = sensors_mod.SensorBus(hal, config.get("sensor_period_ms", 1000))
        self.buttons = Buttons(config.get("buttons", 2))
        self.decoder = protocol.Decoder()
        self.host_timeout_ms = min(config.get("host_timeout_ms", 2000), MAX_HOST_TIMEOUT_MS)
        self.bindings = {}  # valve channel -> (rom, limit in 1/16 °C)
        self.host_silent = False
        self.host_seen = False
        self.last_rx_ms = None
        self.last_host_seq = None
        self.seq = 0
        self.next_report_ms = 0
        self.boot_reason = boot_reason
        self.loops = 0
        self._send("BOOT", (boot_reason, FIRMWARE_VERSION, protocol.PROTOCOL_VERSION))

    # -- output -------------------------------------------------------------------------

    def _send(self, kind, fields=()):
        self.seq = (self.seq + 1) & 0xFFFF
        self.hal.write(protocol.encode(self.seq, kind, fields))

    def _report(self):
        self._send("R", (self.relays.mask(), "host_silent" if self.host_silent else "ok"))
        self.relays.changed = False

    def _info(self):
        roms = self.sensors.roms
        self._send(
            "INFO",
            [FIRMWARE_VERSION, protocol.PROTOCOL_VERSION, self.relays.count, self.boot_reason]
            + roms,
        )

    # -- main loop ----------------------------------------------------------------------

    def poll(self, now_ms):
        """One non-blocking pass. Returns True when the pass completed (feed the watchdog)."""
        data = self.hal.read()
        if data:
            for frame in self.decoder.feed(data):
                self.last_rx_ms = now_ms
                self.host_seen = True
                self._handle(frame, now_ms)
        self._check_host(now_ms)
        for ch in self.relays.expire(now_ms):
            self._send("OFF", (ch, "deadline"))
        for rom, value, error in self.sensors.poll(now_ms):
            if error is None:
                self._send("T", (rom, value, "ok"))
            else:
                self._send("T", (rom, "-", error))
            self._local_close(rom, value, error)
        for kind, index in self.buttons.poll(self.hal.buttons(), now_ms):
            self._send("BTN", (index, kind))
        if self.relays.changed or now_ms >= self.next_report_ms:
            self._report()
            self.next_report_ms = now_ms + REPORT_MS
        self.hal.led(self.relays.mask() != 0 or (now_ms // 500) % 2 == 0)
        self.loops += 1
        return True

    def _check_host(self, now_ms):
        if self.last_rx_ms is None:
            return  # never heard from a host: every relay is still OFF since boot
        if now_ms - self.last_rx_ms > self.host_timeout_ms and not self.host_silent:
            self.relays.all_off()
            self.host_silent = True
            self._send("FAULT", ("host_silent",))

    def _local_close(self, rom, value, error):
        for ch in list(self.bindings):
            bound_rom, limit = self.bindings[ch]
            if bound_rom != rom or not self.relays.on[ch]:
                continue
            if error is not None or value >= limit:
                self.relays.off(ch)
                self._send("LCLOSE", (ch, "sensor_" + error if error else "limit"))
                if not self.relays.on[relays_mod.PUMP] and self.relays.pump_lock:
                    self._send("LCLOSE", (relays_mod.PUMP, "no_valve"))

    # -- host commands ------------------------------------------------------------------

    def _handle(self, frame, now_ms):
        seq, kind, fields = frame
        if self.host_silent and kind != "HELLO" and kind != "CLR" and kind != "INFO":
            # Tell a host that comes back what happened while it was away.
            self._send("FAULT", ("host_silent",))
        if seq == self.last_host_seq and kind != "HELLO":
            self._send("ACK", (seq,))  # a retry of a command already applied
            return
        error = self._apply(kind, fields, now_ms)
        if error is None:
            self.last_host_seq = seq
            self._send("ACK", (seq,))
            if kind in ("HELLO", "INFO"):
                self._info()
                self._report()
        else:
            self._send("NAK", (seq, error))

    def _apply(self, kind, fields, now_ms):
        try:
            if kind == "HB":
                return None
            if kind == "HELLO":
                if int(fields[0]) != protocol.PROTOCOL_VERSION:
                    return "version"
                if len(fields) > 1:
                    self.host_timeout_ms = min(int(fields[1]), MAX_HOST_TIMEOUT_MS)
                return None
            if kind == "INFO":
                return None
            if kind == "CLR":
                self.host_silent = False
                return None
            if kind == "SET":
                ch, on, deadline = int(fields[0]), fields[1] == "1", int(fields[2])
                if on and self.host_silent:
                    return "host_silent"
                return self.relays.set(ch, on, deadline, now_ms)
            if kind == "BIND":
                ch, rom, limit = int(fields[0]), fields[1], int(fields[2])
                if ch < 1 or ch >= self.relays.count:
                    return "channel"
                if rom not in self.sensors.roms:
                    return "rom"
                self.bindings[ch] = (rom, limit)
                return None
            if kind == "UNBIND":
                self.bindings.pop(int(fields[0]), None)
                return None
            if kind == "LOCK":
                self.relays.pump_lock = fields[0] == "1"
                self.relays.enforce_lock()
                return None
        except (IndexError, ValueError):
            return "fields"
        return "unknown"
