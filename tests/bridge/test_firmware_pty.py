"""The firmware's safety rules over a real pty, against ``python -m hil.emulator`` as a process.

The emulator runs the firmware's own ``Bridge`` on a manual clock (``--manual-clock``): time
moves only when the test says ``advance MS``, one firmware pass per 10 ms, and the relay
history it prints is in emulator time. So the judgement is exact however loaded the machine
is; only the wall-clock waits for answers are generous. Each property is checked twice, with
the firmware's tick clock starting at 0 and placed so that the 2**30 ms wrap falls inside.

The frames are written by hand from PROTOCOL.md with this file's own encoder (CRC-16/
CCITT-FALSE is ``binascii.crc_hqx(body, 0xFFFF)``): neither the host's codec nor the
firmware's is imported, so a defect shared by both cannot hide here.
"""

from __future__ import annotations

import binascii
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
import tty
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRAP = 1 << 30  # the Pico's ticks_ms() period
WAIT_S = 20.0  # wall clock allowed for any one answer: generous, nothing is judged on it
LIMIT = 38 * 16  # 38 °C in 1/16 °C


def encode(seq: int, kind: str, *fields: object) -> bytes:
    """``$<seq>,<TYPE>[,<field>…]*<CRC>\\n`` with the CRC as 4 upper-case hex digits."""
    body = ",".join([str(seq), kind, *(str(f) for f in fields)]).encode()
    return b"$" + body + b"*%04X\n" % binascii.crc_hqx(body, 0xFFFF)


def decode(line: bytes) -> tuple[int, str, list[str]] | None:
    star = line.rfind(b"*")
    if not line.startswith(b"$") or star < 0:
        return None
    body, crc = line[1:star], line[star + 1 :]
    if len(crc) != 4 or crc.upper() != crc or int(crc, 16) != binascii.crc_hqx(body, 0xFFFF):
        return None
    seq, kind, *fields = body.decode().split(",")
    return int(seq), kind, fields


