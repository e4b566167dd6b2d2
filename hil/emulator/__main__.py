"""``python -m hil.emulator --house R0``: an emulated Pico on a pty, as its own process.

It prints ``pty <path>`` first, then one JSON line per relay change. Commands on stdin, one
per line: ``press N``, ``long N``, ``fault SENSOR KIND`` (power_on_85, disconnected,
crc_error, zero, stuck), ``heal SENSOR``, ``reboot``, ``unplug``, ``replug``, ``relays``,
``now`` (prints the simulated time), ``quit``.
Point a daemon at it with ``[bridge] port = "<path>"``.
"""

from __future__ import annotations

import argparse
import json
import select
import sys
from pathlib import Path

from hil.emulator.emulator import Emulator, rom_for
from hil.house import load_house
from hil.plant import Plant


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.emulator", description=__doc__)
    ap.add_argument("--house", default="R0", help="house name or TOML path (default R0)")
    ap.add_argument("--speed", type=float, default=1.0, help="simulation speed (× real time)")
    ap.add_argument("--link", type=Path, help="keep a stable symlink to the pty here")
    ap.add_argument("--host-timeout-ms", type=int, default=2000, help="the dead-man (≤ 3000)")
    args = ap.parse_args()
    plant = Plant(load_house(args.house))
    emu = Emulator(
        plant,
        speed=args.speed,
        link_path=args.link,
        config={"host_timeout_ms": args.host_timeout_ms},
    )
    out = sys.stdout
    out.write(f"pty {emu.pty_path}\n")
    out.write(json.dumps({"sensors": {n: rom_for(n) for n in plant.sensor_names}}) + "\n")
    out.flush()
    seen = seen_frames = 0
    with emu:
        while True:
            ready, _, _ = select.select([sys.stdin], [], [], 0.05)
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
            out.flush()
            if not ready:
                continue
            line = sys.stdin.readline()
            if not line:
                return 0
            cmd = line.split()
            if not cmd:
                continue
            if cmd[0] == "quit":
                return 0
            if cmd[0] in ("press", "long"):
                emu.press_button(int(cmd[1]), long=cmd[0] == "long")
            elif cmd[0] == "fault":
                emu.inject_sensor(cmd[1], cmd[2])
            elif cmd[0] == "heal":
                emu.inject_sensor(cmd[1], None)
            elif cmd[0] == "reboot":
                emu.reboot()
            elif cmd[0] == "unplug":
                emu.unplug()
            elif cmd[0] == "replug":
                out.write(f"pty {emu.replug()}\n")
            elif cmd[0] == "now":
                out.write(json.dumps({"now": round(emu.plant.t_s, 3)}) + "\n")
            elif cmd[0] == "relays":
                out.write(json.dumps({"relays": emu.relays()}) + "\n")
            out.flush()


if __name__ == "__main__":
    raise SystemExit(main())
