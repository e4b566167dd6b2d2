"""Translate the validated config into the core's parameters and the bridge's channel map.

The core speaks of loops and roles (``loop:bathroom``, ``cold:bathroom``, ``heater_out``);
the bridge speaks of relay channels and sensor names. This module is the one place that
knows both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zcw.config import Config
from zcw.domain.model import (
    HEATER_OUT,
    BridgeNotice,
    LoopParams,
    Params,
    Relays,
    SensorSample,
    cold_key,
    loop_key,
)
from zcw.ports import ChannelNotice, RelayCommand

# How far ahead each relay-ON is valid on the bridge. The daemon refreshes every tick, so
# a frozen daemon leaves a relay on for at most this long (plus the bridge's own dead-man).
RELAY_DEADLINE_S = 5.0

# Water volume per metre of common hot pipes (docs/physics.md §1.1), for the transit estimate.
LITRES_PER_M = {
    "ppr_20x2.0": 0.201,
    "ppr_20x2.3": 0.186,
    "ppr_20x2.8": 0.163,
    "ppr_20x3.4": 0.137,
    "ppr_25x3.5": 0.254,
    "ppr_25x4.2": 0.216,
    "pex_1/2": 0.114,
    "pex_3/4": 0.228,
    "cu_1/2_l": 0.151,
    "cu_1/2_m": 0.164,
    "cu_3/4_l": 0.312,
    "cu_3/4_m": 0.333,
}
# Water moved before hot water arrives is 1.3–1.7× the pipe volume (docs/physics.md §5.1), plus
# the heater's ignition; err long, since this only bounds when a missing rise means trouble.
TRANSIT_FACTOR = 1.7
IGNITION_ALLOWANCE_S = 10.0

# Lag of the loop sensor when the config gives no better hint: a DS18B20 clamped on a
# metal valve body with paste (docs/physics.md §4).
DEFAULT_SENSOR_TAU_S = 8.0


@dataclass(frozen=True, slots=True)
class Wiring:
    """Channel and sensor maps plus the core parameters, derived once at start-up."""

    params: Params
    pump_channel: int | None
    valve_channels: Mapping[str, int]
    roles: Mapping[str, str]  # sensor name -> reading key

    def command(self, relays: Relays) -> RelayCommand:
        channels: dict[int, bool] = {}
        if self.pump_channel is not None:
            channels[self.pump_channel] = relays.pump
        for loop, channel in self.valve_channels.items():
            channels[channel] = relays.valves.get(loop, False)
        return RelayCommand(channels=channels, deadline_s=RELAY_DEADLINE_S)

    def readings(self, by_sensor: Mapping[str, SensorSample]) -> dict[str, SensorSample]:
        return {self.roles[name]: s for name, s in by_sensor.items() if name in self.roles}

    def notice(self, notice: ChannelNotice) -> BridgeNotice:
        """A bridge notice by channel, as the core knows it: by loop (None for the pump)."""
        loops = [name for name, ch in self.valve_channels.items() if ch == notice.channel]
        return BridgeNotice(notice.kind, loops[0] if loops else None, notice.detail)

    def confirmed(self, channels: Mapping[int, bool]) -> Relays:
        pump = self.pump_channel is not None and channels.get(self.pump_channel, False)
        valves = {loop: channels.get(ch, False) for loop, ch in self.valve_channels.items()}
        return Relays(pump=pump, valves=valves)

    @property
    def sensor_names(self) -> tuple[str, ...]:
        return tuple(self.roles)


def transit_estimate_s(
    length_m: float | None, pipe: str | None, flow_lpm: float | None
) -> float | None:
    """Seconds from pump start to hot water at the valve, from the config's hints, if given."""
    if length_m is None or flow_lpm is None or flow_lpm <= 0:
        return None
    litres = length_m * LITRES_PER_M.get(pipe or "", LITRES_PER_M["ppr_20x2.8"])
    return round(TRANSIT_FACTOR * litres / flow_lpm * 60.0 + IGNITION_ALLOWANCE_S, 1)


def first_order(mount: str | None, pipe: str | None) -> bool | None:
    """Whether a loop sensor so mounted follows the water as a single lag: on a valve body or
    immersed it does, clamped on copper nearly so; clamped on plastic the wall adds a lag of
    its own (docs/physics.md §4). None when the config does not say where it sits."""
    if mount is None:
        return None
    if mount == "pipe_clamp":
        return pipe is not None and pipe.startswith("cu_")
    return True


def wiring_from_config(cfg: Config) -> Wiring:
    control = cfg.control
    pump = cfg.pump
    loops: list[LoopParams] = []
    roles: dict[str, str] = {}
    valves: dict[str, int] = {}
    for lc in cfg.loops:
        if lc.sensor is not None:  # config validation guarantees it; typed as optional
            roles[lc.sensor] = loop_key(lc.name)
        if lc.cold_sensor:
            roles[lc.cold_sensor] = cold_key(lc.name)
        if lc.valve_relay is not None:
            valves[lc.name] = lc.valve_relay
        loops.append(
            LoopParams(
                name=lc.name,
                ready_c=lc.ready_c,
                max_run_s=lc.max_run_s,
                has_valve=lc.valve_relay is not None,
                has_cold_sensor=lc.cold_sensor is not None,
                sensor_tau_s=lc.sensor_tau_s
                if lc.sensor_tau_s is not None
                else DEFAULT_SENSOR_TAU_S,
                flow_hint_lpm=pump.flow_lpm if pump is not None else None,
                transit_hint_s=transit_estimate_s(
                    lc.pipe_length_m, lc.pipe, pump.flow_lpm if pump is not None else None
                ),
                sensor_first_order=first_order(lc.sensor_mount, lc.pipe),
            )
        )
    heater_out = cfg.heater.outlet_sensor if cfg.heater is not None else None
    if heater_out:
        roles[heater_out] = HEATER_OUT
    params = Params(
        loops=tuple(loops),
        topology=cfg.topology,
        has_pump=pump is not None,
        has_heater_out=heater_out is not None,
        valve_lead_s=control.valve_lead_s,
        valve_lag_s=control.valve_lag_s,
        min_rest_s=control.min_rest_s,
        ignition_timeout_s=control.ignition_timeout_s,
        cold_line_max_c=control.cold_line_max_c,
        hysteresis_c=control.hysteresis_c,
        sensor_period_s=control.sensor_period_s,
        stuck_after_s=control.stuck_after_s,
    )
    return Wiring(
        params=params,
        pump_channel=pump.relay if pump is not None else None,
        valve_channels=valves,
        roles=roles,
    )
