"""The bridge core: the protocol and the safety rules the firmware holds by itself.

``Bridge(hal, config).poll(now)`` does one pass of the main loop and never blocks. ``now`` is
a tick value (ms, wrapping at 2**30 as ``time.ticks_ms()`` does on the Pico) and is only ever
compared through ``ticks.ticks_diff``. The rules hold against a host that misbehaves in any
way, because no host command can switch them off:

- dead-man: no valid frame for ``host_timeout_ms`` → every relay OFF in that pass, and ON is
  refused (``host_silent``) until a CLR;
- every ON has a deadline, and no relay stays ON longer than ``relays.CAP_MS`` in a stretch;
  after a trip the channel is latched (``cap``) until OFF + ``relays.CAP_REST_MS``, or CLR;
- a valve bound to a sensor is closed, and refused ON, while that sensor reads at or over
  its limit, has failed, is missing from the bus, has no reading yet or only an old one;
- pump lock: whenever the last valve goes OFF, for any reason, the pump goes OFF with it;
- a sequence window: a retry is answered again but not applied twice, and an older
  command (a late retry) is refused, so it cannot undo a newer one.
"""

import protocol
import relays as relays_mod
import sensors as sensors_mod
from buttons import Buttons
from ticks import ticks_add, ticks_diff

FIRMWARE_VERSION = "2.1.0"
MIN_HOST_TIMEOUT_MS = 500
MAX_HOST_TIMEOUT_MS = 3000
REPORT_MS = 1000
PUMP = relays_mod.PUMP
SEQ_MOD = 65536
SEQ_HALF = 32768


def seq_newer(seq, last):
    """True when ``seq`` comes after ``last`` in the host's wrapping 16-bit numbering."""
    d = (seq - last) % SEQ_MOD
    return 0 < d < SEQ_HALF


