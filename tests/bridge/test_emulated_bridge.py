"""The daemon and its serial link against the firmware's own logic on a real pty (in-process).

The emulator runs the firmware's ``Bridge`` in a thread behind ``os.openpty()``; the daemon
opens the pty exactly as it opens ``/dev/ttyACM0`` on a Pi.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
import tomllib
import tty
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from zcw.adapters.bridge.link import SerialBridge
from zcw.adapters.bridge.protocol import Decoder, encode
from zcw.app.hardware import EmulatedRig, build_emulated
from zcw.app.runner import IDLE_TICK_S, TICK_S
from zcw.config import parse_config
from zcw.testing.live import LiveSim


def config(**control: Any) -> Any:
    data = tomllib.loads(resources.files("zcw").joinpath("default.toml").read_text())
    data["control"].update({"min_rest_s": 0, **control})
    return parse_config(data)


@pytest.fixture
def rig() -> Iterator[tuple[EmulatedRig, LiveSim]]:
    emu_rig = build_emulated(config())
    with emu_rig.emulator, LiveSim(emu_rig) as live:
        live.wait_for(lambda: _temp(emu_rig) is not None, 10, "the bridge and a first reading")
        yield emu_rig, live


def _temp(r: EmulatedRig) -> float | None:
    status = r.daemon.status
    return status.snapshot.loops["bathroom"].temp_c if status else None


def _measured_since(r: EmulatedRig, t_s: float) -> bool:
    return any(s.at_s > t_s and s.value_c is not None for s in r.link.readings.values())


def _wait_until(predicate: Callable[[], bool], what: str, *, timeout_s: float = 5.0) -> None:
    """Poll the link directly (no LiveSim in between), finely: a state may last milliseconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def _codes(r: EmulatedRig) -> list[str]:
    status = r.daemon.status
    return [f.code for f in status.snapshot.faults] if status else []


def _reasons(live: LiveSim, kind: str) -> list[str | None]:
    return [e.reason for s in list(live.statuses) for e in s.events if e.kind == kind]


def test_short_press_starts_long_press_stops(rig: tuple[EmulatedRig, LiveSim]) -> None:
    r, live = rig
    r.emulator.press_button(0)
    live.wait_for(lambda: "cycle_started" in live.events(), 5, "short press → cycle_started")
    live.wait_for(lambda: r.emulator.relays().get(0, False), 5, "pump on")
    assert r.emulator.relays().get(1)
    r.emulator.press_button(0, long=True)
    live.wait_for(lambda: "cycle_stopped" in live.events(), 5, "long press → cycle_stopped")
    live.wait_for(lambda: not any(r.emulator.relays().values()), 5, "all relays off")


def test_unplug_mid_cycle_marks_offline_then_resyncs(rig: tuple[EmulatedRig, LiveSim]) -> None:
    r, live = rig
    live.do(lambda: r.daemon.submit(_start()))
    live.wait_for(lambda: r.emulator.relays().get(0, False), 5, "pump on")
    unplugged_s = r.link.clock()
    r.emulator.unplug()
    live.wait_for(lambda: "bridge_offline" in _codes(r), 10, "bridge_offline fault")
    status = r.daemon.status
    assert status is not None and not status.bridge_online
    assert "bridge_offline" in _reasons(live, "cycle_aborted")
    replugged_s = r.link.clock()
    r.emulator.replug()
    # The readings from before the unplug go with the old session, the moment the bridge
    # answers: a cycle started on one would be aborted as it went stale.
    _wait_until(lambda: r.link.online, "the link never came back online", timeout_s=10.0)
    assert all(s.at_s > unplugged_s for s in r.link.readings.values())
    live.wait_for(lambda: "bridge_offline" not in _codes(r), 10, "reconnect")
    live.wait_for(lambda: _measured_since(r, replugged_s), 5, "readings again")
    live.wait_for(lambda: _temp(r) is not None, 5, "the daemon has the reading")
    status = r.daemon.status
    assert status is not None and status.bridge_online
    assert not status.confirmed.pump and not any(status.confirmed.valves.values())
    live.do(lambda: r.daemon.submit(_start()))
    live.wait_for(lambda: r.emulator.relays().get(0, False), 5, "a new cycle after resync")


