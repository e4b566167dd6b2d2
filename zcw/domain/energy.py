"""Per-cycle estimate of the water a cycle moved and the heat the heater spent on it.

Pure and I/O-free, like the rest of the core: the history recorder feeds it each tick's
relays and readings and asks for the figures when a cycle ends.

The heater spends ``flow × c × (T_out − T_in)`` on the water a cycle moves. zcw knows the
pump's flow from the config (``pump.flow_lpm``) and how long the pump ran, so the water is
``flow × time``, split among the loops whose valves were open. For the temperatures:

- ``T_out`` is the heater-outlet sensor's reading averaged over the pumping, corrected for
  its lag (the water is ``reading + τ·d(reading)/dt``, so the mean over the run gains
  ``τ × (last − first) / run``). Without an outlet sensor it is the loop's *plateau*: the
  temperature its sensor settles at while hot water is being drawn between cycles, which is
  the heater's water less what a pipe in use loses; before any is seen, a gas heater's usual
  setting (50 °C).
- ``T_in`` is the water the hot water replaced: the cold line's reading at the start where a
  loop has a T_cold probe, otherwise the coolest reading its loop sensor has shown at the
  start of a recent cycle from a cooled pipe (the pipes settle at the room's temperature, and
  the cold line holds the water earlier cycles pushed into it).

Against the simulator's true heater energy (``python -m hil.bench_energy``) the sum over ten
simulated days is within 2 % on R0 and H3 and within 9 % on every reference house; on R0
and H3 a single cycle is within −13 % / +8 % (p10-p90), mostly the pump's real flow against
the configured one. The README has the table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from zcw.domain.model import Params

WATER_KJ_PER_L_K = 4.18  # 1 L of water, 1 K
# The outlet temperature assumed before a loop has shown its plateau: the usual setting of
# a gas tankless heater (40-55 °C, docs/physics.md §2.2) and of a storage tank's thermostat.
HOT_DEFAULT_C = 50.0
# A reading this far over ready_c between cycles is hot water being drawn: a plateau sample.
PLATEAU_OVER_READY_K = 4.0
# Samples kept for the plateau and the floor (a few days of use).
KEEP = 8
# A gas tankless heater lights 2-6 s after the flow starts (docs/physics.md §2.2): without an
# outlet sensor to see it, the water of its usual ignition passes unheated.
GAS_IGNITION_S = 3.0
# Lag of a heater-outlet sensor (a DS18B20 on the outlet pipe), for the lag correction.
OUTLET_TAU_S = 8.0

Basis = Literal["outlet", "plateau", "default"]
HeaterKind = Literal["gas", "electric"]


@dataclass(frozen=True, slots=True)
class CycleEnergy:
    """What one cycle moved and spent, per loop. ``energy_kj`` is None without a flow."""

    water_l: Mapping[str, float]
    energy_kj: Mapping[str, float] | None
    hot_c: float | None
    cold_c: float | None
    basis: Basis

    @property
    def total_water_l(self) -> float:
        return round(sum(self.water_l.values()), 3)

    @property
    def total_energy_kj(self) -> float | None:
        if self.energy_kj is None:
            return None
        return round(sum(self.energy_kj.values()), 1)


@dataclass(slots=True)
class _Cycle:
    water_l: dict[str, float] = field(default_factory=dict)
    pump_s: float = 0.0
    out_sum: float = 0.0  # ∫ T_out reading dt over the pumping
    out_s: float = 0.0  # seconds of it with a reading
    out_first_c: float | None = None
    out_last_c: float | None = None
    start_c: dict[str, float] = field(default_factory=dict)  # loop reading at the start
    cold_start_c: dict[str, float] = field(default_factory=dict)


class EnergyMeter:
    """Integrates the cycles' flow; learns each loop's plateau and floor from its readings."""

    def __init__(
        self,
        params: Params,
        *,
        plateau_c: Mapping[str, Iterable[float]] | None = None,
        floor_c: Mapping[str, Iterable[float]] | None = None,
        heater: HeaterKind = "gas",
    ) -> None:
        self.params = params
        self.heater = heater
        self._plateau = {
            lp.name: deque((plateau_c or {}).get(lp.name, ()), maxlen=KEEP) for lp in params.loops
        }
        self._floor = {
            lp.name: deque((floor_c or {}).get(lp.name, ()), maxlen=KEEP) for lp in params.loops
        }
        self._cycle = _Cycle()
        self._prev_at: float | None = None
        self._prev_flowing: tuple[str, ...] = ()
        self._prev_out: float | None = None
        self._between_max: dict[str, float] = {}
        self._running = False

    def __repr__(self) -> str:
        return f"EnergyMeter(plateau={self.plateau_c()}, floor={self.floor_c()})"

    @property
    def flow_lpm(self) -> float | None:
        flows = [lp.flow_hint_lpm for lp in self.params.loops if lp.flow_hint_lpm]
        return min(flows) if flows else None

    def plateau_c(self) -> dict[str, float]:
        return {n: max(v) for n, v in self._plateau.items() if v}

    def floor_c(self) -> dict[str, float]:
        return {n: min(v) for n, v in self._floor.items() if v}

    def observe(
        self,
        at_s: float,
        *,
        pump: bool,
        valves: Mapping[str, bool],
        loop_c: Mapping[str, float | None],
        heater_out_c: float | None = None,
        cold_c: Mapping[str, float | None] | None = None,
    ) -> None:
        """One tick: the relays as confirmed, the loop readings, T_out and T_cold if fitted."""
        if self._prev_at is not None and self._prev_flowing:
            dt = max(at_s - self._prev_at, 0.0)
            self._flow_for(dt)
        flowing = self._flowing(pump, valves)
        if flowing and not self._running:
            self._running = True
            self._begin(loop_c, cold_c or {})
        if flowing:
            if heater_out_c is not None:
                if self._cycle.out_first_c is None:
                    self._cycle.out_first_c = heater_out_c
                self._cycle.out_last_c = heater_out_c
        else:
            for name, value in loop_c.items():
                if value is not None:
                    self._between_max[name] = max(self._between_max.get(name, value), value)
        self._prev_at = at_s
        self._prev_flowing = flowing
        self._prev_out = heater_out_c if flowing else None

    def _flowing(self, pump: bool, valves: Mapping[str, bool]) -> tuple[str, ...]:
        if self.params.has_pump and not pump:
            return ()
        return tuple(
            lp.name for lp in self.params.loops if valves.get(lp.name, False) or not lp.has_valve
        )

    def _begin(
        self, loop_c: Mapping[str, float | None], cold_c: Mapping[str, float | None]
    ) -> None:
        c = self._cycle
        for lp in self.params.loops:
            reading = loop_c.get(lp.name)
            if reading is not None:
                c.start_c[lp.name] = reading
            cold = cold_c.get(lp.name)
            if cold is not None:
                c.cold_start_c[lp.name] = cold
            # What the loop read between the last cycle and this one: drawn hot water?
            top = self._between_max.get(lp.name)
            if top is not None and top >= lp.ready_c + PLATEAU_OVER_READY_K:
                self._plateau[lp.name].append(top)
        self._between_max = {}

    def _flow_for(self, dt: float) -> None:
        c = self._cycle
        flow = self.flow_lpm or 0.0
        loops = self._prev_flowing
        c.pump_s += dt
        for name in loops:
            c.water_l[name] = c.water_l.get(name, 0.0) + flow * dt / 60.0 / len(loops)
        if self._prev_out is not None:
            c.out_sum += self._prev_out * dt
            c.out_s += dt

    def finish(self) -> CycleEnergy | None:
        """The cycle that just ended (None if nothing flowed); the meter starts afresh."""
        c, self._cycle = self._cycle, _Cycle()
        self._running = False
        if c.pump_s <= 0 or not c.water_l:
            return None
        cold = self._cold_c(c)
        hot, basis = self._hot_c(c)
        for name, start in c.start_c.items():
            lp = self.params.loop(name)
            if start < lp.ready_c - 2 * self.params.hysteresis_c - 5.0:
                self._floor[name].append(start)  # a cooled pipe: near the room's temperature
        water = {n: round(v, 3) for n, v in c.water_l.items()}
        if self.flow_lpm is None:
            return CycleEnergy(water, None, hot, cold, basis)
        if cold is None:
            return CycleEnergy(water, None, hot, cold, basis)
        heated = 1.0
        if basis != "outlet" and self.heater == "gas":
            unheated_l = GAS_IGNITION_S * self.flow_lpm / 60.0
            heated = max(1.0 - unheated_l / sum(c.water_l.values()), 0.0)
        energy = {
            n: round(v * heated * WATER_KJ_PER_L_K * max(hot - cold, 0.0), 1)
            for n, v in c.water_l.items()
        }
        return CycleEnergy(water, energy, hot, cold, basis)

    def _hot_c(self, c: _Cycle) -> tuple[float, Basis]:
        if c.out_s > 0 and c.out_first_c is not None and c.out_last_c is not None:
            mean = c.out_sum / c.out_s
            return mean + OUTLET_TAU_S * (c.out_last_c - c.out_first_c) / c.pump_s, "outlet"
        plateaus = [self.plateau_c()[n] for n in c.water_l if n in self.plateau_c()]
        if plateaus:
            return max(plateaus), "plateau"
        return HOT_DEFAULT_C, "default"

    def _cold_c(self, c: _Cycle) -> float | None:
        colds = [c.cold_start_c[n] for n in c.water_l if n in c.cold_start_c]
        if colds:
            return min(colds)
        floors = self.floor_c()
        candidates = [floors[n] for n in c.water_l if n in floors]
        candidates += [c.start_c[n] for n in c.water_l if n in c.start_c]
        return min(candidates) if candidates else None
