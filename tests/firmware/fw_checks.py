"""Firmware behaviour checks that run unchanged under CPython and the MicroPython unix port.

Run directly (``micropython tests/firmware/fw_checks.py``) it prints ``N passed, M failed``;
pytest imports it and runs each check as a test. Time is injected: no sleeps. Every timing
check runs twice, with the tick clock starting at 0 and at 2**30 - 60 s, so that the Pico's
tick wrap falls inside it (``@zero`` / ``@wrap`` in the names). The fake HAL keeps the
test's own unbounded time; the bridge only ever sees the wrapped tick value.
"""

import json
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = HERE + "/../.."
sys.path.insert(0, ROOT + "/firmware_bridge")

import board  # noqa: E402
import buttons as buttons_mod  # noqa: E402
import protocol  # noqa: E402
import sensors as sensors_mod  # noqa: E402
from bridge import Bridge  # noqa: E402
from fake_hal import FakeHal, rom_for  # noqa: E402
from relays import CAP_MS, CAP_REST_MS  # noqa: E402
from ticks import HALF, MASK, PERIOD, ticks_add, ticks_diff  # noqa: E402

ROM = rom_for("bathroom")
GHOST = rom_for("ghost")  # a valid DS18B20 ROM id that is not on the bus
CONFIG = {"relays": 5, "buttons": 2, "sensor_period_ms": 1000, "host_timeout_ms": 2000}
V = protocol.PROTOCOL_VERSION
LIMIT = 38 * 16
PERIOD_MS = CONFIG["sensor_period_ms"]
WRAP_START = PERIOD - 60000  # the wrap falls 60 s into the check
WRAP_AT = 60000  # ms after the start, in the @wrap runs


class Host:
    """Plays the Pi: sends frames, runs the bridge's loop, reads the replies.

    ``hal.now`` is the test's unbounded clock (it starts at ``start``); ``t()`` is the time
    since the start. ``frames`` holds ``(now, seq, kind, fields)`` of everything the bridge
    said; ``after_pass(host)`` (if set) runs after every pass of the loop.
    """

    def __init__(self, start=0, roms=(ROM,), config=None):
        cfg = dict(CONFIG)
        cfg.update(config or {})
        self.config = cfg
        self.hal = FakeHal(roms=roms, start_ms=start)
        self.start = start
        self.bridge = Bridge(self.hal, cfg)
        self.seq = 0
        self.decoder = protocol.Decoder()
        self.frames = []
        self.longest = 0
        self.answer_to = None
        self.last_tx = None
        self.after_pass = None
        self.step(0)

    def t(self):
        return self.hal.now - self.start

    def raw(self, seq, kind, *fields):
        """Send one frame with this seq; return "ACK" or the NAK reason."""
        self.hal.inbox.extend(protocol.encode(seq, kind, fields))
        self.last_tx = self.hal.now
        self.answer_to = None
        self.step(0)
        assert self.answer_to is not None and self.answer_to[0] == seq, (seq, kind, fields)
        return self.answer_to[1]

    def send(self, kind, *fields):
        self.seq = self.seq % 65535 + 1  # 1…65535, skipping 0, as the host numbers
        return self.raw(self.seq, kind, *fields)

    def step(self, ms, every=10):
        end = self.hal.now + ms
        while True:
            self.bridge.poll(self.hal.now_ms())
            self._collect()
            if self.after_pass is not None:
                self.after_pass(self)
            if self.hal.now >= end:
                break
            self.hal.now = min(self.hal.now + every, end)

    def _collect(self):
        out = self.hal.take_output()
        if not out:
            return
        for line in out.split(b"\n"):
            if len(line) + 1 > self.longest:
                self.longest = len(line) + 1
        for seq, kind, fields in self.decoder.feed(out):
            self.frames.append((self.hal.now, seq, kind, fields))
            if kind == "ACK":
                self.answer_to = (int(fields[0]), "ACK")
            elif kind == "NAK":
                self.answer_to = (int(fields[0]), fields[1])

    def kinds(self, kind):
        return [f for f in self.frames if f[2] == kind]

    def fields(self, kind):
        return [f[3] for f in self.frames if f[2] == kind]

    def relay(self, ch):
        return self.hal.relays.get(ch, False)

    def offs(self, ch):
        return [t for (t, c, on) in self.hal.history if c == ch and not on]

    def ons(self, ch):
        return [t for (t, c, on) in self.hal.history if c == ch and on]

    def on_time(self, ch):
        """Total ms relay ``ch`` has been ON so far."""
        total = 0
        since = None
        for t, c, on in self.hal.history:
            if c != ch:
                continue
            if on and since is None:
                since = t
            elif not on and since is not None:
                total += t - since
                since = None
        if since is not None:
            total += self.hal.now - since
        return total

    def forget(self):
        self.frames = []  # keeps memory flat on the MicroPython heap in long checks


def keep_alive(host, until_t, refresh=(), deadline=5000, period=500, every=10):
    """Until ``t() == until_t``: refresh ``refresh`` (valves first) or send HB every period."""
    while host.t() < until_t:
        if refresh:
            for ch in refresh:
                host.send("SET", ch, 1, deadline)
        else:
            host.send("HB")
        host.step(min(period, until_t - host.t()), every)


def hello(host, timeout=2000):
    assert host.send("HELLO", V, timeout) == "ACK"
    assert host.send("CLR") == "ACK"


def start_cycle(host):
    assert host.send("LOCK", 1) == "ACK"
    assert host.send("SET", 1, 1, 5000) == "ACK"
    assert host.send("SET", 0, 1, 5000) == "ACK"
    assert host.relay(0) and host.relay(1)