def test_bridge_reboot_mid_cycle_aborts_cleanly(rig: tuple[EmulatedRig, LiveSim]) -> None:
    r, live = rig
    live.do(lambda: r.daemon.submit(_start()))
    live.wait_for(lambda: r.emulator.relays().get(0, False), 5, "pump on")
    r.emulator.reboot("watchdog")
    live.wait_for(lambda: "bridge_rebooted" in _reasons(live, "cycle_aborted"), 5, "abort")
    assert r.link.boot_reason == "watchdog"
    live.wait_for(lambda: bool(r.daemon.status and r.daemon.status.bridge_online), 5, "online")
    status = r.daemon.status
    assert status is not None and status.snapshot.last_cycle is not None
    assert status.snapshot.last_cycle.outcome == "bridge_rebooted"
    assert not any(r.emulator.relays().values())


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("disconnected", "−127"),
        ("crc_error", "CRC"),
        ("zero", "CRC"),
        ("power_on_85", "85.0"),
    ],
)
def test_injected_sensor_faults_raise_i4_faults(
    rig: tuple[EmulatedRig, LiveSim], fault: str, words: str
) -> None:
    r, live = rig
    r.emulator.inject_sensor("bathroom", fault)
    if fault == "power_on_85":
        r.emulator.reboot("power_on")  # 85.0 is only suspicious on the first read after boot
    live.wait_for(lambda: "sensor_invalid" in _codes(r), 10, f"sensor_invalid for {fault}")
    status = r.daemon.status
    assert status is not None
    fault_obj = next(f for f in status.snapshot.faults if f.code == "sensor_invalid")
    assert words in fault_obj.message and fault_obj.hint
    live.do(lambda: r.daemon.submit(_start()))
    live.wait_for(lambda: "rejected" in live.events(), 5, "start rejected")
    assert not any(r.emulator.relays().values())
    r.emulator.inject_sensor("bathroom", None)
    live.wait_for(lambda: "sensor_invalid" not in _codes(r), 10, "the fault clears")


def test_link_refuses_a_bridge_speaking_another_protocol(tmp_path: Path) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    link = SerialBridge(os.ttyname(slave), sensors={})
    try:
        decoder = Decoder()
        frames: list[Any] = []
        while not frames:
            frames = decoder.feed(os.read(master, 1024))
        hello = frames[0]
        assert hello.kind == "HELLO"
        os.write(master, encode(1, "NAK", (hello.seq, "version")))
        deadline = 50
        while "protocol version" not in link.problem and deadline:
            import time

            time.sleep(0.05)
            deadline -= 1
        assert "flash the firmware" in link.problem
        assert not link.poll().online
    finally:
        link.close()
        os.close(master)
        os.close(slave)


def test_link_forgets_the_old_sessions_readings_when_the_bridge_answers_again() -> None:
    """Played by hand on a pty: a reading, a bridge reboot, a new handshake, no new reading."""
    master, slave = os.openpty()
    tty.setraw(slave)
    rom = "28aa000000000001"
    link = SerialBridge(os.ttyname(slave), sensors={"bathroom": rom})
    decoder = Decoder()

    def next_frame(kind: str) -> Any:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            for frame in decoder.feed(os.read(master, 1024)):
                if frame.kind == kind:
                    return frame
        raise AssertionError(f"no {kind} from the link")

    try:
        os.write(master, encode(1, "ACK", (next_frame("HELLO").seq,)))
        _wait_until(lambda: link.online, "online after the first handshake")
        os.write(master, encode(2, "T", (rom, 40 * 16, "ok")))
        _wait_until(lambda: "bathroom" in link.readings, "the reading")
        os.write(master, encode(3, "BOOT", ("watchdog",)))
        os.write(master, encode(4, "ACK", (next_frame("HELLO").seq,)))
        _wait_until(lambda: link.online and link.frames_seen >= 4, "online after the reboot")
        assert link.readings == {}  # the bridge has sent nothing since it came back
    finally:
        link.close()
        os.close(master)
        os.close(slave)


