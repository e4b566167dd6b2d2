"""`zcw setup`: from a Pico on a USB port to a checked /etc/zcw/zcw.toml.

1. **Find the bridge**: every ``/dev/serial/by-id/`` device is asked for a zcw handshake;
   the one that answers is the Pico.
2. **Tell its sensors apart**: the DS18B20s are listed with their readings, and a person
   warms one with a hand: the reading that rises is that pipe's sensor.
3. **Write the config** from the answers, check it as `zcw config check` would, and say what
   to do next (systemd, udev).

Every answer can also come from a flag, so scripts run it with no prompts.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import serial

from zcw.adapters.bridge.protocol import PROTOCOL_VERSION, Decoder, Frame, encode
from zcw.app.bridge_tools import BridgeInfo, open_port, read_info
from zcw.config import Config, parse_config
from zcw.errors import BridgeError

# A hand on a pipe warms its sensor by a few kelvin within a minute; the rest of the house
# moves far less than this in that time.
WARM_K = 1.0
BY_ID = "/dev/serial/by-id/*"


@dataclass(frozen=True, slots=True)
class LoopAnswer:
    """One far tap: its name, its valve's relay channel and its sensor's ROM id."""

    name: str
    valve_relay: int
    rom: str
    cold_rom: str | None = None


@dataclass
class Answers:
    """Everything `zcw setup` asks, with the defaults a typical install has."""

    port: str
    loops: list[LoopAnswer] = field(default_factory=list)
    topology: str = "crossover"
    pump_relay: int = 0
    flow_lpm: float | None = None
    outlet_rom: str | None = None
    timezone: str = "UTC"
    socket: str = "/run/zcw/zcw.sock"
    store: str = "/var/lib/zcw/history.db"


def find_bridges(
    candidates: Sequence[str] | None = None, *, timeout_s: float = 3.0
) -> list[BridgeInfo]:
    """Ask each serial device for a zcw handshake; the ones that answer are bridges."""
    found = []
    for port in candidates if candidates is not None else sorted(glob.glob(BY_ID)):
        try:
            found.append(read_info(port, timeout_s=timeout_s))
        except BridgeError:
            continue  # not a zcw bridge (another board, a modem): say nothing of it
    return found


def warmed(baseline: Mapping[str, float], now: Mapping[str, float]) -> str | None:
    """The sensor a person is warming: risen WARM_K over where it started, and clearly more
    than every other (a hot draw elsewhere moves several at once: no answer then)."""
    rises = sorted(
        ((now[rom] - base, rom) for rom, base in baseline.items() if rom in now), reverse=True
    )
    if not rises or rises[0][0] < WARM_K:
        return None
    if len(rises) > 1 and rises[1][0] > rises[0][0] / 2:
        return None
    return rises[0][1]


@contextmanager
def _session(port: str, baud: int = 115200) -> Iterator[tuple[serial.Serial, Decoder]]:
    with open_port(port, baud) as ser:
        ser.write(encode(1, "HELLO", (PROTOCOL_VERSION, 3000)))
        yield ser, Decoder()


def watch_for_warming(
    port: str,
    roms: Sequence[str],
    *,
    timeout_s: float = 120.0,
    on_reading: Callable[[Mapping[str, float]], None] | None = None,
) -> str | None:
    """Watch the readings until one of ``roms`` is being warmed; None if none was in time."""
    baseline: dict[str, float] = {}
    latest: dict[str, float] = {}
    seq = 1
    with _session(port) as (ser, decoder):
        end = time.monotonic() + timeout_s
        last_hb = time.monotonic()
        while time.monotonic() < end:
            if time.monotonic() - last_hb > 1.0:  # keep the bridge's dead-man quiet
                seq += 1
                ser.write(encode(seq, "HB"))
                last_hb = time.monotonic()
            for frame in decoder.feed(ser.read(ser.in_waiting or 1)):
                value = _reading(frame)
                if value is None or value[0] not in roms:
                    continue
                rom, temp = value
                baseline.setdefault(rom, temp)
                latest[rom] = temp
                if on_reading is not None:
                    on_reading(dict(latest))
                found = warmed(baseline, latest)
                if found is not None:
                    return found
    return None


def _reading(frame: Frame) -> tuple[str, float] | None:
    f = frame.fields
    if frame.kind == "T" and len(f) == 3 and f[2] == "ok":
        try:
            return f[0], int(f[1]) / 16.0
        except ValueError:
            return None
    return None


def render(answers: Answers) -> str:
    """The config file, with a comment on every key a person may want to change."""
    sensors = {a.name: a.rom for a in answers.loops}
    sensors.update({f"{a.name}_cold": a.cold_rom for a in answers.loops if a.cold_rom})
    if answers.outlet_rom:
        sensors["heater_out"] = answers.outlet_rom
    lines = [
        "# zcw config written by `zcw setup`. Check it with: zcw config check",
        "# Every key is explained in config/crossover.toml of the zcw sources.",
        f'topology = "{answers.topology}"',
        f'timezone = "{answers.timezone}"',
        "",
        "[control]",
        "# The control socket `zcw status/start/stop` talk to (group zcw may use it).",
        f'socket = "{answers.socket}"',
        "",
        "[bridge]",
        "# The Pico, by a name that survives reboots.",
        f'port = "{answers.port}"',
        "",
        "[store]",
        f'path = "{answers.store}"',
        "",
    ]
    if answers.topology != "drain":
        lines += ["[pump]", f"relay = {answers.pump_relay}"]
        if answers.flow_lpm is not None:
            lines.append(f"flow_lpm = {answers.flow_lpm:g}")
        lines.append("")
    if answers.outlet_rom:
        lines += ["[heater]", 'outlet_sensor = "heater_out"', ""]
    lines += [
        "[sensors]",
        "# Sensor names and their DS18B20 ROM ids, as `zcw bridge info` lists them.",
    ]
    lines += [f'{name} = "{rom}"' for name, rom in sensors.items()]
    for a in answers.loops:
        lines += [
            "",
            "[[loops]]",
            f'name = "{a.name}"',
            f'sensor = "{a.name}"',
            f"valve_relay = {a.valve_relay}",
        ]
        if a.cold_rom:
            lines.append(f'cold_sensor = "{a.name}_cold"')
        lines += [
            "# Where the sensor sits: valve_body (brass, best), immersion, or pipe_clamp.",
            '# sensor_mount = "valve_body"',
        ]
    return "\n".join(lines) + "\n"


def check(text: str) -> Config:
    """Validate the rendered config exactly as `zcw config check` would."""
    import tomllib

    return parse_config(tomllib.loads(text), source="zcw setup")


def next_steps(path: Path) -> str:
    return "\n".join(
        [
            f"Written and checked: {path}",
            "Next:",
            "  sudo systemctl enable --now zcw        # start zcw now and at every boot",
            "  journalctl -u zcw -f                   # follow its log",
            "  zcw status                             # what it sees (you need to be in group zcw)",
            "scripts/install-pi installed the udev rule: the Pico is /dev/zcw-bridge too.",
        ]
    )