def crc8(data: bytes) -> int:
    """Dallas/Maxim CRC-8, for a DS18B20 ROM id of our own."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def absent_rom() -> str:
    """A valid DS18B20 ROM id (family 0x28, CRC-8) that is on no emulated bus."""
    body = bytes([0x28, 1, 2, 3, 4, 5, 6])
    return (body + bytes([crc8(body)])).hex()


def ms(t_s: float) -> int:
    return round(t_s * 1000)


class EmulatedPico:
    """``python -m hil.emulator --manual-clock`` and the pty it serves, seen as a host."""

    def __init__(self, *, wrap_at_ms: int | None, host_timeout_ms: int = 2000) -> None:
        # The firmware's tick clock reaches 2**30 (= 0) at emulator time wrap_at_ms.
        ticks_start = 0 if wrap_at_ms is None else WRAP - wrap_at_ms
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hil.emulator",
                "--house",
                "R0",
                "--manual-clock",
                "--ticks-start-ms",
                str(ticks_start),
                "--host-timeout-ms",
                str(host_timeout_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first.startswith("pty "), first
        self.sensors: dict[str, str] = json.loads(self.proc.stdout.readline())["sensors"]
        self.fd = os.open(first.split()[1], os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.t_ms = 0  # emulator time: it moves only when we advance it
        self.seq = 0
        self.lines: list[dict[str, Any]] = []  # what the emulator printed, in order
        self._stdout: queue.Queue[dict[str, Any]] = queue.Queue()
        self.frames: list[tuple[int, str, list[str]]] = []  # what the bridge said on the pty
        self._got_frame = threading.Condition()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_pty, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._stdout.put(json.loads(line))

    def _read_pty(self) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self.fd, 4096)
            except OSError:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            with self._got_frame:
                for line in lines:
                    start = line.rfind(b"$")  # a '$' always starts a new frame
                    frame = decode(line[start:].rstrip(b"\r")) if start >= 0 else None
                    if frame is not None:
                        self.frames.append(frame)
                self._got_frame.notify_all()

    # -- talking to the bridge ----------------------------------------------------------

    def send(self, kind: str, *fields: object, seq: int | None = None) -> str:
        """One command; returns "ACK" or the NAK reason. ``seq`` None: the next one."""
        if seq is None:
            self.seq = self.seq % 65535 + 1  # 1…65535: the host skips 0
            seq = self.seq
        with self._got_frame:
            start = len(self.frames)
        os.write(self.fd, encode(seq, kind, *fields))
        deadline = time.monotonic() + WAIT_S
        with self._got_frame:
            while True:
                for _seq, k, f in self.frames[start:]:
                    if k in ("ACK", "NAK") and f[0] == str(seq):
                        return "ACK" if k == "ACK" else f[1]
                left = deadline - time.monotonic()
                assert left > 0, f"no answer to {kind} {fields} (seq {seq})"
                self._got_frame.wait(left)

    def said(self, kind: str) -> list[list[str]]:
        with self._got_frame:
            return [f for _s, k, f in self.frames if k == kind]

    # -- talking to the emulator --------------------------------------------------------

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def advance(self, dt_ms: int) -> None:
        """Move emulator time on; returns once everything up to then has been printed."""
        self.t_ms += dt_ms
        self.command(f"advance {dt_ms}")
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"emulator did not reach t={self.t_ms} ms"
            item = self._stdout.get(timeout=left)
            self.lines.append(item)
            if "now" in item:
                assert ms(item["now"]) == self.t_ms, (item, self.t_ms)
                return

    def advance_to(self, t_ms: int) -> None:
        if t_ms > self.t_ms:
            self.advance(t_ms - self.t_ms)

    def relay(self, ch: int) -> list[tuple[int, bool]]:
        """Relay ``ch``'s changes as (emulator ms, on), up to the last advance."""
        return [(ms(i["t"]), i["on"]) for i in self.lines if i.get("relay") == ch]

    def is_on(self, ch: int) -> bool:
        changes = self.relay(ch)
        return bool(changes) and changes[-1][1]

    def on_ms(self, ch: int) -> int:
        total, since = 0, None
        for t, on in self.relay(ch):
            if on:
                since = t
            elif since is not None:
                total, since = total + t - since, None
        return total + (self.t_ms - since if since is not None else 0)

    def printed(self, kind: str) -> list[tuple[int, list[str]]]:
        """Frames of ``kind`` the emulator printed (T, LCLOSE, FAULT, OFF …), with ms."""
        return [(ms(i["t"]), i["fields"]) for i in self.lines if i.get("frame") == kind]

    def close(self) -> None:
        self._stop.set()
        try:
            self.command("quit")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        os.close(self.fd)


@pytest.fixture
def pico() -> Iterator[Any]:
    made: list[EmulatedPico] = []

    def make(**kwargs: Any) -> EmulatedPico:
        made.append(EmulatedPico(**kwargs))
        return made[-1]

    yield make
    for p in made:
        p.close()


WRAPS = pytest.mark.parametrize("wrap", [False, True], ids=["ticks_from_0", "across_wrap"])


def handshake(p: EmulatedPico, timeout_ms: int, lock: int) -> None:
    assert p.send("HELLO", 2, timeout_ms) == "ACK"
    assert p.send("CLR") == "ACK"
    assert p.send("LOCK", lock) == "ACK"


@WRAPS
def test_a_silent_host_leaves_every_relay_off_within_its_timeout(pico: Any, wrap: bool) -> None:
    # The last frame at 10 s, the tick wrap 1 s into the silence.
    p = pico(wrap_at_ms=11000 if wrap else None, host_timeout_ms=2000)
    handshake(p, 2000, lock=1)
    while True:
        for ch in (1, 2, 0):
            assert p.send("SET", ch, 1, 5000) == "ACK"
        if p.t_ms >= 10000:
            break
        p.advance(500)
    last = p.t_ms
    p.advance(4000)
    for ch in (0, 1, 2):
        (t_on, on), (t_off, off) = p.relay(ch)
        assert on and not off and t_on == 0
        assert 2000 < t_off - last <= 2000 + 500, (ch, t_off, last)
    assert [f for _t, f in p.printed("FAULT")] == [["host_silent"]]
    # Latched: ON refused until CLR, even though the host is back.
    assert p.send("SET", 1, 1, 5000) == "host_silent"
    p.advance(500)
    assert not p.is_on(1)
    assert p.send("CLR") == "ACK"
    assert p.send("SET", 1, 1, 5000) == "ACK"
    p.advance(10)
    assert p.is_on(1)


