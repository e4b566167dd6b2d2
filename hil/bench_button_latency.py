"""Latency from a button press to the relay turning ON, through the pty and the firmware.

Usage: ``python -m hil.bench_button_latency [N]``. The emulated Pico runs the firmware's own
logic; the daemon talks to it over a real pseudo-terminal, exactly as on a Pi. A short press
is only known to be short when the button is released (a long press means stop), so the
latency runs from the release to the valve relay switching ON in the emulated board.
"""

from __future__ import annotations

import sys
import time
import tomllib
from importlib import resources

from hil.bench_stats import summary_ms
from zcw.app.hardware import build_emulated
from zcw.config import parse_config
from zcw.domain.model import Request, Source
from zcw.testing.live import LiveSim


def main(n: int = 200) -> None:
    data = tomllib.loads(resources.files("zcw").joinpath("default.toml").read_text())
    data["control"]["min_rest_s"] = 0  # back-to-back cycles for the measurement
    rig = build_emulated(parse_config(data))
    on_at: list[float] = []
    hal = rig.emulator.hal
    real_set = hal.set_relay

    def set_relay(channel: int, on: bool) -> None:
        if channel == 1 and on and not hal.relays.get(1, False):
            on_at.append(time.perf_counter())
        real_set(channel, on)

    hal.set_relay = set_relay  # type: ignore[method-assign]
    latencies: list[float] = []
    with rig.emulator, LiveSim(rig) as live:
        live.wait_for(
            lambda: bool(rig.daemon.status and rig.daemon.status.bridge_online), 10, "bridge"
        )
        time.sleep(2.0)  # first readings
        for _ in range(n):
            count = len(on_at)
            rig.emulator.press_button(0)
            live.wait_for(lambda c=count: len(on_at) > c, 5, "valve ON")  # type: ignore[misc]
            latencies.append((on_at[-1] - rig.emulator.released_at[0]) * 1000.0)
            live.do(lambda: rig.daemon.submit(Request("stop", Source.CLI)))
            live.wait_for(lambda: not any(rig.emulator.relays().values()), 5, "relays off")
            time.sleep(0.1)
    print(f"button release → valve relay ON through the pty, {n} presses:")
    print(summary_ms(latencies))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
