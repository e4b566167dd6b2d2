"""The zcw config a simulated house implies, as its installer would write it, checked.

The topology, whether there is a pump (not on a drain) and its measured flow, which sensors
are wired (a ``<tap>.cold`` probe is that loop's T_cold, ``heater_out`` the heater's T_out),
where each loop sensor sits (``sensor_mount``) and on what pipe: everything `zcw config
check` needs to warn about a sensor that cannot see the water in time. No hints beyond that
(no pipe length): zcw learns the rest from its own cycles.

The config is parsed (so it is checked exactly as a file would be); :func:`house_warnings`
gives what ``zcw.config.advice`` says of it.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from hil.house import House
from zcw.config import Config, advice, parse_config

MOUNTS = {"valve_body": "valve_body", "immersion": "immersion", "clamp": "pipe_clamp"}


def config_for_house(house: House, *, sim_house: str | None = None) -> Config:
    """The config for ``house``; ``sim_house`` is what `zcw run --sim` loads (its name or
    path), the house's name by default."""
    data: dict[str, Any] = tomllib.loads(
        resources.files("zcw").joinpath("default.toml").read_text(encoding="utf-8")
    )
    name = sim_house or house.name.split("#")[0]
    data["topology"] = house.topology
    data["bridge"] = {**data.get("bridge", {}), "port": "sim", "sim_house": name}
    if house.topology == "drain":
        data.pop("pump", None)  # mains pressure pushes the water
    else:
        data["pump"] = {"relay": 0, "flow_lpm": round(house.pump_flow_lpm, 2)}
    template = data["loops"][0]
    loops = []
    for i, tap in enumerate(house.taps):
        loop = {**template, "name": tap.name, "sensor": tap.name, "valve_relay": i + 1}
        loop["sensor_mount"] = MOUNTS[tap.sensor.mount]
        runs = tap.hot or house.trunk_hot
        if runs:
            loop["pipe"] = runs[-1].pipe  # the run the sensor sits on
        if tap.cold_sensor is not None:
            loop["cold_sensor"] = f"{tap.name}.cold"
        if house.topology == "return_line" and not tap.valve:
            del loop["valve_relay"]
        loops.append(loop)
    data["loops"] = loops
    heater: dict[str, Any] = {"kind": house.heater.kind}
    if house.outlet_sensor is not None:
        heater["outlet_sensor"] = "heater_out"
    data["heater"] = heater
    return parse_config(data, source=f"the config house {name} implies")


def house_warnings(house: House) -> list[str]:
    """What `zcw config check` warns about the config the house implies."""
    return [str(problem) for problem in advice(config_for_house(house))]