def stretches(changes: list[tuple[int, bool]], until: int) -> list[tuple[int, int]]:
    """(on, off) pairs of one relay; a relay still ON counts until ``until``."""
    out, since = [], None
    for t, on in changes:
        if on:
            since = t
        elif since is not None:
            out.append((since, t))
            since = None
    return out + ([(since, until)] if since is not None else [])


@WRAPS
def test_the_cap_holds_against_a_host_that_refreshes_every_second(pico: Any, wrap: bool) -> None:
    # 30 minutes of ON asked every second (for 15 minutes each time) for valves 1 and 2 and,
    # from 1 s on, the pump. For valve 1 the host never says OFF; for valve 2 and the pump
    # it says OFF after each refusal, as a sane host does. The tick wrap falls 5 min in.
    p = pico(wrap_at_ms=300000 if wrap else None, host_timeout_ms=3000)
    handshake(p, 3000, lock=1)
    answers: dict[int, Counter[str]] = {ch: Counter() for ch in (1, 2, 0)}
    for second in range(1800):
        for ch in (1, 2, 0) if second else (1, 2):  # the pump from 1 s on
            answer = p.send("SET", ch, 1, 900000)
            answers[ch][answer] += 1
            if answer == "cap" and ch != 1:
                assert p.send("SET", ch, 0, 0) == "ACK"
        p.advance(1000)
    end = p.t_ms
    # Valve 1: ON for the cap, then refused for the 20 minutes left.
    assert p.relay(1) == [(0, True), (600000, False)]
    assert (600000, ["1", "cap"]) in p.printed("OFF")
    assert answers[1]["cap"] == 1200, answers[1]
    # Valve 2: never more than the cap in one stretch, never back before 60 s of rest.
    valve2 = stretches(p.relay(2), end)
    assert valve2 == [(0, 600000), (660000, 1260000), (1320000, end)], valve2
    # The pump stops with its last valve (both capped at 600 s), and never runs past a cap.
    pump = stretches(p.relay(0), end)
    assert pump[0] == (1000, 600000) and (600000, ["0", "no_valve"]) in p.printed("LCLOSE")
    assert all(off - on <= 600000 for on, off in pump), pump
    assert p.on_ms(1) == 600000
    # CLR releases valve 1 at once.
    assert p.send("CLR") == "ACK"
    assert p.send("SET", 1, 1, 5000) == "ACK"
    p.advance(10)
    assert p.relay(1)[-1] == (end, True)


@WRAPS
def test_a_bound_valve_is_never_on_while_its_sensor_forbids(pico: Any, wrap: bool) -> None:
    p = pico(wrap_at_ms=20000 if wrap else None, host_timeout_ms=3000)
    rom = p.sensors["bathroom"]
    handshake(p, 3000, lock=1)
    p.command("temp bathroom 45")  # from the second conversion on (t = 1 s)
    assert p.send("BIND", 1, rom, LIMIT) == "ACK"
    assert p.send("BIND", 2, absent_rom(), LIMIT) == "ACK"  # valid, on no bus: accepted
    assert p.send("SET", 1, 1, 5000) == "sensor"  # not read yet
    p.advance(2000)
    answers: Counter[str] = Counter()
    while p.t_ms < 30000:  # the host insists, across the wrap
        for ch in (1, 2, 0):
            answers[p.send("SET", ch, 1, 5000)] += 1
        p.advance(1000)
        if p.t_ms == 10000:
            p.command("fault bathroom crc_error")
    assert set(answers) == {"limit", "sensor", "no_valve"}, answers
    assert answers["limit"] >= 8 and answers["sensor"] >= 8 + 28
    assert p.relay(0) == [] and p.relay(1) == [] and p.relay(2) == []
    assert [rom, "-", "crc"] in [f for _t, f in p.printed("T")]
    # Healed and cool: it opens. Then the reading that reaches the limit closes it in its
    # own pass, and the pump with it.
    p.command("heal bathroom")
    p.command("temp bathroom 30")
    p.advance(2000)
    assert p.send("SET", 1, 1, 5000) == "ACK"
    assert p.send("SET", 0, 1, 5000) == "ACK"
    p.command("temp bathroom 38")
    for _ in range(3):
        p.advance(1000)
        p.send("SET", 1, 1, 5000)
        p.send("SET", 0, 1, 5000)
    hot = [t for t, f in p.printed("T") if f[0] == rom and f[2] == "ok" and int(f[1]) >= LIMIT]
    t_hot = next(t for t in hot if t > 32000)
    assert p.relay(1)[-1] == (t_hot, False) and p.relay(0)[-1] == (t_hot, False)
    assert (t_hot, ["1", "limit"]) in p.printed("LCLOSE")
    assert (t_hot, ["0", "no_valve"]) in p.printed("LCLOSE")


