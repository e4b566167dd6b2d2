"""Choose and build the bridge the daemon talks to: a real Pico, or the emulator on a pty.

With ``[bridge] port = "sim"`` (or ``--sim``) the firmware's own logic runs in an emulator
thread behind a pseudo-terminal, and the daemon reaches it through the very same serial link
it uses for a real Pico. Only ``--speed`` other than 1 switches to the in-process lockstep
simulation (``zcw.app.sim``), because a pty link runs on wall-clock time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zcw.adapters.bridge.link import Binding, SerialBridge
from zcw.app.clock import MonotonicClock
from zcw.app.daemon import Daemon
from zcw.app.wiring import Wiring, wiring_from_config
from zcw.config import Config

if TYPE_CHECKING:
    # The emulator and the plant model are imported by build_emulated only: a daemon on a
    # real Pico never needs them, nor the start-up CPU they cost.
    from hil.emulator import Emulator
    from hil.plant import Plant


def bindings_for(cfg: Config, wiring: Wiring, sensors: Mapping[str, str]) -> list[Binding]:
    """The bridge's local thermostatic close: each valve bound to its loop sensor.

    The limit is ``ready_c``, capped by ``cold_line_max_c`` in crossover (docs/safety.md, layer 1).
    """
    out = []
    for lc in cfg.loops:
        channel = wiring.valve_channels.get(lc.name)
        rom = sensors.get(lc.sensor or "")
        if channel is None or rom is None:
            continue
        limit = lc.ready_c
        if cfg.topology == "crossover":
            limit = min(limit, cfg.control.cold_line_max_c)
        out.append(Binding(channel, rom, limit))
    return out


def serial_bridge(
    cfg: Config, wiring: Wiring, port: str, sensors: Mapping[str, str]
) -> SerialBridge:
    return SerialBridge(
        port,
        baud=cfg.bridge.baud,
        sensors=sensors,
        bindings=bindings_for(cfg, wiring, sensors),
        pump_lock=cfg.topology == "crossover",
        host_timeout_s=cfg.bridge.host_timeout_s,
    )


@dataclass
class EmulatedRig:
    """A daemon on the emulated bridge, and what tests or the dashboard may poke."""

    daemon: Daemon
    emulator: Emulator
    link: SerialBridge
    plant: Plant
    house: str


def build_emulated(cfg: Config, house: str | None = None) -> EmulatedRig:
    from hil.emulator import Emulator, rom_for
    from hil.house import load_house
    from hil.plant import Plant
    from zcw.app.sim import check_loops_match

    name = house or cfg.bridge.sim_house
    plant = Plant(load_house(name))
    check_loops_match(cfg, plant, name)
    link = Path(tempfile.mkdtemp(prefix="zcw-emu-")) / "bridge"
    emulator = Emulator(
        plant,
        config={"host_timeout_ms": int(cfg.bridge.host_timeout_s * 1000)},
        link_path=link,
    )
    wiring = wiring_from_config(cfg)
    sensors = {s: rom_for(s) for s in wiring.sensor_names if s in plant.sensor_names}
    serial_link = serial_bridge(cfg, wiring, emulator.port, sensors)
    daemon = Daemon(wiring, serial_link, MonotonicClock())
    return EmulatedRig(daemon, emulator, serial_link, plant, name)


def build_real(cfg: Config) -> Daemon:
    wiring = wiring_from_config(cfg)
    link = serial_bridge(cfg, wiring, cfg.bridge.port, cfg.sensors)
    return Daemon(wiring, link, MonotonicClock())