def assert_schedule(hal):
    """No bus search during a conversion, and every read at least 800 ms after Convert T."""
    converting_since = None
    for what, t in hal.events:
        if what == "convert":
            converting_since = t
        elif what == "read" and converting_since is not None:
            # 800 ms, not the constant: the datasheet's 750 ms has no margin for clones.
            assert t - converting_since >= 800, (t, converting_since)
            converting_since = None
        elif what == "scan":
            assert converting_since is None, ("bus search during a conversion", t)


# -- untimed checks ---------------------------------------------------------------------


def check_vectors():
    with open(ROOT + "/firmware_bridge/vectors.json") as f:
        doc = json.load(f)
    assert doc["protocol_version"] == V == 2
    assert "0x%04X" % protocol.crc16(b"123456789") == doc["crc"]["check_123456789"]
    for v in doc["valid"]:
        line = v["frame"].encode()
        assert protocol.decode_line(line[:-1]) == (v["seq"], v["kind"], v["fields"])
        assert protocol.encode(v["seq"], v["kind"], v["fields"]) == line
    for bad in doc["invalid"]:
        assert protocol.decode_line(bad.encode().rstrip(b"\n")) is None, bad
    stream = bytes([ord(c) for c in doc["stream"]["bytes"]])
    frames = protocol.Decoder().feed(stream)
    assert [f[0] for f in frames] == doc["stream"]["frames"]


def check_tick_arithmetic_is_the_picos():
    assert ticks_add(MASK, 1) == 0
    assert ticks_add(0, -1) == MASK == PERIOD - 1
    assert ticks_diff(0, MASK) == 1
    assert ticks_diff(MASK, 0) == -1
    assert ticks_diff(ticks_add(WRAP_START, 70000), WRAP_START) == 70000
    assert ticks_diff(WRAP_START, ticks_add(WRAP_START, 70000)) == -70000
    assert ticks_diff(HALF - 1, 0) == HALF - 1
    assert ticks_diff(HALF, 0) == -HALF
    # MicroPython's own definition (py/modtime.c) for a 2**30 period, on many pairs.
    samples = [0, 1, 2, 1000, HALF - 1, HALF, HALF + 1, MASK - 1000, MASK - 1, MASK]
    for a in samples:
        for b in samples:
            assert ticks_diff(a, b) == ((a - b + HALF) & MASK) - HALF, (a, b)
            assert 0 <= ticks_add(a, b) <= MASK
    hal = FakeHal(start_ms=MASK)
    assert hal.now_ms() == MASK
    hal.now += 1
    assert hal.now_ms() == 0


def check_boot_reports_reason_and_all_relays_off():
    host = Host()
    boot = host.fields("BOOT")
    assert boot == [["power_on", "2.1.0", "2"]], boot
    assert not any(host.hal.relays.values())
    assert host.fields("R")[0] == ["0", "ok"]


def check_hello_checks_version_and_timeout_bounds():
    host = Host()
    assert host.send("HELLO", 1, 2000) == "version"
    assert host.send("HELLO", 3, 2000) == "version"
    for bad in (0, -1, 499, 3001, 60000):
        assert host.send("HELLO", V, bad) == "timeout", bad
    assert host.bridge.host_timeout_ms == 2000  # a refused HELLO changes nothing
    assert not host.kinds("INFO")
    for good in (500, 3000):
        assert host.send("HELLO", V, good) == "ACK"
        assert host.bridge.host_timeout_ms == good
    kinds = [f[2] for f in host.frames]
    i = kinds.index("INFO")
    assert kinds[i - 1] == "ACK" and kinds[i + 1] == "ROM" and kinds[i + 2] == "R", kinds


def check_info_and_rom_frames_fit_with_10_sensors():
    roms = [rom_for("sensor%d" % i) for i in range(10)]
    host = Host(roms=roms)
    assert host.send("HELLO", V, 2000) == "ACK"
    assert host.fields("INFO") == [["2.1.0", "2", "5", "power_on", "10"]]
    assert host.fields("ROM") == [[str(i), roms[i]] for i in range(10)]
    host.forget()
    assert host.send("INFO") == "ACK"
    assert host.fields("INFO")[0][4] == "10" and len(host.fields("ROM")) == 10
    keep_alive(host, 5000)
    assert len(host.kinds("T")) >= 40
    assert host.longest <= protocol.MAX_FRAME, host.longest


def check_bind_validates_channel_and_rom():
    host = Host()
    hello(host)
    for ch in (0, 5, -1):
        assert host.send("BIND", ch, ROM, LIMIT) == "channel", ch
    bad_crc = ROM[:14] + ("%02x" % ((int(ROM[14:], 16) + 1) & 0xFF))
    wrong_family = "10" + ROM[2:]
    for rom in (bad_crc, wrong_family, ROM.upper(), ROM[:-1], ROM + "0", "zz" + ROM[2:]):
        assert host.send("BIND", 1, rom, LIMIT) == "rom", rom
    assert host.send("BIND", 1, GHOST, LIMIT) == "ACK"  # valid, not on the bus: accepted
    assert host.send("UNBIND", 1) == "ACK"
    assert host.send("UNBIND", 0) == "channel"
    assert host.send("SET", 5, 1, 5000) == "channel"
    assert host.send("SET", 1, 2, 5000) == "fields"
    assert host.send("LOCK", 7) == "fields"
    assert host.send("NOPE") == "unknown"


