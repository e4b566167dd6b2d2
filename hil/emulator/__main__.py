"""``python -m hil.emulator --house R0``: an emulated Pico on a pty, as its own process.

It prints ``pty <path>`` first, then ``{"sensors": {name: rom}}``, then one JSON line per
relay change (``{"t", "relay", "on"}``, t in emulator seconds) and per T, LCLOSE, FAULT,
BOOT, BTN and OFF frame the bridge sends (``{"t", "frame", "fields"}``); with ``--rx`` also
one per host frame the bridge received (``{"t", "rx", "seq", "fields"}``). Commands on
stdin, one per line: ``press N``, ``long N``, ``fault SENSOR KIND`` (power_on_85,
disconnected, crc_error, zero, stuck, missing), ``heal SENSOR``, ``temp SENSOR C`` (or
``temp SENSOR plant``), ``sensors``, ``reboot``, ``unplug``, ``replug``, ``relays``,
``now`` (prints the emulator time), ``advance MS`` (``--manual-clock`` only: move time on,
then print the time), ``quit``.

``--ticks-start-ms N`` starts the firmware's tick clock at N (2**30 - 60000 puts the wrap a
minute in). Point a daemon at it with ``[bridge] port = "<path>"``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
from collections.abc import Callable
from pathlib import Path

from hil.emulator.emulator import Emulator
from hil.house import load_house
from hil.plant import Plant


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.emulator", description=__doc__)
    ap.add_argument("--house", default="R0", help="house name or TOML path (default R0)")
    ap.add_argument("--speed", type=float, default=1.0, help="simulation speed (× real time)")
    ap.add_argument("--link", type=Path, help="keep a stable symlink to the pty here")
    ap.add_argument("--host-timeout-ms", type=int, default=2000, help="the dead-man (≤ 3000)")
    ap.add_argument("--ticks-start-ms", type=int, default=0, help="the firmware's first tick")
    ap.add_argument("--manual-clock", action="store_true", help="time moves only on `advance MS`")
    ap.add_argument("--step-ms", type=int, default=10, help="one firmware pass per step")
    ap.add_argument("--rx", action="store_true", help="print every host frame received")
    args = ap.parse_args()
    plant = Plant(load_house(args.house))
    emu = Emulator(
        plant,
        speed=args.speed,
        link_path=args.link,
        config={"host_timeout_ms": args.host_timeout_ms},
        ticks_start_ms=args.ticks_start_ms,
        manual_clock=args.manual_clock,
    )
    emu.hal.log_rx = args.rx
    out = sys.stdout
    out.write(f"pty {emu.pty_path}\n")
    out.write(json.dumps({"sensors": emu.sensors()}) + "\n")
    out.flush()
    seen = seen_frames = seen_rx = 0

    def flush() -> None:
        nonlocal seen, seen_frames, seen_rx
        history = emu.hal.history
        while seen < len(history):
            t, ch, on = history[seen]
            out.write(json.dumps({"t": round(t, 3), "relay": ch, "on": on}) + "\n")
            seen += 1
        frames = emu.hal.frames
        while seen_frames < len(frames):
            t, kind, fields = frames[seen_frames]
            out.write(json.dumps({"t": round(t, 3), "frame": kind, "fields": fields}) + "\n")
            seen_frames += 1
        rx = emu.hal.rx
        while seen_rx < len(rx):
            t, seq, kind, fields = rx[seen_rx]
            line = {"t": round(t, 3), "rx": kind, "seq": seq, "fields": fields}
            out.write(json.dumps(line) + "\n")
            seen_rx += 1
        out.flush()

    # Commands are read with os.read, not readline: a buffered reader would keep the lines
    # that arrived together in its buffer, where select() no longer sees them.
    stdin = sys.stdin.fileno()
    pending = b""
    with emu:
        while True:
            ready, _, _ = select.select([stdin], [], [], 0.05)
            flush()
            if not ready:
                continue
            data = os.read(stdin, 4096)
            if not data:
                return 0
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if not run_command(emu, line.decode().split(), args.step_ms, flush):
                    return 0


def run_command(emu: Emulator, cmd: list[str], step_ms: int, flush: Callable[[], None]) -> bool:
    """Carry out one stdin command; False for ``quit``."""
    out = sys.stdout
    if not cmd:
        return True
    if cmd[0] == "quit":
        return False
    if cmd[0] in ("press", "long"):
        emu.press_button(int(cmd[1]), long=cmd[0] == "long")
    elif cmd[0] == "fault":
        emu.inject_sensor(cmd[1], cmd[2])
    elif cmd[0] == "heal":
        emu.inject_sensor(cmd[1], None)
    elif cmd[0] == "temp":
        emu.force_temp(cmd[1], None if cmd[2] == "plant" else float(cmd[2]))
    elif cmd[0] == "sensors":
        out.write(json.dumps({"sensors": emu.sensors()}) + "\n")
    elif cmd[0] == "reboot":
        emu.reboot()
    elif cmd[0] == "unplug":
        emu.unplug()
    elif cmd[0] == "replug":
        out.write(f"pty {emu.replug()}\n")
    elif cmd[0] == "now":
        out.write(json.dumps({"now": round(emu.plant.t_s, 3)}) + "\n")
    elif cmd[0] == "advance":
        t = emu.advance(int(cmd[1]), step_ms)
        flush()  # everything up to this moment, before the answer
        out.write(json.dumps({"now": round(t, 3)}) + "\n")
    elif cmd[0] == "relays":
        out.write(json.dumps({"relays": emu.relays()}) + "\n")
    out.flush()
    return True


if __name__ == "__main__":
    raise SystemExit(main())