@WRAPS
def test_the_pump_stops_in_the_same_pass_as_its_last_valve(pico: Any, wrap: bool) -> None:
    p = pico(wrap_at_ms=10500 if wrap else None, host_timeout_ms=3000)
    handshake(p, 3000, lock=1)
    while p.t_ms < 10000:
        for ch in (1, 2, 0):
            assert p.send("SET", ch, 1, 5000) == "ACK"
        p.advance(500)
    # The host closes one valve, then the last one.
    assert p.send("SET", 2, 0, 0) == "ACK"
    p.advance(500)
    assert p.is_on(0)
    assert p.send("SET", 1, 0, 0) == "ACK"
    p.advance(10)
    assert p.relay(1)[-1] == (10500, False) and p.relay(0)[-1] == (10500, False)
    # A pump refresh without a valve is refused and leaves the pump OFF.
    assert p.send("SET", 0, 1, 5000) == "no_valve"
    # The last valve's deadline passes (across the wrap in the second run).
    assert p.send("SET", 1, 1, 600) == "ACK"
    assert p.send("SET", 0, 1, 5000) == "ACK"
    for _ in range(4):
        p.advance(500)
        assert p.send("SET", 0, 1, 5000) == ("ACK" if p.t_ms < 11110 else "no_valve")
    assert p.relay(1)[-1] == (10510 + 600, False) and p.relay(0)[-1] == (11110, False)
    assert (11110, ["1", "deadline"]) in p.printed("OFF")
    assert (11110, ["0", "no_valve"]) in p.printed("LCLOSE")


@WRAPS
def test_the_sequence_window_refuses_late_retries(pico: Any, wrap: bool) -> None:
    p = pico(wrap_at_ms=5000 if wrap else None, host_timeout_ms=3000)
    assert p.send("HELLO", 2, 3000, seq=100) == "ACK"
    assert p.send("CLR", seq=101) == "ACK"
    assert p.send("LOCK", 0, seq=102) == "ACK"
    p.advance(2000)
    assert p.send("HB", seq=103) == "ACK"
    p.advance(2000)
    assert p.send("SET", 1, 1, 5000, seq=104) == "ACK"
    p.advance(500)
    assert p.send("SET", 1, 0, 0, seq=105) == "ACK"
    p.advance(1000)  # across the wrap
    # A late retry of the old ON is refused and does not undo the newer OFF.
    assert p.send("SET", 1, 1, 5000, seq=104) == "stale"
    # A duplicate gets the same answer, ACK or NAK, and is not applied again.
    assert p.send("SET", 1, 0, 0, seq=105) == "ACK"
    assert p.send("SET", 7, 1, 5000, seq=106) == "channel"
    assert p.send("SET", 7, 1, 5000, seq=106) == "channel"
    assert p.send("SET", 2, 1, 5000, seq=107) == "ACK"
    assert p.send("SET", 2, 0, 0, seq=107) == "ACK"  # same seq: a retry, not an OFF
    p.advance(1000)
    assert p.relay(1) == [(4000, True), (4500, False)]
    assert p.relay(2) == [(5500, True)]
    # HELLO resets the window, whatever its seq; the host's numbering wraps 65535 → 1.
    assert p.send("HELLO", 2, 3000, seq=65534) == "ACK"
    assert p.send("SET", 3, 1, 5000, seq=65535) == "ACK"
    assert p.send("SET", 3, 0, 0, seq=1) == "ACK"
    assert p.send("SET", 3, 1, 5000, seq=65535) == "stale"
    assert p.send("HB", seq=2) == "ACK"
    assert p.send("SET", 3, 1, 5000, seq=65534) == "stale"
    p.advance(1000)
    assert p.relay(3) == [(6500, True), (6500, False)]
