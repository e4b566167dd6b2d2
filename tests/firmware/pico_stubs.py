"""Stand-ins for the Pico's own modules, so that boot.py, hal.py and main.py can run off it.

``install(scenario)`` puts fakes of ``machine``, ``rp2``, ``onewire``, ``micropython`` and
``time`` into ``sys.modules`` (they take precedence over built-in modules there, under
MicroPython as under CPython). They do what the firmware asks and write it down in
``LOG``: every pin made (``["pin", id, mode, pull, value]``), every change of a pin's level
(``["set", id, level]``), Ctrl-C switched off (``["kbd_intr", v]``), the watchdog started
(``["wdt", timeout_ms, now_ms]``), the LED timer (``["timer", period]``) and a reset
(``["reset"]``). Time is a fake millisecond clock that ``sleep_ms`` advances, so the 1.5 s
recovery window and the bridge's loop run in no time.

What the scenario sets: the recovery jumper's level, when BOOTSEL is pressed, the reset
cause, the tick period, and after how many watchdog feeds the loop is stopped (the feed
raises :class:`StopLoop`, the only way out of main.py's ``while True``). The 1-Wire bus
holds one DS18B20 reading 38.25 °C.

No ``ds18x20`` stub: hal.py speaks to the sensors through ``onewire`` itself.
MicroPython-compatible and untyped, like fw_checks.py.
"""

import sys

LOG = []
STATE = {}

PWRON_RESET = 1  # the values of MicroPython's rp2 port
WDT_RESET = 3
SENSOR_C = 38.25


class StopLoop(Exception):
    """Raised by the watchdog's feed once the scenario's passes are done."""


class ResetCalled(Exception):
    """machine.reset(): the end of this interpreter's life."""


class FakeTime:
    """time.ticks_* over the scenario's tick period, on a clock only sleep_ms moves."""

    def __init__(self, period):
        self.period = period
        self.now = 0

    def ticks_ms(self):
        return self.now % self.period

    def ticks_add(self, ticks, delta):
        return (ticks + delta) % self.period

    def ticks_diff(self, a, b):
        d = (a - b) % self.period
        if d >= self.period // 2:
            d -= self.period
        return d

    def sleep_ms(self, ms):
        self.now += ms


class Pin:
    OUT = "OUT"
    IN = "IN"
    PULL_UP = "PULL_UP"
    PULL_DOWN = "PULL_DOWN"

    def __init__(self, pin_id, mode=None, pull=None, value=None):
        self.id = pin_id
        LOG.append(["pin", pin_id, mode, pull, value])
        if value is not None:
            STATE["levels"][pin_id] = value
        elif mode == Pin.IN:  # an input idles at the level its pull holds it to
            STATE["levels"][pin_id] = 0 if pull == Pin.PULL_DOWN else 1

    def value(self, level=None):
        if level is None:
            if self.id == STATE["safe_mode_pin"]:
                return STATE["jumper"]
            return STATE["levels"].get(self.id, 0)
        level = 1 if level else 0
        if STATE["levels"].get(self.id) != level:  # changes only: the LED is set every pass
            LOG.append(["set", self.id, level])
        STATE["levels"][self.id] = level
        return None

    def toggle(self):
        self.value(0 if STATE["levels"].get(self.id) else 1)


class Timer:
    PERIODIC = "PERIODIC"

    def __init__(self, period=None, mode=None, callback=None):
        LOG.append(["timer", period])


class WDT:
    def __init__(self, timeout):
        LOG.append(["wdt", timeout, STATE["time"].now])

    def feed(self):
        STATE["feeds"] += 1
        if STATE["feeds"] >= STATE["max_feeds"]:
            raise StopLoop()


class FakeMachine:
    Pin = Pin
    Timer = Timer
    WDT = WDT
    PWRON_RESET = PWRON_RESET
    WDT_RESET = WDT_RESET

    def reset_cause(self):
        return STATE["reset_cause"]

    def reset(self):
        LOG.append(["reset"])
        raise ResetCalled()


class FakeRp2:
    def bootsel_button(self):
        at = STATE["bootsel_at_ms"]
        return 1 if at is not None and STATE["time"].now >= at else 0


class OneWire:
    """One DS18B20 on the bus (its ROM and scratchpad from fake_hal, imported only when the
    bus is first used: boot.py must not pull in anything but board and hal)."""

    def __init__(self, pin):
        self.pin = pin

    def scan(self):
        from fake_hal import rom_for

        rom = rom_for("bathroom")
        return [bytearray([int(rom[i : i + 2], 16) for i in range(0, 16, 2)])]

    def reset(self):
        return True

    def writebyte(self, byte):
        pass

    def select_rom(self, rom):
        pass

    def readinto(self, buf):
        from fake_hal import scratchpad_for

        pad = scratchpad_for(SENSOR_C)
        for i in range(len(buf)):
            buf[i] = pad[i]


class FakeOnewire:
    OneWire = OneWire


class FakeMicropython:
    def kbd_intr(self, chr_):
        LOG.append(["kbd_intr", chr_])


def missing_from_the_real_port():
    """Under MicroPython: what hal.py uses that this port's own modules lack (the fakes must
    not hide an API the firmware relies on). Call before install()."""
    import time

    import micropython

    missing = []
    for mod, names in (
        (time, ("ticks_ms", "ticks_add", "ticks_diff", "sleep_ms")),
        (micropython, ("kbd_intr",)),
    ):
        for name in names:
            if not hasattr(mod, name):
                missing.append(name)
    return missing


def install(scenario, safe_mode_pin):
    STATE.update(
        time=FakeTime(scenario.get("ticks_period", 1 << 30)),
        levels={},
        safe_mode_pin=safe_mode_pin,
        jumper=scenario.get("jumper", 1),  # 1: not fitted (the pull-up holds it high)
        bootsel_at_ms=scenario.get("bootsel_at_ms"),
        reset_cause=scenario.get("reset_cause", PWRON_RESET),
        feeds=0,
        max_feeds=scenario.get("feeds", 1),
    )
    sys.modules["time"] = STATE["time"]
    sys.modules["machine"] = FakeMachine()
    sys.modules["rp2"] = FakeRp2()
    sys.modules["onewire"] = FakeOnewire()
    sys.modules["micropython"] = FakeMicropython()