def check_sensor_faults_are_reported():
    expected = {
        "power_on_85": "power_on_85",
        "disconnected": "disconnected",
        "crc_error": "crc",
        "zero": "zero",
    }
    for fault in expected:
        host = Host()
        host.hal.faults[ROM] = fault
        host.step(2000)
        errors = [f[2] for f in host.fields("T")]
        assert errors and errors[0] == expected[fault], (fault, errors)
    host = Host()
    host.hal.temps[ROM] = 120.0
    host.step(2000)
    assert host.fields("T")[0] == [ROM, "-", "out_of_range"]
    host = Host()
    host.hal.temps[ROM] = 42.0
    host.step(2000)
    assert host.fields("T")[0] == [ROM, "672", "ok"]


def check_85_after_valid_reads_is_passed_on_for_the_host_to_judge():
    host = Host()
    host.hal.temps[ROM] = 20.0
    host.step(2000)
    host.hal.temps[ROM] = 85.0
    host.step(1000)
    assert host.fields("T")[-1] == [ROM, "1360", "ok"]


def check_garbage_between_frames_is_dropped():
    host = Host()
    host.hal.inbox.extend(b"\x00\xffnoise$12,SE")
    hello(host)
    host.hal.inbox.extend(b"$5,SET,1,1,5000*0000\n")  # bad CRC
    host.step(0)
    assert not host.relay(1)
    assert host.bridge.decoder.dropped >= 2
    assert host.kinds("INFO")


def check_receiver_inputs_are_active_high_on_their_own_pins():
    inputs = board.CONFIG["inputs"]
    count = board.CONFIG["buttons"]
    buttons_mod.check_inputs(inputs, count)  # the shipped board.py is valid
    wired = [i for i in inputs if i["active_low"]]
    receiver = [i for i in inputs if not i["active_low"]]
    assert wired and receiver
    for r in receiver:
        assert r["pull"] == "down"
        assert r["pin"] not in [w["pin"] for w in wired]
    for w in wired:
        assert w["pull"] == "up"
    # At idle: wired inputs pulled HIGH, receiver outputs pulled LOW: nothing is pressed.
    idle = [1 if i["active_low"] else 0 for i in inputs]
    assert buttons_mod.levels(idle, inputs, count) == [False] * count
    for k in range(len(inputs)):
        raw = list(idle)
        raw[k] = 1 - raw[k]  # this one input active: only its own button is pressed
        want = [False] * count
        want[inputs[k]["button"]] = True
        assert buttons_mod.levels(raw, inputs, count) == want, (k, raw)
    # The v1 defect: a receiver on a pulled-up, active-low input reads pressed at idle.
    for bad in (
        [{"pin": 16, "pull": "up", "active_low": False, "button": 0}],
        [{"pin": 16, "pull": "down", "active_low": True, "button": 0}],
        [
            {"pin": 14, "pull": "up", "active_low": True, "button": 0},
            {"pin": 14, "pull": "down", "active_low": False, "button": 0},
        ],
        [{"pin": 16, "pull": "down", "active_low": False, "button": 2}],
    ):
        try:
            buttons_mod.check_inputs(bad, count)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (bad,))


def check_refused_pump_refresh_stops_a_running_pump():
    host = Host()
    hello(host)
    assert host.send("SET", 0, 1, 5000) == "no_valve"  # pump alone, lock on (the default)
    assert not host.relay(0)
    # The rules never leave the pump running alone with the lock on; should it ever be,
    # a refused refresh must not leave it running. Put the bridge in that state by hand.
    host.bridge.relays.switch_on(0, 5000, host.hal.now_ms())
    host.step(0)
    assert host.relay(0)
    t = host.hal.now
    assert host.send("SET", 0, 1, 5000) == "no_valve"
    assert not host.relay(0) and host.offs(0) == [t]
    assert ["0", "no_valve"] in host.fields("LCLOSE")


def check_lock_on_stops_a_lonely_pump():
    host = Host()
    hello(host)
    assert host.send("LOCK", 0) == "ACK"
    assert host.send("SET", 0, 1, 5000) == "ACK"
    assert host.relay(0)
    assert host.send("LOCK", 1) == "ACK"
    assert not host.relay(0)
    assert host.fields("LCLOSE") == [["0", "no_valve"]]


def check_safe_turns_everything_off_then_restarts_into_safe_mode():
    host = Host()
    start_cycle(host)
    assert host.send("SAFE") == "ACK"
    assert not host.relay(0) and not host.relay(1)
    assert host.hal.safe_restarts == 1  # after the ACK went out, in the same pass


def check_bind_closes_an_open_valve_at_once():
    for rom, temp, why in ((ROM, 40.0, "limit"), (GHOST, 20.0, "sensor_missing")):
        host = Host()
        hello(host)
        host.hal.temps[ROM] = temp
        host.step(1000)  # one reading
        start_cycle(host)
        t = host.hal.now
        assert host.send("BIND", 1, rom, LIMIT) == "ACK"
        assert not host.relay(1) and not host.relay(0)
        assert host.offs(1) == [t] and host.offs(0) == [t]
        assert host.fields("LCLOSE") == [["1", why], ["0", "no_valve"]], host.fields("LCLOSE")


# -- timing checks: each runs from a clock start at 0 and just before the wrap -----------


