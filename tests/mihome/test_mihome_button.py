"""A silent plug costs the button nothing: press → valve relay ON through the pty and the
firmware, measured with the Mi Home plug unreachable and without Mi Home at all."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from conftest import TOKEN, live, proxy, sim_config

from zcw.app.hardware import build_emulated
from zcw.config import Config
from zcw.domain.model import Request, Source
from zcw.testing.miio_device import MiioDevice

PRESSES = 6


def press_latencies_ms(cfg: Config, *, expect_fault: str | None) -> list[float]:
    rig = build_emulated(cfg)
    on_at: list[float] = []
    hal = rig.emulator.hal
    real_set = hal.set_relay

    def set_relay(channel: int, on: bool) -> None:
        if channel == 1 and on and not hal.relays.get(1, False):
            on_at.append(time.perf_counter())
        real_set(channel, on)

    hal.set_relay = set_relay  # type: ignore[method-assign]
    out: list[float] = []
    with rig.emulator, live(cfg, rig=rig) as lv:
        lv.wait(
            lambda: bool(lv.sim.daemon.status and lv.sim.daemon.status.bridge_online), 10, "bridge"
        )
        time.sleep(2.0)  # first readings
        if expect_fault is not None:
            lv.wait(lambda: lv.fault(expect_fault) is not None, 10, expect_fault)
        for _ in range(PRESSES):
            count = len(on_at)
            rig.emulator.press_button(0)
            lv.wait(lambda c=count: len(on_at) > c, 5, "valve ON")  # type: ignore[misc]
            out.append((on_at[-1] - rig.emulator.released_at[0]) * 1000.0)
            lv.sim.do(lambda: lv.sim.daemon.submit(Request("stop", Source.CLI)))
            lv.wait(lambda: not any(rig.emulator.relays().values()), 5, "relays off")
            time.sleep(0.1)
        if expect_fault is not None:
            assert lv.fault(expect_fault) is not None  # still out during every press
    return out


def test_a_silent_plug_costs_the_button_nothing(tmp_path: Path) -> None:
    with MiioDevice(token=TOKEN, silent=True) as plug:
        with_plug = press_latencies_ms(
            sim_config(tmp_path / "a", proxy(plug)), expect_fault="mihome_offline"
        )
        assert plug.log() == []
    base_cfg = sim_config(tmp_path / "b", proxy(plug))
    without = press_latencies_ms(base_cfg.model_copy(update={"mihome": None}), expect_fault=None)
    print(
        f"\npress → valve ON, {PRESSES} presses: without Mi Home median "
        f"{statistics.median(without):.1f} ms, max {max(without):.1f} ms; with the plug silent "
        f"median {statistics.median(with_plug):.1f} ms, max {max(with_plug):.1f} ms"
    )
    assert statistics.median(with_plug) <= statistics.median(without) + 20.0
    assert max(with_plug) <= max(without) + 100.0
