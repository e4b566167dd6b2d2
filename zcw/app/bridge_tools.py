"""`zcw bridge info` and `zcw bridge console`: look at a bridge without running the daemon.

Both open the port exclusively, so they refuse politely while a daemon owns it. With
``port = "sim"`` they start the emulator for the configured house and talk to it instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import serial

from zcw.adapters.bridge.protocol import PROTOCOL_VERSION, Decoder, Frame, encode
from zcw.config import Config
from zcw.errors import BridgeError


@dataclass
class BridgeInfo:
    """What a bridge says about itself."""

    port: str
    firmware: str = "?"
    protocol: str = "?"
    relays: str = "?"
    boot_reason: str = "?"
    sensors: dict[str, str | None] = field(default_factory=dict)  # ROM -> latest reading
    sensor_count: int = 0  # how many ROM frames follow INFO
    relay_mask: int = 0
    fault: str = "ok"
    names: dict[str, str] = field(default_factory=dict)  # ROM -> sensor name in the config


@contextlib.contextmanager
def _port(cfg: Config) -> Iterator[tuple[str, dict[str, str]]]:
    """The port to open, and ROM id → sensor name."""
    if cfg.bridge.port != "sim":
        yield cfg.bridge.port, {rom.lower(): name for name, rom in cfg.sensors.items()}
        return
    from hil.emulator import Emulator, rom_for  # lazy: only the simulator needs hil
    from hil.house import load_house
    from hil.plant import Plant

    plant = Plant(load_house(cfg.bridge.sim_house))
    with Emulator(plant) as emu:
        yield emu.pty_path, {rom_for(n): n for n in plant.sensor_names}


def open_port(port: str, baud: int = 115200) -> serial.Serial:
    """Open the bridge's port for this process alone; say what to check when it cannot."""
    try:
        return serial.Serial(port, baud, timeout=0.1, exclusive=True)
    except (serial.SerialException, OSError) as exc:
        raise BridgeError(
            f"cannot open the bridge on {port} ({exc}). Is the daemon running (it owns the port: "
            "use `zcw status`), is the Pico plugged in (`ls /dev/serial/by-id/`), and is this "
            "user in the dialout group?"
        ) from exc


def read_info(
    port: str,
    *,
    baud: int = 115200,
    names: dict[str, str] | None = None,
    timeout_s: float = 3.0,
) -> BridgeInfo:
    """Handshake with whatever is on ``port`` and collect what a zcw bridge says of itself."""
    info = BridgeInfo(port=port, names=dict(names or {}))
    with open_port(port, baud) as ser:
        ser.write(encode(1, "HELLO", (PROTOCOL_VERSION, 3000)))
        decoder = Decoder()
        deadline = time.monotonic() + timeout_s
        got_info = False
        while time.monotonic() < deadline and not (
            got_info
            and len(info.sensors) >= info.sensor_count
            and all(v is not None for v in info.sensors.values())
        ):
            for frame in decoder.feed(ser.read(ser.in_waiting or 1)):
                got_info |= _absorb(info, frame)
        # Say goodbye cleanly: relays OFF (they were never on) and stop being its host.
        ser.write(encode(2, "SET", (0, 0, 0)))
    if not got_info:
        raise BridgeError(
            f"no answer from a zcw bridge on {port} within {timeout_s:.0f} s; flash the "
            "firmware (firmware_bridge/README.md) or check the port"
        )
    return info


def bridge_info(cfg: Config, *, timeout_s: float = 3.0) -> BridgeInfo:
    with _port(cfg) as (port, names):
        return read_info(port, baud=cfg.bridge.baud, names=names, timeout_s=timeout_s)


def _absorb(info: BridgeInfo, frame: Frame) -> bool:
    f = frame.fields
    if frame.kind == "INFO" and len(f) >= 4:
        info.firmware, info.protocol, info.relays, info.boot_reason = f[0], f[1], f[2], f[3]
        info.sensor_count = int(f[4]) if len(f) > 4 and f[4].isdigit() else 0
        return True
    if frame.kind == "ROM" and len(f) == 2:
        info.sensors.setdefault(f[1], None)
    if frame.kind == "BOOT" and f:
        info.boot_reason = f[0]
    elif frame.kind == "T" and len(f) == 3:
        info.sensors[f[0]] = f"{int(f[1]) / 16:.2f} °C" if f[2] == "ok" else f"error: {f[2]}"
    elif frame.kind == "R" and len(f) >= 2:
        info.relay_mask, info.fault = int(f[0]), f[1]
    elif frame.kind == "NAK" and len(f) >= 2 and f[1] == "version":
        raise BridgeError(
            f"the bridge does not speak protocol {PROTOCOL_VERSION}: flash the firmware that "
            "ships with this zcw (firmware_bridge/README.md)"
        )
    return False


def bridge_console(
    cfg: Config, emit: Callable[[str], None], *, seconds: float | None = None
) -> None:
    """Print every frame the bridge sends, decoded, until Ctrl-C (or ``seconds``)."""
    with _port(cfg) as (port, _names), open_port(port, cfg.bridge.baud) as ser:
        emit(f"listening on {port} (Ctrl-C to stop); frames are decoded and CRC-checked")
        decoder = Decoder()
        start = time.monotonic()
        while seconds is None or time.monotonic() - start < seconds:
            for frame in decoder.feed(ser.read(ser.in_waiting or 1)):
                stamp = time.monotonic() - start
                emit(f"{stamp:8.3f}s  #{frame.seq:<5} {frame.kind:<6} {' '.join(frame.fields)}")
        if decoder.dropped:
            emit(f"{decoder.dropped} garbled or partial frames dropped")
