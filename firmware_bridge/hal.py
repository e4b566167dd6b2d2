"""Hardware access for the Pico: the only module that imports machine, onewire and ds18x20.

USB CDC is read without blocking through ``select.poll`` on ``sys.stdin.buffer``; the REPL's
Ctrl-C is disabled so a stray 0x03 byte from the host cannot stop the firmware.
"""

import select
import sys
import time

import machine
import micropython
import onewire


class Hal:
    """Real pins, 1-Wire bus, USB serial, LED and watchdog."""

    def __init__(self, config):
        micropython.kbd_intr(-1)
        self._relay_pins = []
        self._relay_on_level = 0 if config["relay_active_low"] else 1
        for pin in config["relay_pins"][: config["relays"]]:
            p = machine.Pin(pin, machine.Pin.OUT, value=1 - self._relay_on_level)
            self._relay_pins.append(p)
        self._buttons = [
            machine.Pin(p, machine.Pin.IN, machine.Pin.PULL_UP) for p in config["button_pins"]
        ]
        self._button_low = config["button_active_low"]
        self._led = machine.Pin(config["led_pin"], machine.Pin.OUT)
        self._ow = onewire.OneWire(machine.Pin(config["onewire_pin"]))
        self._roms = {}
        for rom in self._ow.scan():
            self._roms["".join("%02x" % b for b in rom)] = rom
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._stdin = sys.stdin.buffer
        self._stdout = sys.stdout.buffer
        self._wdt = machine.WDT(timeout=min(config["watchdog_ms"], 8388))

    def now_ms(self):
        return time.ticks_ms()

    def read(self):
        data = b""
        while self._poll.poll(0) and len(data) < 256:
            data += self._stdin.read(1)
        return data

    def write(self, data):
        self._stdout.write(data)

    def set_relay(self, channel, on):
        level = self._relay_on_level if on else 1 - self._relay_on_level
        self._relay_pins[channel].value(level)

    def roms(self):
        return list(self._roms)

    def start_conversion(self):
        self._ow.reset()
        self._ow.writebyte(0xCC)  # skip ROM: every sensor converts at once
        self._ow.writebyte(0x44)  # Convert T (750 ms at 12 bit)

    def read_scratchpad(self, rom_hex):
        rom = self._roms.get(rom_hex)
        if rom is None or not self._ow.reset():
            return None  # no presence pulse: disconnected
        self._ow.select_rom(rom)
        self._ow.writebyte(0xBE)
        buf = bytearray(9)
        self._ow.readinto(buf)
        return bytes(buf)

    def buttons(self):
        return [(b.value() == 0) == self._button_low for b in self._buttons]

    def led(self, on):
        self._led.value(1 if on else 0)

    def feed_watchdog(self):
        self._wdt.feed()

    def boot_reason(self):
        cause = machine.reset_cause()
        names = {
            machine.PWRON_RESET: "power_on",
            machine.WDT_RESET: "watchdog",
        }
        return names.get(cause, "reset_%d" % cause)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)
