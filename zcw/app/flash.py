"""`zcw bridge flash`: copy this zcw's firmware to the Pico with mpremote, and check it runs.

A running bridge cannot be reached by mpremote: its REPL's Ctrl-C is off and its watchdog
resets a Pico that stops looping. So zcw first asks it to restart into safe mode (``SAFE``:
relays OFF, then a reset into a mode with no bridge loop, no watchdog and the REPL open),
copies the files, resets it, and reads back the version it now reports. A bridge too old to
know ``SAFE`` (or a fresh MicroPython) is put in safe mode by hand: the jumper, or BOOTSEL
while the LED is lit after power-up (firmware_bridge/README.md).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from zcw.adapters.bridge.protocol import PROTOCOL_VERSION, Decoder, encode
from zcw.app.bridge_tools import open_port, read_info
from zcw.errors import BridgeError

# board.py holds the installer's own wiring: it is copied only when asked (--with-board).
NOT_FOR_THE_PICO = {"fake_hal.py"}
BOOT_WAIT_S = 20.0


def firmware_dir() -> Path:
    """Where this zcw's firmware files are (the source tree, or the installed wheel)."""
    spec = importlib.util.find_spec("firmware_bridge")
    if spec is None or not spec.submodule_search_locations:
        raise BridgeError("the firmware files are missing from this zcw install; reinstall zcw")
    return Path(next(iter(spec.submodule_search_locations)))


def firmware_version(directory: Path) -> str:
    text = (directory / "bridge.py").read_text(encoding="utf-8")
    m = re.search(r'^FIRMWARE_VERSION = "([^"]+)"', text, re.M)
    if m is None:
        raise BridgeError(f"no FIRMWARE_VERSION in {directory / 'bridge.py'}")
    return m.group(1)


def files_to_copy(directory: Path, *, with_board: bool) -> list[Path]:
    files = sorted(p for p in directory.glob("*.py") if p.name not in NOT_FOR_THE_PICO)
    return [p for p in files if with_board or p.name != "board.py"]


def ask_for_safe_mode(port: str, *, timeout_s: float = 3.0) -> bool:
    """Send ``SAFE`` to a running bridge; True once it acknowledged (it then resets)."""
    with open_port(port) as ser:
        ser.write(encode(1, "HELLO", (PROTOCOL_VERSION, 3000)))
        ser.write(encode(2, "SAFE"))
        decoder = Decoder()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for frame in decoder.feed(ser.read(ser.in_waiting or 1)):
                if frame.kind == "ACK" and frame.fields[:1] == ("2",):
                    return True
                if frame.kind == "NAK" and frame.fields[:1] == ("2",):
                    return False
    return False


def flash(
    port: str,
    *,
    with_board: bool = False,
    mpremote: Sequence[str] = (sys.executable, "-m", "mpremote"),
    emit: Callable[[str], None] = print,
) -> str:
    """Flash and verify; returns the version the bridge reports afterwards."""
    directory = firmware_dir()
    wanted = firmware_version(directory)
    try:
        running = read_info(port, timeout_s=3.0)
        emit(f"bridge on {port} runs firmware {running.firmware}; asking it into safe mode")
        if not ask_for_safe_mode(port):
            raise BridgeError(
                "the bridge did not accept SAFE (firmware older than this zcw's?): put it in "
                "safe mode by hand (the recovery jumper, or BOOTSEL while the LED is lit after "
                "power-up), then run zcw bridge flash again"
            )
        time.sleep(2.0)  # it resets; USB comes back under the same by-id name
    except BridgeError as exc:
        if "did not accept SAFE" in str(exc):
            raise
        emit(f"no running bridge answers on {port}: assuming safe mode or a fresh MicroPython")
    files = files_to_copy(directory, with_board=with_board)
    emit(f"copying {len(files)} files of firmware {wanted} with mpremote")
    _run([*mpremote, "connect", port, "fs", "cp", *map(str, files), ":"])
    _run([*mpremote, "connect", port, "reset"])
    end = time.monotonic() + BOOT_WAIT_S
    while True:
        try:
            info = read_info(port, timeout_s=3.0)
            break
        except BridgeError:
            if time.monotonic() > end:
                raise BridgeError(
                    f"the bridge did not come back on {port} within {BOOT_WAIT_S:.0f} s after "
                    "the flash; unplug and replug it, then `zcw bridge info --port " + port + "`"
                ) from None
            time.sleep(1.0)
    if info.firmware != wanted:
        raise BridgeError(f"the bridge reports firmware {info.firmware}, not {wanted}")
    emit(f"bridge on {port} runs firmware {info.firmware}, protocol {info.protocol}: done")
    return info.firmware


def _run(command: Sequence[str]) -> None:
    try:
        out = subprocess.run(list(command), capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise BridgeError(f"{command[0]} not found: `pip install mpremote`") from None
    if out.returncode != 0:
        raise BridgeError(
            f"mpremote failed ({(out.stderr or out.stdout).strip()[-300:]}); if the bridge "
            "firmware is running, put the Pico in safe mode (firmware_bridge/README.md, "
            "'Recovery') and try again"
        )
