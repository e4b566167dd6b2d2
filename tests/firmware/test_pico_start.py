"""The Pico's start-up (boot.py, main.py, hal.py) on the real MicroPython unix port.

The Pico's own modules (``machine``, ``rp2``, ``onewire``, ``micropython``, ``time``) are
stubs that write down what the firmware did to them (tests/firmware/pico_stubs.py); the
firmware's files run unchanged, one fresh interpreter per reset (tests/firmware/pico_start.py).
What this cannot show: the pins' electrical levels, 1-Wire timing on a real bus, USB CDC, a
real watchdog reset and the real BOOTSEL button (firmware_bridge/README.md, bench check).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zcw.adapters.bridge.protocol import Decoder, Frame, encode

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "firmware" / "pico_start.py"
MICROPYTHON = Path(sys.executable).parent / "micropython"
RUN_FEEDS = 1500  # watchdog feeds, one per 2 ms pass: 3 s of the bridge's fake time
SENSOR_RAW = 612  # pico_stubs.SENSOR_C (38.25 °C) in 1/16 °C


@dataclass
class Started:
    """What one reset did: the stubs' report, and the frames (and text) on its serial port."""

    report: dict[str, Any]
    stdout: bytes

    @property
    def events(self) -> list[list[Any]]:
        return list(self.report["events"])

    @property
    def frames(self) -> list[Frame]:
        return Decoder().feed(self.stdout)

    @property
    def relay_pins(self) -> list[int]:
        return list(self.report["config"]["relay_pins"])

    def relays_off(self, off: int = 1) -> list[list[Any]]:
        """The events of every relay pin made an output at its OFF level, in board order."""
        return [["pin", p, "OUT", None, off] for p in self.relay_pins]

    def kinds(self, kind: str) -> list[list[Any]]:
        return [e for e in self.events if e[0] == kind]


def start(cwd: Path, scenario: dict[str, Any], host: bytes = b"") -> Started:
    """One reset of the Pico under MicroPython, in ``cwd`` (its flash: the safe-mode flag).

    stdin stays open until the interpreter exits, as the Pico's USB serial does: at EOF
    hal.py's reader would spin (poll says readable, read gives nothing), which no Pico sees.
    """
    assert MICROPYTHON.exists(), "micropython is missing from the venv: pip install -e '.[dev]'"
    if host:
        scenario = {**scenario, "wait_for_host": True}
    out, err = cwd / "stdout", cwd / "stderr"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [str(MICROPYTHON), str(HARNESS), json.dumps(scenario)],
            stdin=subprocess.PIPE,
            stdout=o,
            stderr=e,
            cwd=cwd,
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(host)
            proc.stdin.flush()
            proc.wait(timeout=120)
        finally:
            proc.kill()
            proc.stdin.close()
    lines = err.read_text().splitlines()
    assert proc.returncode == 0 and lines, err.read_text()
    report = json.loads(lines[-1])
    assert report["missing"] == [], "the unix port lacks what hal.py uses"
    return Started(report, out.read_bytes())


@pytest.fixture(scope="module")
def bridge_run(tmp_path_factory: pytest.TempPathFactory) -> Started:
    """boot.py, then main.py with no recovery request: the bridge runs for RUN_FEEDS passes
    with a host that says HELLO, opens valve 1, then falls silent."""
    host = encode(1, "HELLO", (2, 2000)) + encode(2, "SET", (1, 1, 5000))
    return start(
        tmp_path_factory.mktemp("pico"), {"run": ["boot", "main"], "feeds": RUN_FEEDS}, host
    )


@pytest.mark.parametrize("active_low", [True, False], ids=["active_low", "active_high"])
def test_boot_drives_every_relay_pin_off_before_anything_else(
    tmp_path: Path, active_low: bool
) -> None:
    """boot.py makes every relay pin an output at its OFF level (1 on an active-low board),
    touches nothing else, and loads nothing but board.py and hal.py to do it."""
    r = start(tmp_path, {"run": ["boot"], "active_low": active_low})
    assert r.events == r.relays_off(1 if active_low else 0)
    assert r.report["loaded_after_boot"] == ["board", "boot", "hal"]
    assert r.stdout == b""


def test_main_starts_the_bridge_after_the_window_with_the_watchdog_last(
    bridge_run: Started,
) -> None:
    r = bridge_run
    cfg = r.report["config"]
    n = len(r.relay_pins)
    events = r.events
    assert events[:n] == r.relays_off()  # boot.py, before anything else of the start-up
    # The recovery window: jumper pin read with its pull-up, the LED lit while it is open.
    assert events[n : n + 4] == [
        ["pin", cfg["safe_mode_pin"], "IN", "PULL_UP", None],
        ["pin", cfg["led_pin"], "OUT", None, None],
        ["set", cfg["led_pin"], 1],
        ["set", cfg["led_pin"], 0],
    ]
    # hal.Hal: the relays OFF again, then every other pin; only then Ctrl-C off and, last,
    # the watchdog, once the whole window has passed.
    assert events[n + 4 : 2 * n + 4] == r.relays_off()
    kbd = events.index(["kbd_intr", -1])
    assert all(i < kbd for i, e in enumerate(events) if e[0] == "pin")
    assert events[kbd + 1] == ["wdt", min(cfg["watchdog_ms"], 8388), cfg["safe_mode_window_ms"]]
    assert len(r.kinds("wdt")) == 1 and len(r.kinds("kbd_intr")) == 1
    assert r.report["ended"] == "StopLoop" and r.report["feeds"] == RUN_FEEDS


