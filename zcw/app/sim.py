"""Wire the daemon to a simulated house: plant model plus simulated bridge, on a stepped clock."""

from __future__ import annotations

from dataclasses import dataclass

from hil.house import load_house
from hil.plant import Plant
from hil.sim_hardware import SimHardware
from zcw.app.clock import SteppedClock
from zcw.app.daemon import Daemon
from zcw.app.wiring import wiring_from_config
from zcw.config import Config
from zcw.errors import ConfigError, ConfigProblem

# The plant's own integration step; the control tick is separate (see runner.TICK_S).
PLANT_DT_S = 0.25


@dataclass
class SimRig:
    """Everything a simulated run is made of, for the runner, the bench and tests."""

    daemon: Daemon
    hardware: SimHardware
    plant: Plant
    clock: SteppedClock
    house: str


def check_loops_match(cfg: Config, plant: Plant, house_name: str) -> None:
    """Every configured loop must be a tap of the simulated house."""
    unknown = [lc.name for lc in cfg.loops if lc.name not in plant.loops]
    if unknown:
        raise ConfigError(
            tuple(
                ConfigProblem(
                    where=f"loops.{name}.name",
                    message=(
                        f"loop '{name}' is not a tap of simulated house {house_name} "
                        f"(its taps: {', '.join(plant.loops)})"
                    ),
                    fix="name the loops after the house's taps, or run "
                    f"`zcw run --sim {house_name}` "
                    "without -c to get a matching default config",
                )
                for name in unknown
            )
        )


def build_sim(cfg: Config, house: str | None = None) -> SimRig:
    house_name = house or cfg.bridge.sim_house
    plant = Plant(load_house(house_name), dt_s=PLANT_DT_S)
    check_loops_match(cfg, plant, house_name)
    clock = SteppedClock()
    wiring = wiring_from_config(cfg)
    hardware = SimHardware(
        plant,
        clock,
        pump_channel=wiring.pump_channel,
        valve_channels={ch: loop for loop, ch in wiring.valve_channels.items()},
        sensors=wiring.sensor_names,
    )
    return SimRig(Daemon(wiring, hardware, clock), hardware, plant, clock, house_name)
