"""A fake HAL for tests and the emulator; runs under CPython and MicroPython.

Time: ``now`` is the test's own, unbounded clock in ms (start it anywhere, e.g. just before
the wrap); the bridge only sees ``now_ms()``, which wraps at 2**30 as ``time.ticks_ms()``
does on the Pico. Like gpiozero's mock pins it records every relay change as
``(now, channel, on)`` in the test's clock. Sensors are set as temperatures (encoded into
real DS18B20 scratchpads with a valid CRC) or as raw faults: ``disconnected``,
``crc_error``, ``zero``, ``power_on_85`` and ``stuck``; ``bus`` is the list of ROMs a bus
search finds now (remove one to unplug it). ``events`` logs ``("scan"|"convert"|"read",
now)`` so a test can check the 1-Wire schedule.
"""

from sensors import crc8
from ticks import MASK


def scratchpad_for(temp_c):
    raw = int(round(temp_c * 16))
    if raw < 0:
        raw += 0x10000
    body = bytes([raw & 0xFF, (raw >> 8) & 0xFF, 0x4B, 0x46, 0x7F, 0xFF, 0x01, 0x10])
    return body + bytes([crc8(body)])


def rom_for(name):
    """A deterministic, valid DS18B20 ROM id (family 0x28, CRC-8) for a sensor name."""
    h = 0
    for ch in name:
        h = (h * 131 + ord(ch)) & 0xFFFFFFFFFFFF
    body = bytes([0x28] + [(h >> (8 * i)) & 0xFF for i in range(6)])
    return "".join("%02x" % b for b in body + bytes([crc8(body)]))


class FakeHal:
    """Everything the bridge touches, in memory."""

    def __init__(self, roms=(), buttons=2, start_ms=0):
        self.now = start_ms
        self.safe_restarts = 0
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.relays = {}
        self.history = []
        self.temps = {}
        self.faults = {}
        self._stuck = {}
        self.bus = list(roms)
        self.button_levels = [False] * buttons
        self.led_on = False
        self.conversions = 0
        self.events = []

    def now_ms(self):
        return self.now & MASK

    def read(self):
        data = bytes(self.inbox)
        self.inbox = bytearray()
        return data

    def write(self, data):
        self.outbox.extend(data)

    def take_output(self):
        data = bytes(self.outbox)
        self.outbox = bytearray()
        return data

    def set_relay(self, channel, on):
        if self.relays.get(channel, False) != on:
            self.history.append((self.now, channel, on))
        self.relays[channel] = on

    def roms(self):
        self.events.append(("scan", self.now))
        return list(self.bus)

    def start_conversion(self):
        self.conversions += 1
        self.events.append(("convert", self.now))

    def read_scratchpad(self, rom):
        self.events.append(("read", self.now))
        if rom not in self.bus:
            return None
        fault = self.faults.get(rom)
        if fault == "disconnected":
            return None
        if fault == "crc_error":
            pad = bytearray(scratchpad_for(self.temps.get(rom, 20.0)))
            pad[8] ^= 0x5A
            return bytes(pad)
        if fault == "zero":
            return bytes(9)
        if fault == "power_on_85":
            return scratchpad_for(85.0)
        if fault == "stuck":
            if rom not in self._stuck:
                self._stuck[rom] = scratchpad_for(self.temps.get(rom, 20.0))
            return self._stuck[rom]
        self._stuck.pop(rom, None)
        return scratchpad_for(self.temps.get(rom, 20.0))

    def buttons(self):
        return list(self.button_levels)

    def led(self, on):
        self.led_on = on

    def feed_watchdog(self):
        pass

    def restart_into_safe_mode(self):
        self.safe_restarts += 1

    def boot_reason(self):
        return "power_on"