def check_dead_man(start):
    for timeout in (500, 3000):
        host = Host(start)
        hello(host, timeout)
        start_cycle(host)
        # The last frame 0.2 s before the wrap (@wrap): the silence spans it.
        keep_alive(host, WRAP_AT - 200, refresh=(1, 0), period=min(500, timeout // 2))
        t_last = host.last_tx
        host.step(timeout + 2000)
        offs = [t for (t, ch, on) in host.hal.history if not on]
        assert not any(host.hal.relays.values())
        assert offs and timeout < max(offs) - t_last <= timeout + 500, (timeout, offs, t_last)
        assert min(offs) == max(offs)  # every relay in the same pass
        assert host.fields("FAULT") == [["host_silent"]]
        assert host.fields("R")[-1] == ["0", "host_silent"]
        # Latched: the host that comes back hears about it, and ON is refused until CLR.
        host.forget()
        assert host.send("SET", 1, 1, 5000) == "host_silent"
        assert host.fields("FAULT") == [["host_silent"]]
        assert host.send("SET", 1, 0, 0) == "ACK"  # OFF is never refused
        host.step(5000, every=100)  # frames keep it alive or not: still latched
        assert host.send("SET", 1, 1, 5000) == "host_silent"
        assert not any(host.hal.relays.values())
        assert host.send("CLR") == "ACK"
        assert host.send("SET", 1, 1, 5000) == "ACK"
        assert host.relay(1)


def check_unrefreshed_relay_goes_off_at_its_deadline(start):
    host = Host(start)
    hello(host, 3000)
    assert host.send("LOCK", 1) == "ACK"
    keep_alive(host, WRAP_AT - 700)
    assert host.send("SET", 1, 1, 1500) == "ACK"  # its deadline falls after the wrap
    assert host.send("SET", 0, 1, 5000) == "ACK"
    t_on = host.hal.now
    keep_alive(host, host.t() + 3000, period=400)
    off = host.offs(1)
    assert off and 1500 <= off[0] - t_on <= 1510, (off, t_on)
    assert host.offs(0) == off  # the pump lock, in the same pass
    assert host.fields("OFF") == [["1", "deadline"]]
    assert host.fields("LCLOSE") == [["0", "no_valve"]]


def check_nonpositive_deadline_is_refused_and_huge_one_is_capped(start):
    host = Host(start)
    hello(host, 3000)
    assert host.send("LOCK", 0) == "ACK"
    for bad in (0, -1, -600000):
        assert host.send("SET", 1, 1, bad) == "deadline", bad
    assert not host.relay(1)
    t_on = host.hal.now
    for huge in (10**12, 2**40, 2**29, 900000):
        assert host.send("SET", 1, 1, huge) == "ACK"
    keep_alive(host, 700000, period=1000, every=100)
    assert host.offs(1) == [t_on + CAP_MS], (host.offs(1), t_on)
    assert host.fields("OFF") == [["1", "cap"]]


def check_cap_holds_over_30_minutes_of_refreshes(start):
    host = Host(start)
    hello(host, 3000)
    assert host.send("LOCK", 1) == "ACK"
    t_on = host.hal.now
    answers = {}
    offs_seen = []
    for _ in range(1800):  # 30 minutes, refreshed every second, asking for 900 s each time
        for ch in (1, 0):
            a = host.send("SET", ch, 1, 900000)
            answers[a] = answers.get(a, 0) + 1
        host.step(1000, every=100)
        offs_seen += host.fields("OFF")
        host.forget()
    for ch in (1, 0):
        assert host.on_time(ch) <= CAP_MS, (ch, host.on_time(ch))
        assert host.ons(ch) == [t_on] and host.offs(ch) == [t_on + CAP_MS]
    assert ["1", "cap"] in offs_seen and ["0", "cap"] in offs_seen, offs_seen
    # Refused from the trip on: 1200 s of refreshes for each of the two channels.
    assert answers.get("cap", 0) >= 2 * 1190, answers
    # The host turns it OFF; the rest is long over: ON again.
    assert host.send("SET", 1, 0, 0) == "ACK"
    assert host.send("SET", 1, 1, 5000) == "ACK"
    assert host.relay(1)


def check_cap_latch_needs_off_and_rest_or_clr(start):
    host = Host(start)
    hello(host, 3000)
    assert host.send("LOCK", 0) == "ACK"
    t_on = host.hal.now
    keep_alive(host, CAP_MS + 500, refresh=(1, 2), period=1000, every=100)
    t_trip = t_on + CAP_MS
    assert host.offs(1) == [t_trip] and host.offs(2) == [t_trip]
    assert host.send("SET", 1, 0, 0) == "ACK"  # OFF from the host for channel 1 only
    keep_alive(host, CAP_MS + 30000, every=100)
    assert host.send("SET", 1, 1, 5000) == "cap"  # OFF, but not rested
    assert host.send("SET", 2, 1, 5000) == "cap"
    keep_alive(host, t_trip - start + CAP_REST_MS - 100, every=100)
    assert host.send("SET", 1, 1, 5000) == "cap"  # 59.9 s after the trip: not yet
    keep_alive(host, host.t() + 200, every=100)
    assert host.send("SET", 1, 1, 5000) == "ACK"  # OFF and rested
    assert host.send("SET", 2, 1, 5000) == "cap"  # rested, but the host never sent OFF
    assert host.relay(1) and not host.relay(2)
    assert host.send("CLR") == "ACK"
    assert host.send("SET", 2, 1, 5000) == "ACK"
    assert host.relay(2)


def check_local_close_at_limit_and_pump_follows(start):
    host = Host(start)
    hello(host, 3000)
    assert host.send("BIND", 1, ROM, LIMIT) == "ACK"
    host.hal.temps[ROM] = 30.0
    host.step(1000)
    start_cycle(host)
    keep_alive(host, WRAP_AT - 300, refresh=(1, 0))
    assert host.relay(1) and host.relay(0)
    host.forget()
    t_hot = host.hal.now
    host.hal.temps[ROM] = 38.0  # exactly the limit: at or over closes
    keep_alive(host, host.t() + 3000, refresh=(1, 0))
    hot = [f[0] for f in host.kinds("T") if f[3][2] == "ok" and int(f[3][1]) >= LIMIT]
    assert hot and hot[0] - t_hot <= PERIOD_MS + sensors_mod.CONVERSION_MS + 10
    # The reading that reaches the limit closes the valve in the same pass, and the pump.
    assert host.offs(1) == [hot[0]] and host.offs(0) == [hot[0]], (host.offs(1), hot)
    assert host.fields("LCLOSE") == [["1", "limit"], ["0", "no_valve"]]
    assert not host.relay(1) and not host.relay(0)


def check_bound_valve_is_never_on_while_its_sensor_forbids(start):
    cases = (
        ("over", None, 45.0, "limit"),
        ("at", None, 38.0, "limit"),
        ("disconnected", "disconnected", 20.0, "sensor"),
        ("crc", "crc_error", 20.0, "sensor"),
        ("zero", "zero", 20.0, "sensor"),
        ("85", "power_on_85", 20.0, "sensor"),
        ("range", None, 120.0, "sensor"),
        ("missing", None, 20.0, "sensor"),
    )
    for name, fault, temp, reason in cases:
        host = Host(start)
        hello(host, 3000)
        if fault:
            host.hal.faults[ROM] = fault
        host.hal.temps[ROM] = temp
        rom = GHOST if name == "missing" else ROM
        assert host.send("BIND", 1, rom, LIMIT) == "ACK"
        host.step(2000)
        answers = []
        while host.t() < WRAP_AT + 10000:  # the host insists, across the wrap
            answers.append(host.send("SET", 1, 1, 5000))
            answers.append(host.send("SET", 0, 1, 5000))
            host.step(1000, every=100)
            host.forget()
        assert host.ons(1) == [] and host.ons(0) == [], name
        assert set(answers) == set([reason, "no_valve"]), (name, set(answers))
    # No reading yet: bound right after boot, before the first conversion is read.
    host = Host(start)
    hello(host, 3000)
    assert host.send("BIND", 1, ROM, LIMIT) == "ACK"
    assert host.send("SET", 1, 1, 5000) == "sensor"
    host.step(sensors_mod.CONVERSION_MS)
    assert host.send("SET", 1, 1, 5000) == "ACK"  # read (20 °C): now it may open
    # An old reading: the conversion schedule stops (white-box: the next conversion put
    # half a tick period away, as v1's wrap bug did), and the valve closes three periods
    # after the last reading and stays closed.
    host.bridge.sensors._next_start = ticks_add(host.hal.now_ms(), HALF - 1)
    keep_alive(host, WRAP_AT + 10000, refresh=(1,), period=1000)
    assert ["1", "sensor_stale"] in host.fields("LCLOSE")
    assert not host.relay(1) and len(host.offs(1)) == 1
    assert host.send("SET", 1, 1, 5000) == "sensor"


def check_pump_lock_on_every_valve_close(start):
    def running():
        host = Host(start)
        hello(host, 3000)
        assert host.send("BIND", 1, ROM, LIMIT) == "ACK"
        host.hal.temps[ROM] = 30.0
        host.step(1000)
        start_cycle(host)
        keep_alive(host, WRAP_AT - 500, refresh=(1, 0))
        return host

    # By host SET 0, with a second valve first.
    host = running()
    assert host.send("SET", 2, 1, 5000) == "ACK"
    keep_alive(host, WRAP_AT + 500, refresh=(2, 1, 0))
    assert host.send("SET", 2, 0, 0) == "ACK"
    assert host.relay(0)  # valve 1 is still open
    t = host.hal.now
    assert host.send("SET", 1, 0, 0) == "ACK"
    assert host.offs(0) == [t] and host.offs(1) == [t]
    assert host.fields("LCLOSE") == [["0", "no_valve"]]
    assert host.send("SET", 0, 1, 5000) == "no_valve"
    # By its deadline (valve 1 last refreshed 0.3 s before the wrap).
    host = running()
    assert host.send("SET", 1, 1, 800) == "ACK"
    t = host.hal.now
    keep_alive(host, host.t() + 2000, refresh=(0,))
    assert host.offs(1) == [t + 800] and host.offs(0) == [t + 800]
    # By a local close.
    host = running()
    host.hal.temps[ROM] = 50.0
    keep_alive(host, host.t() + 2000, refresh=(1, 0))
    assert host.offs(1) and host.offs(0) == host.offs(1)
    assert host.fields("LCLOSE")[-2:] == [["1", "limit"], ["0", "no_valve"]]
    # By the cap: the valve opened 10 s before the pump reaches its cap first.
    host = Host(start)
    hello(host, 3000)
    assert host.send("LOCK", 1) == "ACK"
    assert host.send("SET", 1, 1, 5000) == "ACK"
    t_valve = host.hal.now
    keep_alive(host, 10000, refresh=(1,))
    keep_alive(host, CAP_MS + 5000, refresh=(1, 0), period=1000, every=100)
    assert host.offs(1) == [t_valve + CAP_MS] and host.offs(0) == host.offs(1)
    assert ["1", "cap"] in host.fields("OFF") and ["0", "no_valve"] in host.fields("LCLOSE")


def check_sequence_window(start):
    host = Host(start)
    assert host.raw(40000, "HB") == "ACK"  # before the first command, any seq is accepted
    assert host.raw(7, "HELLO", V, 3000) == "ACK"  # older, but a HELLO resets the window
    assert host.raw(8, "LOCK", 0) == "ACK"
    host.seq = 8
    keep_alive(host, WRAP_AT - 500, period=1000)
    assert host.send("SET", 1, 1, 5000) == "ACK"
    s_on = host.seq
    host.step(200)
    assert host.send("SET", 1, 0, 0) == "ACK"
    s_off = host.seq
    keep_alive(host, WRAP_AT + 1000, period=400)  # across the wrap
    # A late retry of the old ON is refused and does not undo the newer OFF.
    assert host.raw(s_on, "SET", 1, 1, 5000) == "stale"
    host.step(1000)
    assert not host.relay(1) and host.ons(1) == [host.ons(1)[0]]
    # A retry of the last command gets the same answer and is not applied twice.
    assert host.send("SET", 1, 1, 5000) == "ACK"
    s = host.seq
    assert host.raw(s, "SET", 1, 0, 0) == "ACK"  # same seq, other content: still a retry
    assert host.relay(1)
    assert host.send("SET", 9, 1, 5000) == "channel"
    assert host.raw(host.seq, "SET", 9, 1, 5000) == "channel"
    assert host.raw(s_off, "SET", 1, 0, 0) == "stale"
    assert host.relay(1)
    # Half the window ahead is newer, further is older.
    last = host.seq
    assert host.raw((last + 32768) % 65536, "HB") == "stale"
    assert host.raw((last + 32767) % 65536, "HB") == "ACK"
    # The host's numbering wraps 65535 → 1.
    assert host.raw(65534, "HB") == "ACK"
    assert host.raw(65535, "SET", 2, 1, 5000) == "ACK"
    assert host.raw(1, "SET", 2, 0, 0) == "ACK"
    assert host.raw(65535, "SET", 2, 1, 5000) == "stale"
    assert not host.relay(2)
    assert host.raw(2, "HB") == "ACK"
    # A HELLO resets the window to its own seq, even an older one.
    assert host.raw(60000, "HELLO", V, 3000) == "ACK"
    assert host.raw(60001, "SET", 3, 1, 5000) == "ACK"
    assert host.raw(59999, "SET", 3, 0, 0) == "stale"
    assert host.relay(3)
    assert host.raw(60001, "SET", 3, 0, 0) == "ACK"  # the retry, not applied
    assert host.relay(3)


def check_sensor_missing_at_boot_is_bound_then_found_by_the_rescan(start):
    host = Host(start, roms=())
    hello(host, 3000)
    assert host.fields("INFO")[0][4] == "0" and not host.kinds("ROM")
    assert host.send("BIND", 1, ROM, LIMIT) == "ACK"
    keep_alive(host, 5000)
    missing = [f for f in host.fields("T") if f == [ROM, "-", "missing"]]
    assert len(missing) >= 4, host.fields("T")
    assert host.send("SET", 1, 1, 5000) == "sensor"
    # Plugged in after boot: a rescan (every 30 s, never during a conversion) finds it.
    host.hal.bus.append(ROM)
    host.hal.temps[ROM] = 25.0
    t_plug = host.hal.now
    found = []
    while not found:
        assert host.hal.now - t_plug <= sensors_mod.RESCAN_MS + 2 * PERIOD_MS
        keep_alive(host, host.t() + 500)
        found = [f[0] for f in host.kinds("T") if f[3] == [ROM, "400", "ok"]]
    assert host.send("SET", 1, 1, 5000) == "ACK"
    host.forget()
    assert host.send("INFO") == "ACK"
    assert host.fields("ROM") == [["0", ROM]]
    # Unplugged again: the valve closes at the first read that no longer finds it.
    keep_alive(host, WRAP_AT + 1000, refresh=(1,))
    assert host.relay(1)
    host.hal.bus.remove(ROM)
    keep_alive(host, WRAP_AT + 35000, refresh=(1,), period=1000, every=50)
    assert not host.relay(1)
    closes = [f for f in host.fields("LCLOSE") if f[0] == "1"]
    assert closes[0] == ["1", "sensor_disconnected"], closes
    assert [ROM, "-", "missing"] in host.fields("T")  # once the rescan has missed it
    assert_schedule(host.hal)


def check_conversions_continue_across_the_wrap(start):
    host = Host(start)
    host.step(WRAP_AT + 60000)
    reads = [f[0] for f in host.kinds("T") if f[3][2] == "ok"]
    assert len(reads) >= 119, len(reads)
    gaps = [reads[i + 1] - reads[i] for i in range(len(reads) - 1)]
    assert min(gaps) >= PERIOD_MS and max(gaps) <= PERIOD_MS + 10, (min(gaps), max(gaps))
    assert_schedule(host.hal)
    scans = [t for (what, t) in host.hal.events if what == "scan"]
    assert len(scans) >= 4  # boot + every 30 s


def check_buttons_debounce_across_the_wrap(start):
    host = Host(start)
    host.step(WRAP_AT - 1500, every=100)
    host.hal.button_levels[1] = True  # a long press held across the wrap
    host.step(500, every=5)
    host.hal.button_levels[0] = True  # a 20 ms bounce: ignored
    host.step(20, every=5)
    host.hal.button_levels[0] = False
    host.step(100, every=5)
    assert host.fields("BTN") == []
    host.step(WRAP_AT - 10 - host.t(), every=5)
    host.hal.button_levels[0] = True  # a short press whose debounce spans the wrap
    host.step(300, every=5)
    host.hal.button_levels[0] = False
    host.hal.button_levels[1] = False
    host.step(100, every=5)
    assert host.fields("BTN") == [["1", "L"], ["0", "S"]], host.fields("BTN")


# -- a host that misbehaves at random ---------------------------------------------------


class Rng:
    """xorshift32: the same sequence on CPython and MicroPython (their ``random`` differ)."""

    def __init__(self, seed):
        self.s = seed or 1

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        return self.next() % n

    def chance(self, percent):
        return self.below(100) < percent

    def pick(self, items):
        return items[self.below(len(items))]


class Oracle:
    """Checks the invariants after every pass, from the fake HAL's relays and the frames.

    It keeps its own model of what the host was told (the sequence window, the accepted
    ONs and their deadlines, the bindings, the lock, the timeout), and judges the relays
    against it and against the readings the bridge itself reported.
    """

    def __init__(self, host):
        self.host = host
        self.last_seq = None
        self.last_answer = None
        self.pending = None  # (seq, kind, fields, class) of the frame just written
        self.timeout = host.config["host_timeout_ms"]
        self.lock = True
        self.silent = False
        self.bindings = {}
        self.allowed_until = {}  # ch -> test time an accepted ON may hold it until
        self.on_acked_at = {}  # ch -> test time of the last accepted ON
        self.readings = {}  # rom -> (test time, value or None)
        self.history_seen = 0
        self.counts = {}

    def count(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1

    def send(self, seq, kind, fields):
        if kind == "HELLO" or self.last_seq is None:
            cls = "fresh"
        elif seq == self.last_seq:
            cls = "retry"
        elif 0 < (seq - self.last_seq) % 65536 < 32768:
            cls = "fresh"
        else:
            cls = "stale"
        self.pending = (seq, kind, [str(f) for f in fields], cls)
        answer = self.host.raw(seq, kind, *fields)
        assert self.pending is None, "no answer to %r" % (self.pending,)
        return answer

    def _answered(self, answer):
        seq, kind, fields, cls = self.pending
        self.pending = None
        now = self.host.hal.now
        self.count(cls)
        self.count("%s %s" % (kind, answer))
        if cls == "retry":
            assert answer == self.last_answer, (seq, answer, self.last_answer)
            return
        if cls == "stale":
            assert answer == "stale", (seq, kind, answer)
            return
        self.last_seq = seq
        self.last_answer = answer
        if answer != "ACK":
            return
        if kind == "SET":
            ch = int(fields[0])
            if fields[1] == "1":
                self.allowed_until[ch] = now + int(fields[2])
                self.on_acked_at[ch] = now
            else:
                self.allowed_until.pop(ch, None)
        elif kind == "BIND":
            self.bindings[int(fields[0])] = (fields[1], int(fields[2]))
        elif kind == "UNBIND":
            self.bindings.pop(int(fields[0]), None)
        elif kind == "LOCK":
            self.lock = fields[0] == "1"
        elif kind == "HELLO":
            self.timeout = int(fields[1])
        elif kind == "CLR":
            self.silent = False

    def check(self, host):
        now = host.hal.now
        for t, _seq, kind, fields in host.frames:
            if kind == "ACK" or kind == "NAK":
                if self.pending is not None and int(fields[0]) == self.pending[0]:
                    self._answered("ACK" if kind == "ACK" else fields[1])
            elif kind == "T":
                self.readings[fields[0]] = (t, None if fields[2] != "ok" else int(fields[1]))
            elif kind == "FAULT":
                self.silent = True
                self.count("FAULT")
            elif kind == "OFF" or kind == "LCLOSE":
                self.count("%s %s" % (kind, fields[1]))
        host.frames = []
        relays = host.hal.relays
        history = host.hal.history
        for i in range(self.history_seen, len(history)):
            t, ch, on = history[i]
            if on:  # only an ON accepted in this very pass turns a relay ON
                assert self.on_acked_at.get(ch) == t, ("rogue ON", ch, t)
        self.history_seen = len(history)
        any_on = False
        for ch in relays:
            if not relays[ch]:
                continue
            any_on = True
            assert not self.silent, ("ON while host_silent is latched", ch, now)
            assert now < self.allowed_until.get(ch, -1), ("ON past its deadline", ch, now)
            since = [t for (t, c, on) in history if c == ch and on][-1]
            assert now - since < CAP_MS, ("ON past the cap", ch, now - since)
            if ch in self.bindings:
                rom, limit = self.bindings[ch]
                reading = self.readings.get(rom)
                assert reading is not None, ("bound valve ON, no reading", ch)
                assert reading[1] is not None, ("bound valve ON, sensor failed", ch, now)
                assert reading[1] < limit, ("bound valve ON over its limit", ch, reading)
                assert now - reading[0] <= 3 * PERIOD_MS, ("bound valve ON, old reading", ch)
        if self.lock and relays.get(0, False):
            valves = [ch for ch in relays if ch != 0 and relays[ch]]
            assert valves, ("pump ON with no valve under the lock", now)
        if host.last_tx is not None and now - host.last_tx > self.timeout:
            assert not any_on, ("relay ON after host silence", now - host.last_tx)


FAULTS = ("disconnected", "crc_error", "zero", "power_on_85", "stuck")
DEADLINES = (-100, 0, 1, 50, 500, 1000, 3000, 5000, 60000, 900000, 10**12)
LIMITS = (30 * 16, 35 * 16, 38 * 16, 45 * 16)


def _random_frame(rng, roms, steady):
    if steady:  # keep a few relays ON with long deadlines: this is what reaches caps
        k = rng.below(20)
        if k < 15:
            ch = rng.pick((3, 3, 4, 0))
            if ch == 3:  # channel 3 is asked for far more than the cap, and kept asking
                return "SET", (3, 1, rng.pick((900000, 10**12)))
            return "SET", (ch, 1, rng.pick((5000, 60000, 900000, 10**12)))
        if k < 19:
            return "HB", ()
        return rng.pick((("CLR", ()), ("UNBIND", (rng.pick((3, 4)),)), ("LOCK", (0,))))
    k = rng.below(100)
    if k < 45:
        on = 0 if rng.chance(25) else 1
        return "SET", (rng.pick((0, 0, 1, 2, 3, 4, 5, -1)), on, rng.pick(DEADLINES))
    if k < 58:
        return "HB", ()
    if k < 66:
        rom = rng.pick(roms + [GHOST, GHOST[:15] + "0"])
        return "BIND", (rng.below(6), rom, rng.pick(LIMITS))
    if k < 71:
        return "UNBIND", (rng.below(6),)
    if k < 78:
        return "LOCK", (0 if rng.chance(30) else 1,)
    if k < 87:
        return "CLR", ()
    if k < 95:
        return "HELLO", (rng.pick((2, 2, 2, 2, 1, 3)), rng.pick((500, 1000, 2000, 3000, 499, 0)))
    return "INFO", ()


def _random_world(rng, hal, roms):
    rom = rng.pick(roms + [GHOST])
    k = rng.below(10)
    if k < 5:
        hal.temps[rom] = 15.0 + rng.below(3200) / 100.0  # 15…47 °C around the limits
    elif k < 7:
        hal.faults[rom] = rng.pick(FAULTS)
    elif k < 8:
        hal.faults.pop(rom, None)
    elif rom in hal.bus:
        hal.bus.remove(rom)  # unplugged
    else:
        hal.bus.append(rom)  # plugged (back) in: found by a rescan


STEADY_START = (
    ("HELLO", (V, 3000)),
    ("CLR", ()),
    ("LOCK", (0,)),
    ("UNBIND", (3,)),
    ("BIND", ()),  # valve 4 to the first sensor: it meets that sensor's changes
)


def check_random_misbehaving_host(start):
    roms = [rom_for("r%d" % i) for i in range(3)]
    host = Host(start, roms=roms)
    rng = Rng(20240611)
    oracle = Oracle(host)
    host.after_pass = oracle.check
    seq = 65200  # the host's numbering wraps during the run
    sent = 0
    steady = False
    while sent < 3500:
        if sent % 500 == 0:
            # Chaos, then a steady spell long enough to reach the caps, then chaos again.
            steady = 1000 <= sent < 2500
            if sent == 1000:
                if roms[0] not in host.hal.bus:
                    host.hal.bus.append(roms[0])
                for kind, fields in STEADY_START:
                    seq = seq % 65535 + 1
                    oracle.send(seq, kind, fields if kind != "BIND" else (4, roms[0], LIMIT))
        if steady and rng.chance(6):
            # The sensor of valve 4 moves around its limit, and now and then fails.
            host.hal.temps[roms[0]] = 30.0 + rng.below(1600) / 100.0
            if rng.chance(20):
                host.hal.faults[roms[0]] = rng.pick(FAULTS[:4])
            else:
                host.hal.faults.pop(roms[0], None)
        elif rng.chance(8):
            _random_world(rng, host.hal, roms)
        kind, fields = _random_frame(rng, roms, steady)
        k = rng.below(100)
        if k < 80 or steady and k < 95:
            seq = seq % 65535 + 1
            s = seq
        elif k < 87:
            s = seq  # a retry of the last one
        elif k < 95:
            s = (seq - 1 - rng.below(200)) % 65536  # a late retry of an older one
        elif k < 98:
            s = (seq - rng.below(32768)) % 65536  # anything not newer
        else:
            s = (seq + rng.below(32768)) % 65536  # a jump ahead, numbered on from there
            seq = s or 1
        if kind == "HELLO":
            seq = s  # a host that says HELLO numbers on from there
        oracle.send(s, kind, fields)
        sent += 1
        k = rng.below(100)
        if steady:
            gap = 200 + rng.below(1000)
        elif k < 70:
            gap = rng.below(300)
        elif k < 92:
            gap = rng.below(1500)
        elif k < 98:
            gap = rng.below(4000)  # longer than any host timeout
        else:
            gap = rng.below(40000)
        host.step(gap, every=50)
    c = oracle.counts
    # Not vacuous: each rule was exercised.
    for key in (
        "retry",
        "stale",
        "FAULT",
        "OFF cap",
        "OFF deadline",
        "SET cap",
        "SET limit",
        "SET sensor",
        "SET no_valve",
        "SET host_silent",
        "SET deadline",
        "BIND rom",
        "HELLO timeout",
        "LCLOSE no_valve",
    ):
        assert c.get(key, 0) > 0, (key, c)
    assert c.get("LCLOSE limit", 0) + sum([c[k] for k in c if k.startswith("LCLOSE sensor")]) > 0, c


# -- the list the runners use ------------------------------------------------------------

UNTIMED = [v for k, v in sorted(globals().items()) if k.startswith("check_")]
TIMED = [
    check_dead_man,
    check_unrefreshed_relay_goes_off_at_its_deadline,
    check_nonpositive_deadline_is_refused_and_huge_one_is_capped,
    check_cap_holds_over_30_minutes_of_refreshes,
    check_cap_latch_needs_off_and_rest_or_clr,
    check_local_close_at_limit_and_pump_follows,
    check_bound_valve_is_never_on_while_its_sensor_forbids,
    check_pump_lock_on_every_valve_close,
    check_sequence_window,
    check_sensor_missing_at_boot_is_bound_then_found_by_the_rescan,
    check_conversions_continue_across_the_wrap,
    check_buttons_debounce_across_the_wrap,
    check_random_misbehaving_host,
]
UNTIMED = [c for c in UNTIMED if c not in TIMED]


def _bind(fn, start):
    return lambda: fn(start)


# (name, callable) pairs; a timing check appears as name@zero and name@wrap.
CHECKS = [(c.__name__, c) for c in UNTIMED]
for _c in TIMED:
    CHECKS.append((_c.__name__ + "@zero", _bind(_c, 0)))
    CHECKS.append((_c.__name__ + "@wrap", _bind(_c, WRAP_START)))


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    passed = failed = 0
    for name, check in CHECKS:
        if only not in name:
            continue
        try:
            check()
            passed += 1
        except Exception as exc:  # report every failing check, not just the first
            failed += 1
            print("FAIL", name, repr(exc))
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
