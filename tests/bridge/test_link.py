"""The host link alone, against a hand-played bridge on a real pty.

The test plays the Pico: it answers the handshake, then says what a bridge may say (and a
great deal a bridge never would). The link must turn what the bridge did by itself into
notices for the core, and no frame, however mangled its fields, may stop its reader.
"""

from __future__ import annotations

import os
import random
import threading
import time
import tty
from collections.abc import Callable, Iterator

import pytest

from zcw.adapters.bridge.link import HEARTBEAT_S, Binding, SerialBridge
from zcw.adapters.bridge.protocol import Decoder, Frame, encode
from zcw.app.clock import MonotonicClock
from zcw.app.daemon import Daemon
from zcw.app.runner import IDLE_TICK_S
from zcw.app.wiring import wiring_from_config
from zcw.config import default_config
from zcw.domain.model import Request, Source
from zcw.ports import ChannelNotice, HardwareState, RelayCommand

ROM = "28aa000000000001"
ON = RelayCommand({0: True, 1: True}, deadline_s=5.0)


class FakeBridge:
    """The Pico's side of the pty: answers every command with ACK (or a NAK it is told to
    give), and records what the host sent."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self.slave = master, slave
        self.path = os.ttyname(slave)
        self.received: list[Frame] = []
        self.naks: dict[str, str] = {}  # command kind -> the reason to refuse it with
        self.mask = 0  # the relays it reports as on
        self._seq = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def send(self, kind: str, *fields: str | int) -> None:
        self._seq = self._seq % 0xFFFF + 1
        self.raw(encode(self._seq, kind, tuple(fields)))

    def raw(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self.master, view) :]
                except BlockingIOError:
                    time.sleep(0.001)

    def kinds(self) -> list[str]:
        return [f.kind for f in list(self.received)]

    def _serve(self) -> None:
        decoder = Decoder()
        next_report = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_report:  # a bridge reports its relays every second
                next_report = time.monotonic() + 1.0
                self.send("R", self.mask, "ok")
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                time.sleep(0.001)
                continue
            for frame in decoder.feed(data):
                self.received.append(frame)
                reason = self.naks.get(frame.kind)
                if reason is not None:
                    self.send("NAK", frame.seq, reason)
                else:
                    self.send("ACK", frame.seq)
                if frame.kind == "HELLO":
                    self.send("INFO", "1.1.0", 2, 3, "power_on", 1)
                    self.send("ROM", 0, ROM)
                    self.send("R", self.mask, "ok")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            os.close(fd)


def wait(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


@pytest.fixture
def bridge() -> Iterator[tuple[FakeBridge, SerialBridge]]:
    fake = FakeBridge()
    link = SerialBridge(
        fake.path, sensors={"bathroom": ROM}, bindings=[Binding(1, ROM, 38.0)], host_timeout_s=2.0
    )
    wait(lambda: link.online, "the handshake")
    yield fake, link
    link.close()
    fake.close()


def notices(
    link: SerialBridge, timeout_s: float = 3.0, quiet_s: float = 0.3
) -> list[ChannelNotice]:
    """The notices of one burst: up to ``timeout_s`` for the first, then until none has come
    for ``quiet_s`` (a command that sets two relays gets two answers, which a loaded machine
    may deliver in two polls; a straggler must not be taken for the next burst's)."""
    got: list[ChannelNotice] = []
    deadline = time.monotonic() + timeout_s
    last = deadline
    while time.monotonic() < (deadline if not got else last + quiet_s):
        new = list(link.poll().notices)
        if new:
            got += new
            last = time.monotonic()
        time.sleep(0.01)
    return got


def test_the_handshake_takes_the_relay_count_and_sensors_from_the_bridge(
    bridge: tuple[FakeBridge, SerialBridge],
) -> None:
    fake, link = bridge
    wait(lambda: link.roms == [ROM], "the ROM frames after INFO")
    assert link.relays == 3 and link.firmware == "1.1.0"
    wait(lambda: "BIND" in fake.kinds(), "the valve bound to its sensor")
    assert [n.kind for n in notices(link)] == ["bound"]
    fake.mask = 0b111
    wait(lambda: link.poll().confirmed == {0: True, 1: True, 2: True}, "three channels")


def test_a_local_close_is_a_notice_that_names_the_sensor_and_its_reading(
    bridge: tuple[FakeBridge, SerialBridge],
) -> None:
    fake, link = bridge
    notices(link, 0.5)  # the binding's own notice
    fake.send("T", ROM, 612, "ok")
    fake.send("LCLOSE", 1, "limit")
    got = notices(link)
    assert got == [
        ChannelNotice(
            "local_close", 1, "its sensor bathroom read 38.2 °C, at or over the 38.0 °C limit"
        )
    ]


def test_a_refused_on_and_a_cap_become_notices(bridge: tuple[FakeBridge, SerialBridge]) -> None:
    fake, link = bridge
    notices(link, 0.5)
    fake.naks["SET"] = "sensor"
    link.apply(ON)
    got = notices(link)
    assert ChannelNotice("refused", 1, "its sensor bathroom has not reported yet") in got
    fake.naks["SET"] = "cap"
    link.apply(RelayCommand({0: False, 1: False}, deadline_s=5.0))
    link.apply(ON)
    assert [n.kind for n in notices(link)][:1] == ["cap"]
    fake.send("OFF", 0, "cap")
    assert notices(link) == [ChannelNotice("cap", 0, "relay 0 was on for 600 s in one stretch")]


def test_a_dead_man_trip_is_told_once_and_cleared_only_after_the_core_has_seen_it(
    bridge: tuple[FakeBridge, SerialBridge],
) -> None:
    fake, link = bridge
    notices(link, 0.5)
    clears = fake.kinds().count("CLR")
    for _ in range(3):  # the bridge repeats it on every host frame until CLR
        fake.send("FAULT", "host_silent")
    time.sleep(0.2)
    link.apply(ON)  # a tick whose controller has not heard of the trip yet
    time.sleep(0.2)
    assert fake.kinds().count("CLR") == clears  # not before the core knows
    state = link.poll()
    assert [n.kind for n in state.notices] == ["dead_man"]
    link.apply(RelayCommand({0: False, 1: False}, deadline_s=5.0))
    wait(lambda: fake.kinds().count("CLR") == clears + 1, "CLR after the core saw the trip")
    assert link.poll().notices == []


def test_a_refused_binding_is_a_notice(bridge: tuple[FakeBridge, SerialBridge]) -> None:
    fake, link = bridge
    notices(link, 0.5)
    fake.naks["BIND"] = "rom"
    fake.send("BOOT", "power_on", "1.1.0", 2)  # a reboot: the link handshakes and binds again
    got: list[ChannelNotice] = []

    def refused() -> bool:
        got.extend(link.poll().notices)
        return any(n.kind == "bind_refused" for n in got)

    wait(refused, "the refusal")
    assert ChannelNotice("bind_refused", 1, "it answered 'rom'") in got


def test_a_reader_that_stopped_is_restarted_by_the_next_poll(
    bridge: tuple[FakeBridge, SerialBridge],
) -> None:
    fake, link = bridge
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    link._thread = dead  # as if it had died of something no except clause caught
    link.poll()
    assert link.reader_restarts == 1 and link._thread.is_alive()
    fake.mask = 0b10
    wait(lambda: link.poll().confirmed.get(1) is True, "frames read again")


def test_the_users_reset_clears_the_bridges_latches(
    bridge: tuple[FakeBridge, SerialBridge],
) -> None:
    fake, link = bridge
    # The handshake sends a CLR of its own: count from after it has arrived (under load it
    # could arrive after the count, and the two together overshoot clears + 1 for ever).
    wait(lambda: fake.kinds().count("CLR") >= 1, "the handshake's CLR")
    clears = fake.kinds().count("CLR")
    link.reset_latches()
    wait(lambda: fake.kinds().count("CLR") == clears + 1, "CLR on reset")


def test_a_heartbeat_goes_with_each_idle_tick_even_one_a_little_early() -> None:
    """An idle daemon ticks every HEARTBEAT_S (runner.IDLE_TICK_S); its ticks come on a grid,
    so two of them can be a hair less than that apart. Each must still send its heartbeat:
    skipping every other one would leave the bridge's dead-man a frame a second, not two."""
    assert IDLE_TICK_S <= HEARTBEAT_S  # an idle tick is never later than a heartbeat is due
    now = [100.0]
    fake = FakeBridge()
    link = SerialBridge(
        fake.path, sensors={"bathroom": ROM}, host_timeout_s=2.0, clock=lambda: now[0]
    )
    try:
        wait(lambda: link.online, "the handshake")
        off = RelayCommand({0: False, 1: False}, deadline_s=5.0)
        link.apply(off)  # the first OFFs: sent now, so no heartbeat is due yet
        for t in (100.49, 100.98, 101.47, 101.96):
            now[0] = t
            link.apply(off)
        wait(lambda: fake.kinds().count("HB") == 4, "a heartbeat on each of the four ticks")
    finally:
        link.close()
        fake.close()


FIELDS = [
    "0", "1", "3", "-1", "-", "65535", "99999999999999999999", "x", "ok", "S", "L",
    "host_silent", "cap", "limit", "sensor_crc", "no_valve", "deadline", "power_on", ROM,
    "28aa00000000000", "1.5", "..", "?", "_", "ROM", "612", "-2032",
]  # fmt: skip
KINDS = [
    "ACK", "NAK", "T", "R", "BTN", "BOOT", "INFO", "ROM", "LCLOSE", "OFF", "FAULT", "HB",
    "SET", "x", "T?", "9",
]  # fmt: skip


def test_ten_thousand_mangled_frames_leave_the_reader_alive_and_the_daemon_in_control() -> None:
    cfg = default_config()
    wiring = wiring_from_config(cfg)
    fake = FakeBridge()
    link = SerialBridge(fake.path, sensors={"bathroom": ROM}, host_timeout_s=2.0)
    daemon = Daemon(wiring, link, MonotonicClock())
    try:
        wait(lambda: link.online, "the handshake")
        rng = random.Random(14)
        for i in range(10_000):
            kind = rng.choice(KINDS)
            fields = [rng.choice(FIELDS) for _ in range(rng.randint(0, 6))]
            fake.send(kind, *fields)
            if i % 200 == 0:
                daemon.tick()  # never raises: a broken frame is the link's to drop
        wait(lambda: link.frames_seen >= 10_000, "every frame read", timeout_s=30)
        assert link._thread.is_alive() and link.decode_errors > 0
        # The bridge is still heard and obeyed: a fresh handshake, a reading, a start.
        fake.send("BOOT", "power_on", "1.1.0", 2)
        wait(lambda: link.online and not link.poll().rebooted, "online again")
        deadline = time.monotonic() + 10
        seen_on = False
        daemon.submit(Request("start", Source.CLI))
        while time.monotonic() < deadline and not seen_on:
            fake.send("T", ROM, 320, "ok")  # 20 °C
            fake.send("R", 0, "ok")
            state: HardwareState = link.poll()
            if state.readings:
                daemon.submit(Request("start", Source.CLI))
            daemon.tick()
            seen_on = any(
                f.kind == "SET" and f.fields[1:2] == ("1",) for f in list(fake.received)[-50:]
            )
            time.sleep(0.05)
        assert seen_on, "the daemon never commanded a valve after the fuzz"
        assert link.reader_restarts == 0
    finally:
        daemon.shutdown()
        fake.close()