def test_the_bridge_runs_on_the_pins_and_bus_hal_gives_it(bridge_run: Started) -> None:
    """The loop main.py starts: the host's frames arrive through hal.py's stdin poll, the ON
    reaches the valve's pin at its ON level, the sensor is read off the 1-Wire stub, and the
    host's silence ends the ON (the dead-man) on the pin too."""
    r = bridge_run
    frames = r.frames
    assert (frames[0].kind, frames[0].fields[0]) == ("BOOT", "power_on")
    acks = [f.fields[0] for f in frames if f.kind == "ACK"]
    assert acks == ["1", "2"]  # HELLO and SET
    rom = next(f.fields[1] for f in frames if f.kind == "ROM")
    readings = [f.fields for f in frames if f.kind == "T"]
    assert readings and set(readings) == {(rom, str(SENSOR_RAW), "ok")}
    assert any(f.kind == "FAULT" and f.fields == ("host_silent",) for f in frames)
    valve_pin = r.relay_pins[1]
    assert [e for e in r.kinds("set") if e[1] == valve_pin] == [
        ["set", valve_pin, 0],  # ON: active-low
        ["set", valve_pin, 1],  # OFF at the dead-man
    ]


def test_the_recovery_jumper_keeps_the_bridge_from_starting(tmp_path: Path) -> None:
    r = start(tmp_path, {"run": ["boot", "main"], "jumper": 0})
    assert r.report["safe_mode"] is True and r.report["ended"] == "returned"
    assert r.report["now_ms"] == 0  # seen at the window's first look
    _assert_safe_mode(r)


@pytest.mark.parametrize(("pressed_at_ms", "safe"), [(700, True), (1600, False)])
def test_bootsel_pressed_within_the_window_keeps_the_bridge_from_starting(
    tmp_path: Path, pressed_at_ms: int, safe: bool
) -> None:
    """BOOTSEL counts while the LED is lit (the first 1.5 s), not after."""
    r = start(tmp_path, {"run": ["boot", "main"], "bootsel_at_ms": pressed_at_ms, "feeds": 3})
    if safe:
        assert r.report["safe_mode"] is True
        _assert_safe_mode(r)
    else:
        assert r.report["ended"] == "StopLoop" and r.kinds("wdt")
        assert r.frames[0].kind == "BOOT"


def test_the_hosts_safe_request_holds_for_one_reset_only(tmp_path: Path) -> None:
    """``SAFE`` (for `zcw bridge flash`): a flag on the flash, then a reset; the next boot
    opens the REPL and removes the flag, the one after runs the bridge again."""
    asked = start(tmp_path, {"run": ["boot", "restart"]})
    assert asked.report["ended"] == "reset" and asked.report["flag"] is True
    assert asked.events[: len(asked.relay_pins)] == asked.relays_off()
    safe = start(tmp_path, {"run": ["boot", "main"]})
    assert safe.report["safe_mode"] is True and safe.report["flag"] is False
    assert ["pin", safe.report["config"]["safe_mode_pin"], "IN", "PULL_UP", None] not in (
        safe.events
    )  # the flag alone decides: no window
    _assert_safe_mode(safe)
    again = start(tmp_path, {"run": ["boot", "main"], "feeds": 3})
    assert again.report["ended"] == "StopLoop" and again.kinds("wdt")


@pytest.mark.parametrize(
    ("cause", "words"), [(1, "power_on"), (3, "watchdog_or_reset"), (5, "reset_5")]
)
def test_the_reset_cause_is_told_in_words(tmp_path: Path, cause: int, words: str) -> None:
    """machine.reset_cause() (rp2: PWRON_RESET 1, WDT_RESET 3) as the BOOT frame says it; a
    machine.reset() also reads as WDT_RESET on the RP2040, hence "watchdog_or_reset"."""
    r = start(tmp_path, {"run": ["boot", "main"], "reset_cause": cause, "feeds": 2})
    assert (r.frames[0].kind, r.frames[0].fields[0]) == ("BOOT", words)


def test_a_port_whose_ticks_wrap_elsewhere_is_refused_with_ctrl_c_still_working(
    tmp_path: Path,
) -> None:
    """ticks.py computes with the Pico's 2**30 period; on a port with another (the unix
    port's own is 2**62) hal.Hal refuses to start before Ctrl-C is disabled or the watchdog
    started, so the REPL stays reachable, with every relay OFF."""
    r = start(tmp_path, {"run": ["boot", "main"], "ticks_period": 1 << 62})
    assert r.report["ended"].startswith("RuntimeError: ticks period is not 2**30")
    assert r.kinds("kbd_intr") == [] and r.kinds("wdt") == []
    assert r.events[: len(r.relay_pins)] == r.relays_off()
    assert r.kinds("set") == [["set", "LED", 1], ["set", "LED", 0]]  # the window's LED only


def _assert_safe_mode(r: Started) -> None:
    """Safe mode: relays OFF again, the LED blinking (a 100 ms timer), no watchdog, Ctrl-C
    left working, the bridge never loaded and nothing but the notice on the serial port."""
    events = r.events
    assert events[: len(r.relay_pins)] == r.relays_off()
    assert r.kinds("wdt") == [] and r.kinds("kbd_intr") == []
    assert "bridge" not in r.report["loaded"]
    timer = events.index(["timer", 100])
    assert events[timer - len(r.relay_pins) - 1 : timer - 1] == r.relays_off()
    assert r.frames == []
    assert b"SAFE MODE" in r.stdout
