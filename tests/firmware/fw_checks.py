"""Firmware behaviour checks that run unchanged under CPython and the MicroPython unix port.

Run directly (``micropython tests/firmware/fw_checks.py``) it prints ``N passed, M failed``;
pytest imports it and runs each check as a test. Time is injected: no sleeps.
"""

import json
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = HERE + "/../.."
sys.path.insert(0, ROOT + "/firmware_bridge")

import protocol  # noqa: E402
from bridge import Bridge  # noqa: E402
from fake_hal import FakeHal, rom_for  # noqa: E402

ROM = rom_for("bathroom")
CONFIG = {"relays": 5, "buttons": 2, "sensor_period_ms": 1000, "host_timeout_ms": 2000}


class Host:
    """Plays the Pi: sends frames, reads the bridge's replies."""

    def __init__(self, roms=(ROM,)):
        self.hal = FakeHal(roms=roms)
        self.bridge = Bridge(self.hal, CONFIG)
        self.seq = 0
        self.decoder = protocol.Decoder()
        self.frames = []

    def send(self, kind, *fields):
        self.seq += 1
        self.hal.inbox.extend(protocol.encode(self.seq, kind, fields))
        self.step(0)
        return self.seq

    def step(self, ms, every=10):
        end = self.hal.now + ms
        while True:
            self.bridge.poll(self.hal.now)
            self.frames.extend(self.decoder.feed(self.hal.take_output()))
            if self.hal.now >= end:
                break
            self.hal.now = min(self.hal.now + every, end)

    def run_with_heartbeat(self, ms, period=500):
        end = self.hal.now + ms
        while self.hal.now < end:
            self.send("HB")
            self.step(min(period, end - self.hal.now))

    def kinds(self, kind):
        return [f for f in self.frames if f[1] == kind]

    def relay(self, ch):
        return self.hal.relays.get(ch, False)


def start_cycle(host):
    host.send("HELLO", protocol.PROTOCOL_VERSION, 2000)
    host.send("LOCK", 1)
    host.send("SET", 1, 1, 5000)
    host.send("SET", 0, 1, 5000)
    assert host.relay(0) and host.relay(1)


def check_vectors():
    with open(ROOT + "/firmware_bridge/vectors.json") as f:
        doc = json.load(f)
    assert "0x%04X" % protocol.crc16(b"123456789") == doc["crc"]["check_123456789"]
    for v in doc["valid"]:
        line = v["frame"].encode()
        assert protocol.decode_line(line[:-1]) == (v["seq"], v["kind"], v["fields"])
        assert protocol.encode(v["seq"], v["kind"], v["fields"]) == line
    for bad in doc["invalid"]:
        assert protocol.decode_line(bad.encode().rstrip(b"\n")) is None, bad
    stream = bytes(ord(c) for c in doc["stream"]["bytes"])
    frames = protocol.Decoder().feed(stream)
    assert [f[0] for f in frames] == doc["stream"]["frames"]


def check_boot_reports_reason_and_all_relays_off():
    host = Host()
    host.step(0)
    boot = host.kinds("BOOT")
    assert boot and boot[0][2][0] == "power_on"
    assert not any(host.hal.relays.values())


def check_host_silence_drops_everything_and_latches():
    host = Host()
    start_cycle(host)
    t_last = host.hal.now
    host.step(3000)
    offs = [t for (t, ch, on) in host.hal.history if not on and ch in (0, 1)]
    assert offs and max(offs) - t_last <= 2000 + 500, offs
    assert not host.relay(0) and not host.relay(1)
    assert host.kinds("FAULT")
    host.frames = []
    host.send("HB")  # the host is back: it hears about the fault
    assert host.kinds("FAULT")[0][2] == ["host_silent"]
    nak = host.send("SET", 1, 1, 5000)
    assert [f for f in host.kinds("NAK") if f[2][0] == str(nak)][0][2][1] == "host_silent"
    host.send("CLR")
    host.send("SET", 1, 1, 5000)
    assert host.relay(1)


def check_unrefreshed_relay_goes_off_at_its_deadline():
    host = Host()
    host.send("HELLO", protocol.PROTOCOL_VERSION, 3000)
    host.send("SET", 1, 1, 1500)
    t_on = host.hal.now
    host.run_with_heartbeat(2500, period=400)
    off = [t for (t, ch, on) in host.hal.history if ch == 1 and not on]
    assert off and 1500 <= off[0] - t_on <= 1510, off
    assert host.kinds("OFF")[0][2] == ["1", "deadline"]


