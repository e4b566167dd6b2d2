"""Check a real bridge on the bench: identity, sensors, every relay, deadlines and the dead-man.

Usage (daemon stopped, valves' water supply closed or a bucket ready):

    python -m hil.real_rig --port /dev/zcw-bridge [--relays] [--deadman]

``--relays`` clicks each relay ON for one second with a one-second deadline and checks the
bridge confirms it, then that the deadline turns it OFF. ``--deadman`` turns valve 1 ON, then
goes silent and checks the bridge dropped it by itself and latched ``host_silent``. The same
script runs against the emulator (``python -m hil.emulator`` prints a pty path), which is how
the test suite keeps it honest.
"""

from __future__ import annotations

import argparse
import time

import serial

from zcw.adapters.bridge.protocol import PROTOCOL_VERSION, Decoder, Frame, encode


class Rig:
    """A tiny host: send commands, collect frames."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, 115200, timeout=0.05, exclusive=True)
        self.decoder = Decoder()
        self.seq = 0
        self.frames: list[Frame] = []

    def send(self, kind: str, *fields: str | int) -> None:
        self.seq += 1
        self.ser.write(encode(self.seq, kind, fields))

    def pump(self, seconds: float, *, silent: bool = False) -> list[Frame]:
        """Read for ``seconds``, heart-beating every 0.5 s unless ``silent``."""
        end = time.monotonic() + seconds
        next_hb = time.monotonic() + 0.5
        got: list[Frame] = []
        while time.monotonic() < end:
            got += self.decoder.feed(self.ser.read(self.ser.in_waiting or 1))
            if not silent and time.monotonic() >= next_hb:
                self.send("HB")
                next_hb += 0.5
        self.frames += got
        return got

    def last(self, kind: str) -> Frame | None:
        return next((f for f in reversed(self.frames) if f.kind == kind), None)


def check(ok: bool, what: str) -> bool:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.real_rig", description=__doc__)
    ap.add_argument("--port", required=True)
    ap.add_argument("--relays", action="store_true", help="click every relay (1 s each)")
    ap.add_argument("--deadman", action="store_true", help="test the host-silence dead-man")
    args = ap.parse_args()
    rig = Rig(args.port)
    good = True
    print(f"bridge on {args.port}")
    rig.send("HELLO", PROTOCOL_VERSION, 2000)
    rig.send("CLR")
    rig.pump(2.5)
    info = rig.last("INFO")
    good &= check(info is not None, f"handshake: {' '.join(info.fields) if info else 'no INFO'}")
    readings = [f for f in rig.frames if f.kind == "T"]
    good &= check(bool(readings), f"{len(readings)} sensor readings")
    for f in readings[-4:]:
        value = f"{int(f.fields[1]) / 16:.2f} °C" if f.fields[2] == "ok" else f.fields[2]
        good &= check(f.fields[2] == "ok", f"sensor {f.fields[0]}: {value}")
    if args.relays:
        rig.send("LOCK", 0)  # let the pump click alone on the bench
        for ch in range(5):
            rig.send("SET", ch, 1, 1000)
            rig.pump(0.4)
            r = rig.last("R")
            good &= check(r is not None and (int(r.fields[0]) >> ch) & 1 == 1, f"relay {ch} ON")
            rig.pump(1.0)
            r = rig.last("R")
            good &= check(r is not None and int(r.fields[0]) == 0, f"relay {ch} OFF at deadline")
        rig.send("LOCK", 1)
    if args.deadman:
        rig.send("SET", 1, 1, 10000)
        rig.pump(0.3)
        rig.pump(2.0 + 0.5, silent=True)  # no frames from us: the dead-man must trip
        rig.send("HB")
        rig.pump(0.5)
        r = rig.last("R")
        fault = rig.last("FAULT")
        good &= check(r is not None and int(r.fields[0]) == 0, "relays OFF after host silence")
        good &= check(fault is not None and fault.fields == ("host_silent",), "host_silent latched")
        rig.send("CLR")
        rig.pump(0.2)
    rig.ser.close()
    print("all checks passed" if good else "SOME CHECKS FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