def _start() -> Any:
    from zcw.domain.model import Request, Source

    return Request("start", Source.CLI)


def test_bridge_info_and_console_commands() -> None:
    import subprocess
    import sys

    info = subprocess.run(
        [sys.executable, "-m", "zcw", "bridge", "info", "--sim"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert info.returncode == 0, info.stderr
    assert "firmware 2.1.0, protocol 2, 5 relays" in info.stdout
    assert "last boot reason: power_on" in info.stdout
    assert "→ bathroom: 20.00 °C" in info.stdout
    console = subprocess.run(
        [sys.executable, "-m", "zcw", "bridge", "console", "--sim", "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert console.returncode == 0, console.stderr
    assert " T " in console.stdout and " R " in console.stdout


def test_bridge_info_on_a_missing_port_says_what_to_check(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[pump]\nrelay = 0\n[bridge]\nport = "/dev/nonexistent-zcw"\n[[loops]]\n'
        'name = "bathroom"\nsensor = "bathroom"\nvalve_relay = 1\n'
        '[sensors]\nbathroom = "28ff4a1b6b160301"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "zcw", "bridge", "info", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "cannot open the bridge" in out.stderr and "dialout" in out.stderr
    assert "Traceback" not in out.stderr


FAST_WITH_OUTLET = """
name = "FASTOUT"
description = "a short loop with a heater-outlet sensor"
topology = "crossover"
ambient_c = 20.0
mains_c = 15.0
pump_flow_lpm = 8.0
outlet_sensor = { mount = "immersion", tau_s = 2.0 }

[heater]
kind = "gas"
setpoint_c = 50.0

[[taps]]
name = "bathroom"
hot = [{ pipe = "ppr_20x2.8", length_m = 15.0 }]
cold = [{ pipe = "ppr_20x2.3", length_m = 15.0 }]
sensor = { mount = "valve_body", tau_s = 8.0 }
"""


def test_injected_stuck_sensor_is_an_i4_fault(tmp_path: Path) -> None:
    house = tmp_path / "fastout.toml"
    house.write_text(FAST_WITH_OUTLET)
    data = tomllib.loads(resources.files("zcw").joinpath("default.toml").read_text())
    data["control"].update({"min_rest_s": 0, "stuck_after_s": 5})
    data["heater"] = {"outlet_sensor": "heater_out"}
    # A short pipe: the stuck clock starts once the front is due, not before.
    data["loops"][0].update({"pipe_length_m": 1.0, "pipe": "ppr_20x2.8"})
    data["bridge"]["sim_house"] = str(house)
    emu_rig = build_emulated(parse_config(data))
    with emu_rig.emulator, LiveSim(emu_rig) as live:
        live.wait_for(lambda: _temp(emu_rig) is not None, 10, "a first reading")
        emu_rig.emulator.inject_sensor("bathroom", "stuck")
        live.do(lambda: emu_rig.daemon.submit(_start()))
        live.wait_for(lambda: "sensor_stuck" in _reasons(live, "cycle_aborted"), 20, "stuck abort")
        live.wait_for(lambda: not any(emu_rig.emulator.relays().values()), 5, "relays off")
        faults = [
            e.data.get("message", "") for s in live.statuses for e in s.events if e.kind == "fault"
        ]
        assert any("has not changed at all" in str(m) for m in faults)


def test_readings_carry_when_they_were_measured(rig: tuple[EmulatedRig, LiveSim]) -> None:
    """A T frame leaves the bridge as its 750 ms conversion ends; the arrival estimate needs the
    time the water was measured, so the link dates each reading back by one conversion."""
    r, _ = rig
    reading = r.daemon.hardware.poll().readings["bathroom"]
    age = r.daemon.clock.now_s() - reading.at_s
    assert 0.75 <= age <= 0.75 + 1.0 + 0.5, age  # conversion + at most one period + slack


def test_a_local_close_by_the_bridge_shows_in_events_status_and_the_dashboard(
    rig: tuple[EmulatedRig, LiveSim],
) -> None:
    """The firmware closes the valve itself when its bound sensor fails mid-cycle; the user
    sees it in `zcw/event` (the fault event), `zcw status --json` and the dashboard."""
    from rich.console import Console

    from zcw.app.state_json import event_dict, status_dict
    from zcw.ui.dashboard import Dashboard

    r, live = rig
    live.do(lambda: r.daemon.submit(_start()))
    live.wait_for(lambda: r.emulator.relays().get(1, False), 5, "valve open")
    r.emulator.inject_sensor("bathroom", "disconnected")
    live.wait_for(lambda: "bridge_local_close" in _codes(r), 5, "the local close reported")
    assert ["1", "sensor_disconnected"] in [f for _, k, f in r.emulator.hal.frames if k == "LCLOSE"]
    live.wait_for(lambda: not any(r.emulator.relays().values()), 5, "everything off")
    events = [e for s in list(live.statuses) for e in s.events]
    fault = next(e for e in events if e.kind == "fault" and e.reason == "bridge_local_close")
    said = event_dict(fault)  # what zcw/event carries
    assert said["event"] == "fault" and said["loop"] == "bathroom"
    expected = "closed the bathroom valve by itself: its sensor bathroom failed (disconnected)"
    assert expected in str(said["message"])
    status = r.daemon.status
    assert status is not None
    codes = [f["code"] for f in status_dict(status)["faults"]]  # what `zcw status` shows
    assert "bridge_local_close" in codes
    dash = Dashboard(title="zcw")
    dash.update(status)
    console = Console(record=True, width=200)
    console.print(dash.render())
    assert "closed the bathroom valve by itself" in console.export_text()


def test_bridge_info_with_only_a_port_lists_the_rom_ids_before_any_config() -> None:
    import subprocess
    import sys

    from hil.emulator import Emulator
    from hil.house import load_house
    from hil.plant import Plant

    with Emulator(Plant(load_house("R0"))) as emu:
        out = subprocess.run(
            [sys.executable, "-m", "zcw", "bridge", "info", "--port", emu.pty_path],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 0, out.stderr
    assert "289aab8855eb435a → not in the config's sensors table" in out.stdout


def _tick_step_s(live: LiveSim, for_s: float) -> float:
    """The median time between the ticks of the next ``for_s`` seconds."""
    first = len(live.statuses)
    time.sleep(for_s)
    at = [s.snapshot.at_s for s in list(live.statuses)[first:]]
    return statistics.median(b - a for a, b in itertools.pairwise(at))


def test_an_idle_daemon_ticks_at_half_pace_and_a_cycle_at_full_pace(
    rig: tuple[EmulatedRig, LiveSim],
) -> None:
    """Idle, the tick (and the heartbeat it sends) comes every IDLE_TICK_S; from the start of
    a cycle it comes every TICK_S again, and the bridge's dead-man never trips either way."""
    r, live = rig
    live.wait_for(lambda: r.daemon.quiet, 5, "a quiet daemon")
    assert _tick_step_s(live, 3.0) == pytest.approx(IDLE_TICK_S, abs=0.05)
    live.do(lambda: r.daemon.submit(_start()))
    live.wait_for(lambda: r.emulator.relays().get(0, False), 10, "pump on")
    assert not r.daemon.quiet
    assert _tick_step_s(live, 2.0) == pytest.approx(TICK_S, abs=0.05)
    assert r.emulator.relays().get(0) and not r.emulator.bridge.host_silent
    seen = [f.code for s in list(live.statuses) for f in s.snapshot.faults]
    seen += [str(e.reason) for s in list(live.statuses) for e in s.events]
    assert not [c for c in seen if "dead_man" in c or "host_silent" in c]
