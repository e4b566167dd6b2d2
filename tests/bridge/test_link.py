"""The host link alone, against a hand-played bridge on a real pty.

The test plays the Pico: it answers the handshake, then says what a bridge may say (and a
great deal a bridge never would). The link must turn what the bridge did by itself into
notices for the core, and no frame, however mangled its fields, may stop its reader.

The link's timing (the refresh of every ON, its deadline, the retries) is tested on a manual
clock instead, against an in-memory port (``MemoryPort``): no sleeps, exact times.
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
from zcw.domain.model import BridgeNotice, Relays, Request, Source
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


def test_a_relay_off_at_its_deadline_is_a_dead_man_notice_for_its_loop(
    bridge: tuple[FakeBridge, SerialBridge],
) -> None:
    """``OFF,<ch>,deadline``: the bridge switched a relay off because zcw did not refresh it
    in time. The core must hear of it like a cap or a local close, as a dead-man (the whole
    cycle ends, nothing latches), on the channel's own loop."""
    fake, link = bridge
    notices(link, 0.5)  # the binding's own notice
    fake.send("OFF", 1, "deadline")
    got = notices(link)
    assert got == [ChannelNotice("dead_man", 1, "relay 1 outlived its deadline unrefreshed")]
    # How the daemon hands it to the core: by the valve's loop in the default wiring.
    wiring = wiring_from_config(default_config())
    loop = next(name for name, ch in wiring.valve_channels.items() if ch == 1)
    assert wiring.notice(got[0]) == BridgeNotice(
        "dead_man", loop, "relay 1 outlived its deadline unrefreshed"
    )


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


# -- timing, on an injected clock: refresh and retries ------------------------------------


class MemoryPort:
    """The Pico's side of a serial port held in memory, for the link on a manual clock.

    It answers every frame with ACK except the kinds in ``silent`` (as a bridge whose answers
    are lost), and records what the host wrote with the clock's time. ``settle()`` waits
    until the link's reader has handled every byte it was given: the reader only reads again
    once it has taken the frames of its last read, so "back in read() with nothing left"
    means done. That makes each step deterministic with no sleeps in the test's clock.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.silent: set[str] = set()
        self.sent: list[tuple[float, bytes, Frame]] = []  # (time, raw bytes, frame)
        self._inbox = bytearray()
        self._decoder = Decoder()
        self._cond = threading.Condition()
        self._waiting = False  # the reader is in read() and took nothing since it came back
        self._seq = 0

    @property
    def in_waiting(self) -> int:
        with self._cond:
            return len(self._inbox)

    def read(self, size: int) -> bytes:
        with self._cond:
            self._waiting = True
            self._cond.notify_all()
            if not self._inbox:
                self._cond.wait(0.05)  # as the real port's read timeout
            data = bytes(self._inbox[:size])
            del self._inbox[:size]
            if data:
                self._waiting = False
            return data

    def write(self, data: bytes) -> int:
        with self._cond:
            for frame in self._decoder.feed(data):
                self.sent.append((self.now(), data, frame))
                if frame.kind not in self.silent:
                    self._seq = self._seq % 0xFFFF + 1
                    self._inbox += encode(self._seq, "ACK", (frame.seq,))
            self._cond.notify_all()
        return len(data)

    def close(self) -> None:
        pass

    def settle(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._inbox or not self._waiting:
                left = deadline - time.monotonic()
                assert left > 0, "the link's reader did not take what the port gave it"
                self._cond.wait(left)

    def sets(self) -> list[tuple[float, bytes, Frame]]:
        return [s for s in self.sent if s[2].kind == "SET"]


@pytest.fixture
def on_a_clock() -> Iterator[tuple[MemoryPort, SerialBridge, list[float]]]:
    now = [0.0]
    port = MemoryPort(lambda: now[0])
    link = SerialBridge(
        "memory", sensors={"bathroom": ROM}, clock=lambda: now[0], opener=lambda _p, _b: port
    )
    port.settle()
    assert link.online, link.problem
    yield port, link, now
    link.close()


def step(
    port: MemoryPort, link: SerialBridge, now: list[float], until_s: float, cmd: RelayCommand
) -> None:
    """The daemon's ticks: ``apply(cmd)`` every 0.25 s (exact in binary) up to ``until_s``."""
    while now[0] <= until_s:
        link.apply(cmd)
        port.settle()
        now[0] += 0.25