def check_deadline_is_capped_at_600_s():
    host = Host()
    host.send("HELLO", protocol.PROTOCOL_VERSION, 3000)
    t_on = host.hal.now
    for _ in range(700):
        host.send("SET", 1, 1, 900000)  # refreshed every second, asking for 900 s
        host.step(1000, every=500)
        host.frames = []  # keep memory flat on the MicroPython heap
        if not host.relay(1):
            break
    off = [t for (t, ch, on) in host.hal.history if ch == 1 and not on]
    assert off and off[0] - t_on <= 600000 + 1000, off


def check_pump_lock_refuses_pump_without_valve():
    host = Host()
    host.send("HELLO", protocol.PROTOCOL_VERSION, 2000)
    seq = host.send("SET", 0, 1, 5000)
    assert not host.relay(0)
    assert [f for f in host.kinds("NAK") if f[2] == [str(seq), "no_valve"]]


def check_local_close_at_limit_and_pump_follows():
    host = Host()
    start_cycle(host)
    host.send("BIND", 1, ROM, 38 * 16)
    host.hal.temps[ROM] = 30.0
    host.run_with_heartbeat(2000)
    assert host.relay(1)
    host.hal.temps[ROM] = 38.5
    t = host.hal.now
    host.run_with_heartbeat(1500)
    off1 = [x for (x, ch, on) in host.hal.history if ch == 1 and not on]
    off0 = [x for (x, ch, on) in host.hal.history if ch == 0 and not on]
    assert off1 and off1[0] - t <= 1000 + 750, (off1, t)  # one conversion period
    assert off0 and off0[0] == off1[0]
    reasons = [f[2] for f in host.kinds("LCLOSE")]
    assert ["1", "limit"] in reasons and ["0", "no_valve"] in reasons


def check_local_close_when_the_sensor_fails():
    host = Host()
    start_cycle(host)
    host.send("BIND", 1, ROM, 38 * 16)
    host.run_with_heartbeat(2000)
    host.hal.faults[ROM] = "disconnected"
    host.run_with_heartbeat(2000)
    assert not host.relay(1) and not host.relay(0)
    assert ["1", "sensor_disconnected"] in [f[2] for f in host.kinds("LCLOSE")]


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
        errors = [f[2][2] for f in host.kinds("T")]
        assert errors and errors[0] == expected[fault], (fault, errors)
    host = Host()
    host.hal.temps[ROM] = 42.0
    host.step(2000)
    assert host.kinds("T")[0][2] == [ROM, "672", "ok"]


def check_85_after_valid_reads_is_passed_on_for_the_host_to_judge():
    host = Host()
    host.hal.temps[ROM] = 20.0
    host.step(2000)
    host.hal.temps[ROM] = 85.0
    host.step(1000)
    assert host.kinds("T")[-1][2] == [ROM, "1360", "ok"]


def check_buttons_short_long_and_bounce():
    host = Host()
    host.hal.button_levels[0] = True
    host.step(20, every=5)  # a 20 ms bounce: ignored
    host.hal.button_levels[0] = False
    host.step(100, every=5)
    assert not host.kinds("BTN")
    host.hal.button_levels[0] = True
    host.step(300, every=5)
    host.hal.button_levels[0] = False
    host.step(100, every=5)
    assert [f[2] for f in host.kinds("BTN")] == [["0", "S"]]
    host.hal.button_levels[1] = True
    host.step(1700, every=10)
    host.hal.button_levels[1] = False
    host.step(100, every=10)
    assert [f[2] for f in host.kinds("BTN")] == [["0", "S"], ["1", "L"]]


def check_duplicate_sequence_is_acked_not_reapplied():
    host = Host()
    host.send("HELLO", protocol.PROTOCOL_VERSION, 2000)
    host.send("SET", 1, 1, 5000)
    host.hal.inbox.extend(protocol.encode(host.seq, "SET", (1, 0, 0)))  # same seq, retried
    host.step(0)
    assert host.relay(1)
    assert len([f for f in host.kinds("ACK") if f[2] == [str(host.seq)]]) == 2


def check_wrong_protocol_version_is_refused():
    host = Host()
    seq = host.send("HELLO", 99, 2000)
    assert [f for f in host.kinds("NAK") if f[2] == [str(seq), "version"]]


def check_garbage_between_frames_is_dropped():
    host = Host()
    host.hal.inbox.extend(b"\x00\xffnoise$12,SE")
    host.send("HELLO", protocol.PROTOCOL_VERSION, 2000)
    host.hal.inbox.extend(b"$5,SET,1,1,5000*0000\n")  # bad CRC
    host.step(0)
    assert not host.relay(1)
    assert host.bridge.decoder.dropped >= 2
    assert host.kinds("INFO")


CHECKS = [v for k, v in sorted(globals().items()) if k.startswith("check_")]


def main():
    passed = failed = 0
    for check in CHECKS:
        try:
            check()
            passed += 1
        except Exception as exc:  # report every failing check, not just the first
            failed += 1
            print("FAIL", check.__name__, repr(exc))
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
