"""The plug is switched off however its cycle ended: aborted, refused, already hot.

Against the real daemon (adapters built by the composition root, the simulated house in
lockstep) and the emulated plug on 127.0.0.x. Each test turns the plug on as a user would,
lets the daemon end or refuse that cycle in one particular way, and then reads the
emulator's own log: zcw sent exactly one switch command, ``off``, right after the answer or
the end, and asked for nothing more. ``tests/mutations/mihome.toml`` takes away, in turn,
each way ``zcw/app/mihome_bridge.py`` notices an end or a refusal, and names the test here
that catches it.
"""

from __future__ import annotations

import time
from pathlib import Path

from conftest import Live, answers, live, proxy, settle, sim_config

from zcw.domain.model import Request, Source
from zcw.testing.miio_device import MiioDevice

# The glue acts on the status that carries the event, and the command is the next job of
# the plug's worker: on loopback it reaches the emulator within milliseconds. This bound
# leaves room for a loaded CI machine, and is far shorter than a stop sequence or a poll
# interval on which a wrong path would only catch up later.
PROMPT_S = 0.4


def offs_after(plug: MiioDevice, t0: float) -> list[float]:
    """When zcw switched the plug off since ``t0`` (the emulator's arrival times)."""
    return [
        r.at
        for r in plug.log("set_properties")
        if r.at > t0 and r.params and r.params[0].get("value") is False
    ]


def switched_off_once(lv: Live, plug: MiioDevice, t0: float, ended_at: float, what: str) -> None:
    """The plug was switched off once since ``t0``, within PROMPT_S of ``what`` (at
    ``ended_at``), and the plug's one request had one answer."""
    lv.wait(lambda: not plug.on, 5, f"the plug switched off after {what}")
    offs = offs_after(plug, t0)
    assert len(offs) == 1, offs
    assert offs[0] - ended_at < PROMPT_S, (offs[0], ended_at)
    settle(lv, plug)
    assert answers(lv) == 1 and plug.switched_to() == [False]


def test_a_cycle_aborted_by_a_fault_switches_the_plug_off(plug: MiioDevice, tmp_path: Path) -> None:
    """The heater never fires: hot water does not come within max_run_s, and the cycle the
    plug started is aborted (max_run)."""
    cfg = sim_config(tmp_path, proxy(plug), loop={"max_run_s": 20})
    with live(cfg, speed=10) as lv:
        settle(lv, plug)
        lv.sim.do(lambda: lv.rig.plant.fail_ignition(True))
        t0 = time.monotonic()
        plug.user_set(True)
        lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 3, "start")
        lv.wait(lambda: bool(lv.events("cycle_aborted")), 10, "cycle_aborted")
        ended_at = lv.events("cycle_aborted")[0]
        switched_off_once(lv, plug, t0, ended_at, "the abort")


def test_a_cycle_stopped_by_another_trigger_switches_the_plug_off(
    plug: MiioDevice, tmp_path: Path
) -> None:
    """``zcw stop`` (the CLI) ends the cycle the plug started: cycle_stopped, source cli."""
    with live(sim_config(tmp_path, proxy(plug)), speed=2) as lv:
        settle(lv, plug)
        t0 = time.monotonic()
        plug.user_set(True)
        lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 3, "start")
        lv.sim.do(lambda: lv.sim.daemon.submit(Request("stop", Source.CLI)))
        lv.wait(lambda: bool(lv.events("cycle_stopped", "cli")), 3, "cycle_stopped")
        ended_at = lv.events("cycle_stopped", "cli")[0]
        switched_off_once(lv, plug, t0, ended_at, "the stop")


def test_a_start_rejected_for_the_rest_time_switches_the_plug_off(
    plug: MiioDevice, tmp_path: Path
) -> None:
    """A cycle from the button has just ended; min_rest_s = 600 refuses the plug's."""
    with live(sim_config(tmp_path, proxy(plug), min_rest_s=600), speed=10) as lv:
        settle(lv, plug)
        lv.sim.do(lambda: lv.rig.hardware.press(0))
        lv.wait(lambda: bool(lv.events("hot_ready")), 20, "the button's cycle")
        lv.wait(lambda: _state(lv) == "idle", 5, "its end")
        settle(lv, plug)
        t0 = time.monotonic()
        plug.user_set(True)
        lv.wait(lambda: bool(lv.events("rejected", "mihome")), 3, "rejected")
        ended_at = lv.events("rejected", "mihome")[0]
        switched_off_once(lv, plug, t0, ended_at, "the rejection")
        assert not lv.events("cycle_started", "mihome")


def test_a_start_rejected_by_a_latched_fault_switches_the_plug_off(
    plug: MiioDevice, tmp_path: Path
) -> None:
    """Two cycles in a row without hot water latch max_run: the plug's start is refused."""
    cfg = sim_config(tmp_path, proxy(plug), loop={"max_run_s": 20})
    with live(cfg, speed=10) as lv:
        settle(lv, plug)
        lv.sim.do(lambda: lv.rig.plant.fail_ignition(True))
        for n in (1, 2):
            lv.wait(lambda: _state(lv) != "heating", 5, "the last cycle over")  # not STOPPING
            lv.sim.do(lambda: lv.sim.daemon.submit(Request("start", Source.CLI)))
            lv.wait(lambda n=n: len(lv.events("cycle_aborted")) >= n, 10, f"abort {n}")  # type: ignore[misc]
        lv.wait(lambda: (f := lv.fault("max_run")) is not None and f.latching, 3, "the latch")
        lv.wait(lambda: _state(lv) == "fault", 5, "the cycle's end")
        t0 = time.monotonic()
        plug.user_set(True)
        lv.wait(lambda: bool(lv.events("rejected", "mihome")), 3, "rejected")
        ended_at = lv.events("rejected", "mihome")[0]
        switched_off_once(lv, plug, t0, ended_at, "the rejection")


def test_already_hot_switches_the_plug_off(plug: MiioDevice, tmp_path: Path) -> None:
    """Someone just ran the bathroom tap: the pipe is hot when the plug is switched on."""
    with live(sim_config(tmp_path, proxy(plug)), speed=10) as lv:
        settle(lv, plug)
        lv.sim.do(lambda: lv.rig.plant.set_draw("bathroom", 6.0))
        lv.wait(lambda: _temp(lv) > 40.0, 15, "the pipe hot from the draw")
        lv.sim.do(lambda: lv.rig.plant.set_draw("bathroom", 0.0))
        t0 = time.monotonic()
        plug.user_set(True)
        lv.wait(lambda: bool(lv.events("already_hot", "mihome")), 3, "already_hot")
        ended_at = lv.events("already_hot", "mihome")[0]
        switched_off_once(lv, plug, t0, ended_at, "already_hot")
        assert not lv.events("cycle_started")


def _state(lv: Live) -> str | None:
    status = lv.sim.daemon.status
    return None if status is None else str(status.snapshot.state)


def _temp(lv: Live) -> float:
    status = lv.sim.daemon.status
    temp = None if status is None else status.snapshot.loops["bathroom"].temp_c
    return -1.0 if temp is None else temp