def test_an_on_relay_is_refreshed_every_second_with_the_daemons_5_s_deadline(
    on_a_clock: tuple[MemoryPort, SerialBridge, list[float]],
) -> None:
    """docs/safety.md, layer 2: every ON goes out again once a second, carrying a deadline
    of 5 s (the wiring's, in ms on the wire), so four refreshes can be lost before the bridge
    drops the relay by itself. With nothing else to say the link sends HB every 0.5 s."""
    port, link, now = on_a_clock
    wiring = wiring_from_config(default_config())
    cmd = wiring.command(Relays(pump=True, valves=dict.fromkeys(wiring.valve_channels, True)))
    valve = str(wiring.valve_channels["bathroom"])
    step(port, link, now, 4.0, cmd)
    sets = [(t, f.fields) for t, _, f in port.sets()]
    # The valve before the pump, every whole second, each ON for 5000 ms.
    assert sets == [
        (t, (ch, "1", "5000")) for t in (0.0, 1.0, 2.0, 3.0, 4.0) for ch in (valve, "0")
    ]
    assert [t for t, _, f in port.sent if f.kind == "HB"] == [0.5, 1.5, 2.5, 3.5]


def test_an_unanswered_command_is_retried_three_times_then_given_up(
    on_a_clock: tuple[MemoryPort, SerialBridge, list[float]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A SET the bridge acknowledges goes out once. One it never answers goes out again,
    unchanged (the same seq, so a bridge that did take it answers again without applying it
    twice), each time ACK_TIMEOUT_S (0.3 s, so the next 0.25 s tick after it) has passed,
    MAX_RETRIES (3) times; then the link gives up and says so in the log. An OFF given up on
    is not sent again, and no ON follows it: the bridge's own deadline ends the relay."""
    port, link, now = on_a_clock
    on = RelayCommand({1: True}, deadline_s=5.0)
    off = RelayCommand({1: False}, deadline_s=5.0)
    step(port, link, now, 0.75, on)
    assert [(t, f.fields) for t, _, f in port.sets()] == [(0.0, ("1", "1", "5000"))]  # ACKed

    port.silent = {"SET"}
    del port.sent[:]
    start = now[0]  # 1.0: the ON's refresh is due too, but the OFF replaces it
    with caplog.at_level("WARNING", logger="zcw.bridge"):
        step(port, link, now, start + 6.0, off)
    sets = port.sets()
    assert [t - start for t, _, _ in sets] == [0.0, 0.5, 1.0, 1.5]  # 1 + 3 retries
    assert {raw for _, raw, _ in sets} == {sets[0][1]}  # byte for byte the same frame
    assert sets[0][2].fields == ("1", "0", "0")
    assert [r.getMessage() for r in caplog.records if "did not acknowledge" in r.getMessage()] == [
        f"bridge did not acknowledge {sets[0][1]!r} after 3 retries"
    ]


def test_an_unanswered_on_is_given_up_but_its_refresh_goes_on_with_a_new_seq(
    on_a_clock: tuple[MemoryPort, SerialBridge, list[float]],
) -> None:
    """Giving up on one SET does not give up on the relay: while the core still wants it ON
    the refresh goes out every second as a new command, each retried 3 times in its turn."""
    port, link, now = on_a_clock
    port.silent = {"SET"}
    step(port, link, now, 6.0, RelayCommand({1: True}, deadline_s=5.0))
    by_seq: dict[int, list[float]] = {}
    for t, _, f in port.sets():
        assert f.fields == ("1", "1", "5000")
        by_seq.setdefault(f.seq, []).append(t)
    firsts = sorted(times[0] for times in by_seq.values())
    assert firsts == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for times in by_seq.values():
        if times[0] <= 4.0:  # old enough to have run out of retries by t = 6
            assert times == [times[0] + d for d in (0.0, 0.5, 1.0, 1.5)]


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