class Bridge:
    """One bridge. ``config`` keys: relays, buttons, sensor_period_ms, host_timeout_ms."""

    def __init__(self, hal, config, boot_reason="power_on"):
        self.hal = hal
        self.safe_requested = False
        self.config = config
        self.relays = relays_mod.Relays(hal, config.get("relays", 5))
        self.sensors = sensors_mod.SensorBus(hal, config.get("sensor_period_ms", 1000))
        self.buttons = Buttons(config.get("buttons", 2))
        self.decoder = protocol.Decoder()
        timeout = config.get("host_timeout_ms", 2000)
        self.host_timeout_ms = max(MIN_HOST_TIMEOUT_MS, min(timeout, MAX_HOST_TIMEOUT_MS))
        self.bindings = {}  # valve channel -> (rom, limit in 1/16 °C)
        self.pump_lock = True
        self.host_silent = False
        self.last_rx = None  # tick of the last valid host frame; None: no host yet
        self.last_seq = None  # the sequence window: last processed seq and its answer
        self.last_answer = None
        self.seq = 0
        self.next_report = None
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
            (
                FIRMWARE_VERSION,
                protocol.PROTOCOL_VERSION,
                self.relays.count,
                self.boot_reason,
                len(roms),
            ),
        )
        # One frame per sensor: INFO stays short however many sensors are on the bus.
        for i in range(len(roms)):
            self._send("ROM", (i, roms[i]))
        self._report()

    # -- main loop ----------------------------------------------------------------------

    def poll(self, now):
        """One non-blocking pass. Returns True when the pass completed (feed the watchdog)."""
        data = self.hal.read()
        if data:
            for frame in self.decoder.feed(data):
                self.last_rx = now
                self._handle(frame, now)
        self._check_host(now)
        for ch, why in self.relays.tick(now):
            self._send("OFF", (ch, why))
            self._lock_pump()
        for rom, value, error in self.sensors.poll(now):
            if error is None:
                self._send("T", (rom, value, "ok"))
            else:
                self._send("T", (rom, "-", error))
        self._close_forbidden()
        for kind, index in self.buttons.poll(self.hal.buttons(), now):
            self._send("BTN", (index, kind))
        if (
            self.relays.changed
            or self.next_report is None
            or ticks_diff(now, self.next_report) >= 0
        ):
            self._report()
            self.next_report = ticks_add(now, REPORT_MS)
        self.hal.led(self.relays.mask() != 0 or (now // 500) % 2 == 0)
        self.loops += 1
        if self.safe_requested:
            self.hal.restart_into_safe_mode()
        return True

    def _check_host(self, now):
        if self.last_rx is None or self.host_silent:
            return  # no host yet (every relay OFF since boot), or already latched
        if ticks_diff(now, self.last_rx) > self.host_timeout_ms:
            self.relays.all_off()
            self.host_silent = True
            self._send("FAULT", ("host_silent",))

    # -- the safety rules ---------------------------------------------------------------

    def _lock_pump(self):
        """Pump lock: no valve ON → pump OFF, now. Called after every valve goes OFF."""
        if self.pump_lock and self.relays.on[PUMP] and not self.relays.any_valve():
            self.relays.switch_off(PUMP)
            self._send("LCLOSE", (PUMP, "no_valve"))

    def _switch_off(self, ch):
        """Turn one relay OFF and apply the pump lock in the same breath."""
        self.relays.switch_off(ch)
        self._lock_pump()

    def forbidden(self, ch):
        """Why bound valve ``ch`` must be OFF (``limit`` or ``sensor_<error>``), or None."""
        binding = self.bindings.get(ch)
        if binding is None:
            return None
        rom, limit = binding
        if not self.sensors.on_bus(rom):
            return "sensor_missing"
        entry = self.sensors.latest.get(rom)
        if entry is None:
            return "sensor_no_reading"
        value, error, _at, stale = entry
        if error is not None:
            return "sensor_" + error
        if stale:
            return "sensor_stale"
        if value >= limit:
            return "limit"
        return None

    def _local_close(self, ch, why):
        self.relays.switch_off(ch)
        self._send("LCLOSE", (ch, why))  # the valve's reason first, then the pump's
        self._lock_pump()

    def _close_forbidden(self):
        # Every pass, not only when a reading arrives: a binding, a rescan or the mere age
        # of a reading can forbid a valve too.
        for ch in self.bindings:
            if self.relays.on[ch]:
                why = self.forbidden(ch)
                if why is not None:
                    self._local_close(ch, why)

    # -- host commands ------------------------------------------------------------------

    def _handle(self, frame, now):
        seq, kind, fields = frame
        if self.host_silent and kind != "HELLO" and kind != "CLR" and kind != "INFO":
            # Tell a host that comes back what happened while it was away.
            self._send("FAULT", ("host_silent",))
        if kind != "HELLO" and self.last_seq is not None:
            if seq == self.last_seq:
                self._answer(self.last_answer)  # a retry: the same answer, not applied again
                return
            if not seq_newer(seq, self.last_seq):
                self._send("NAK", (seq, "stale"))  # a late retry must not undo a newer command
                return
        error = self._apply(kind, fields, now)
        answer = ("ACK", (seq,)) if error is None else ("NAK", (seq, error))
        self.last_seq = seq  # a HELLO resets the window to its own seq
        self.last_answer = answer
        self._answer(answer)
        if error is None and (kind == "HELLO" or kind == "INFO"):
            self._info()

    def _answer(self, answer):
        self._send(answer[0], answer[1])

    def _apply(self, kind, fields, now):
        try:
            if kind == "HB":
                return None
            if kind == "SET":
                on = _flag(fields[1])
                return self._set(int(fields[0]), on, int(fields[2]), now)
            if kind == "HELLO":
                if int(fields[0]) != protocol.PROTOCOL_VERSION:
                    return "version"
                timeout = int(fields[1])
                if timeout < MIN_HOST_TIMEOUT_MS or timeout > MAX_HOST_TIMEOUT_MS:
                    return "timeout"
                self.host_timeout_ms = timeout
                return None
            if kind == "INFO":
                return None
            if kind == "CLR":
                self.host_silent = False
                self.relays.clear_latches()
                return None
            if kind == "SAFE":
                # Restart into safe mode (for `zcw bridge flash`): relays OFF now, the
                # restart at the end of this pass, once the ACK has gone out.
                self.relays.all_off()
                self.safe_requested = True
                return None
            if kind == "BIND":
                return self._bind(int(fields[0]), fields[1], int(fields[2]))
            if kind == "UNBIND":
                ch = int(fields[0])
                if ch < 1 or ch >= self.relays.count:
                    return "channel"
                self.bindings.pop(ch, None)
                self._bound_changed()
                return None
            if kind == "LOCK":
                self.pump_lock = _flag(fields[0])
                self._lock_pump()
                return None
        except (IndexError, ValueError):
            return "fields"
        return "unknown"

    def _set(self, ch, on, deadline_ms, now):
        if ch < 0 or ch >= self.relays.count:
            return "channel"
        if not on:
            # OFF is never refused: not when silent, not when latched.
            self._switch_off(ch)
            self.relays.host_released(ch)
            return None
        if deadline_ms <= 0:
            return "deadline"
        if self.host_silent:
            return "host_silent"
        if self.relays.latched[ch]:
            return "cap"
        if self.relays.cap_left(ch, now) <= 0:
            self.relays.trip(ch, now)  # reached the cap in this very pass
            self._send("OFF", (ch, "cap"))
            self._lock_pump()
            return "cap"
        why = self.forbidden(ch)
        if why is not None:
            if self.relays.on[ch]:
                self._local_close(ch, why)
            return "limit" if why == "limit" else "sensor"
        if ch == PUMP and self.pump_lock and not self.relays.any_valve():
            if self.relays.on[PUMP]:
                self.relays.switch_off(PUMP)
                self._send("LCLOSE", (PUMP, "no_valve"))
            return "no_valve"
        self.relays.switch_on(ch, deadline_ms, now)
        return None

    def _bind(self, ch, rom, limit):
        if ch < 1 or ch >= self.relays.count:
            return "channel"
        if not sensors_mod.rom_valid(rom):
            return "rom"
        # A valid ROM that is not on the bus is accepted: it counts as a failed sensor (the
        # valve stays closed) until a rescan finds it.
        self.bindings[ch] = (rom, limit)
        self._bound_changed()
        if self.relays.on[ch]:
            why = self.forbidden(ch)
            if why is not None:
                self._local_close(ch, why)
        return None

    def _bound_changed(self):
        bound = []
        for ch in self.bindings:
            rom = self.bindings[ch][0]
            if rom not in bound:
                bound.append(rom)
        self.sensors.bound = bound


def _flag(text):
    if text == "1":
        return True
    if text == "0":
        return False
    raise ValueError(text)
