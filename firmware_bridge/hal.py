"""Hardware access for the Pico: the only module that imports machine, rp2 and onewire.

Pins, the 1-Wire bus, USB CDC serial (read without blocking through ``select.poll`` on
``sys.stdin``), the LED, the watchdog, the reset cause and the recovery check. The firmware's
logic never sees any of it directly, which is what lets it run in the tests and the emulator.
"""

import os
import select
import sys
import time

import machine
import micropython
import onewire
import rp2

TICKS_PERIOD = 1 << 30  # what ticks.py computes with; checked against the port at start-up


def _off_level(config):
    return 1 if config["relay_active_low"] else 0


def relays_off(config):
    """Drive every relay pin to its OFF level (boot.py calls this before anything else)."""
    off = _off_level(config)
    for pin in config["relay_pins"]:
        machine.Pin(pin, machine.Pin.OUT, value=off)


SAFE_FLAG = "safe_mode"  # a file on the Pico's flash: "boot into safe mode once"


def safe_mode_requested(config):
    """True if the host asked for it (``SAFE``, for `zcw bridge flash`), the recovery jumper
    is fitted, or BOOTSEL is pressed during the boot window.

    BOOTSEL held *while* the Pico powers up starts the ROM's USB bootloader instead, so the
    window opens once MicroPython runs: the LED is lit steadily while it is open.
    """
    try:
        os.remove(SAFE_FLAG)  # asked for once: the next reset runs the bridge again
        return True
    except OSError:
        pass
    jumper = None
    if config.get("safe_mode_pin") is not None:
        jumper = machine.Pin(config["safe_mode_pin"], machine.Pin.IN, machine.Pin.PULL_UP)
    led = machine.Pin(config["led_pin"], machine.Pin.OUT)
    led.value(1)
    start = time.ticks_ms()
    try:
        while time.ticks_diff(time.ticks_ms(), start) < config.get("safe_mode_window_ms", 1500):
            if jumper is not None and jumper.value() == 0:
                return True
            if rp2.bootsel_button():
                return True
            time.sleep_ms(20)
        return False
    finally:
        led.value(0)


def enter_safe_mode(config):
    """Relays OFF, no watchdog, Ctrl-C left enabled, LED blinking fast; returns to the REPL.

    Returns the LED timer: the caller keeps a reference so it is not collected.
    """
    relays_off(config)
    led = machine.Pin(config["led_pin"], machine.Pin.OUT)
    timer = machine.Timer(period=100, mode=machine.Timer.PERIODIC, callback=lambda t: led.toggle())
    print("zcw bridge: SAFE MODE (jumper or BOOTSEL): relays OFF, no watchdog, REPL open")
    return timer


class Hal:
    """Real pins, 1-Wire bus, USB serial, LED and watchdog."""

    def __init__(self, config):
        # The pure modules are imported here, not at the top: boot.py imports this module to
        # switch the relays OFF, and nothing but machine may stand in the way of that.
        from buttons import check_inputs, levels
        from sensors import rom_valid

        self._levels = levels
        self._rom_valid = rom_valid
        # ticks.py reproduces the Pico's tick arithmetic; refuse to run where it differs.
        if time.ticks_add(0, -1) != TICKS_PERIOD - 1:
            raise RuntimeError("ticks period is not 2**30: ticks.py does not match this port")
        check_inputs(config["inputs"], config["buttons"])
        off = _off_level(config)
        self._relay_on_level = 1 - off
        self._relay_pins = []
        for pin in config["relay_pins"][: config["relays"]]:
            self._relay_pins.append(machine.Pin(pin, machine.Pin.OUT, value=off))
        self._inputs = config["inputs"]
        self._button_count = config["buttons"]
        self._input_pins = []
        for inp in self._inputs:
            pull = machine.Pin.PULL_UP if inp["pull"] == "up" else machine.Pin.PULL_DOWN
            self._input_pins.append(machine.Pin(inp["pin"], machine.Pin.IN, pull))
        self._led = machine.Pin(config["led_pin"], machine.Pin.OUT)
        self._ow = onewire.OneWire(machine.Pin(config["onewire_pin"]))
        self._roms = {}
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._stdin = sys.stdin.buffer
        self._stdout = sys.stdout.buffer
        # Last, once nothing above can fail: a start-up error leaves the REPL reachable.
        # From here a stray 0x03 byte from the host must not stop the firmware.
        micropython.kbd_intr(-1)
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
        """Search the bus now; return the DS18B20 ROM ids found (other families ignored)."""
        found = {}
        for rom in self._ow.scan():
            rom_hex = "".join("%02x" % b for b in rom)
            if self._rom_valid(rom_hex):
                found[rom_hex] = rom
        self._roms = found
        return list(found)

    def start_conversion(self):
        self._ow.reset()
        self._ow.writebyte(0xCC)  # skip ROM: every sensor converts at once
        self._ow.writebyte(0x44)  # Convert T

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
        raw = [p.value() for p in self._input_pins]
        return self._levels(raw, self._inputs, self._button_count)

    def led(self, on):
        self._led.value(1 if on else 0)

    def feed_watchdog(self):
        self._wdt.feed()

    def restart_into_safe_mode(self):
        """Leave a flag for the next boot and reset: the watchdog cannot be stopped once
        started, so the way to an open REPL goes through a reset."""
        with open(SAFE_FLAG, "w") as flag:
            flag.write("1")
        machine.reset()

    def boot_reason(self):
        cause = machine.reset_cause()
        if cause == machine.PWRON_RESET:
            return "power_on"
        if cause == machine.WDT_RESET:
            # On the RP2040/RP2350 machine.reset() reboots through the watchdog too, and
            # reset_cause() cannot tell the two apart: say so rather than guess.
            return "watchdog_or_reset"
        return "reset_%d" % cause

    def sleep_ms(self, ms):
        time.sleep_ms(ms)
