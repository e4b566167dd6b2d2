"""The plant: heater, pipe network, pump, valves, taps and sensors of one simulated house.

Network (docs/physics.md §3.1, §6)::

    heater ─► trunk_hot ─┬─► tap.hot ─► [valve] ─► tap.cold ─┬─► trunk_cold ─► heater inlet
                         └─► tap.hot ─► [valve] ─► tap.cold ─┘
                                          └─► user draw (open circuit), or the drain

Flow is the house's pump flow while the pump runs and a path is open (crossover: a valve;
return_line: a valve or a valve-less tap), shared equally by the open taps. Every step:
heater, then advection (exact whole-cell shifts), then implicit radial exchange, then sensors.
"""

from __future__ import annotations

import math

from hil.house import House, PipeRun, SensorSpec
from hil.plant.heater import ElectricTank, GasHeater
from hil.plant.pipes import PIPES, Segment
from hil.plant.sensor import Ds18b20

HOT_C = 38.0  # docs/physics.md §7: water ≥ 38 °C pushed into the cold line is "hot into cold"
IDLE_DT_S = 5.0  # no flow anywhere: radial exchange only, implicit, so a long step is fine


class Plant:
    """See the module docstring. All times are simulated seconds."""

    def __init__(self, house: House, *, dt_s: float = 0.5, dx_m: float = 0.5) -> None:
        self.house = house
        self.dt_s = dt_s
        self.t_s = 0.0
        amb, mains = house.ambient_c, house.mains_c

        def seg(name: str, run: PipeRun, start_c: float) -> Segment:
            u = run.u_w_per_mk if run.u_w_per_mk is not None else None
            pipe = PIPES[run.pipe]
            base_u = u if u is not None else pipe.u_bare_w_per_mk
            return Segment(
                name,
                pipe,
                run.length_m,
                ambient_c=amb,
                start_c=start_c,
                dx_m=dx_m,
                insulation_mm=run.insulation_mm,
                u_w_per_mk=base_u * house.u_scale,
            )

        # Hot and return lines start at ambient, cold lines at mains (docs/physics.md §6).
        cold_start = amb if house.topology == "return_line" else mains
        self.trunk_hot = [seg(f"trunk_hot{i}", r, amb) for i, r in enumerate(house.trunk_hot)]
        self.trunk_cold = [
            seg(f"trunk_cold{i}", r, cold_start) for i, r in enumerate(house.trunk_cold)
        ]
        self.hot = {
            t.name: [seg(f"{t.name}.hot{i}", r, amb) for i, r in enumerate(t.hot)]
            for t in house.taps
        }
        self.cold = {
            t.name: [seg(f"{t.name}.cold{i}", r, cold_start) for i, r in enumerate(t.cold)]
            for t in house.taps
        }
        self._segments = [*self.trunk_hot, *self.trunk_cold]
        for t in house.taps:
            self._segments += self.hot[t.name] + self.cold[t.name]
            self._last_hot(t.name).ends_at_valve = True

        h = house.heater
        self.heater: GasHeater | ElectricTank
        if h.kind == "gas":
            self.heater = GasHeater(
                setpoint_c=h.setpoint_c,
                ignition_s=h.ignition_s,
                c_hx_kj_per_k=h.c_hx_kj_per_k,
                p_max_kw=h.p_max_kw,
                p_min_kw=h.p_min_kw,
                q_on_lpm=h.q_on_lpm,
                q_off_lpm=h.q_off_lpm,
                efficiency=h.efficiency,
                ambient_c=amb,
                fail_ignition=h.fail_ignition,
                ignition_retry_s=h.ignition_retry_s,
            )
        else:
            self.heater = ElectricTank(setpoint_c=h.setpoint_c, ambient_c=amb)
        self._heater_out_c = self.heater.step(0.0, mains, 0.0)
        self._return_c = cold_start

        self._sensors: dict[str, tuple[Ds18b20, SensorSpec, str]] = {}
        for t in house.taps:
            self._add_sensor(t.name, t.sensor, t.name, amb)
            if t.cold_sensor is not None:
                self._add_sensor(f"{t.name}.cold", t.cold_sensor, t.name, cold_start)
        if house.outlet_sensor is not None:
            self._add_sensor("heater_out", house.outlet_sensor, "", amb)

        self.pump_on = False
        self.pump_energy_j = 0.0  # heat the heater put into pump-driven flow, all run long
        self.valves = dict.fromkeys(self.loops, False)
        self.draws = dict.fromkeys(self.loops, 0.0)
        self._pump_flow_lpm = 0.0  # spins up and down with pump_spinup_s
        self._tap_flow: dict[str, float] = dict.fromkeys(self.loops, 0.0)
        self.reset_metrics()

    def _add_sensor(self, name: str, spec: SensorSpec, tap: str, start_c: float) -> None:
        sensor = Ds18b20(
            tau_s=spec.tau_s,
            kappa=spec.kappa,
            offset_c=spec.offset_c,
            ambient_c=self.house.ambient_c,
            start_c=start_c,
        )
        self._sensors[name] = (sensor, spec, tap)

    def __repr__(self) -> str:
        return (
            f"Plant({self.house.name}, t={self.t_s:.1f}s, pump={self.pump_on}, "
            f"valves={self.valves}, flow={self.flow_lpm:.2f} L/min)"
        )

    # ------------------------------------------------------------------ inputs

    @property
    def loops(self) -> tuple[str, ...]:
        return self.house.tap_names

    @property
    def sensor_names(self) -> tuple[str, ...]:
        return tuple(self._sensors)

    def set_pump(self, on: bool) -> None:
        self.pump_on = on

    def set_valve(self, loop: str, open_: bool) -> None:
        if loop not in self.valves:
            raise KeyError(f"house {self.house.name} has no tap {loop!r} (taps: {self.loops})")
        self.valves[loop] = open_

    def set_draw(self, loop: str, flow_lpm: float) -> None:
        if loop not in self.draws:
            raise KeyError(f"house {self.house.name} has no tap {loop!r}")
        self.draws[loop] = max(0.0, flow_lpm)

    def fail_ignition(self, fail: bool = True) -> None:
        """Make the gas heater never light (an H4 failure case)."""
        self.heater.fail_ignition = fail

    # ------------------------------------------------------------------ outputs

    def sensor_c(self, name: str) -> float:
        return self._sensors[name][0].reading_c

    def sensor_measured_at_s(self, name: str) -> float:
        """Plant time at which the conversion behind :meth:`sensor_c` started."""
        return self._sensors[name][0].measured_at_s

    def sensor_convert_c(self, name: str) -> float:
        """What a conversion of sensor ``name`` started now will read (Ds18b20.convert_now)."""
        return self._sensors[name][0].convert_now()

    def water_at_valve_c(self, loop: str) -> float:
        return self._last_hot(loop).water[-1]

    def cold_line_entry_c(self, loop: str) -> float:
        return self._last_hot(loop).water[-1]

    @property
    def heater_out_c(self) -> float:
        return self._heater_out_c

    @property
    def heater_firing(self) -> bool:
        return self.heater.firing

    @property
    def heater_energy_kj(self) -> float:
        return (self.heater.energy_j - self._energy0_j) / 1000.0

    @property
    def flow_lpm(self) -> float:
        """Current pump-driven loop flow (0 when the pump is off or every path is shut)."""
        return sum(self._tap_flow.values())

    def reset_metrics(self) -> None:
        self.pumped_volume_l = 0.0
        self.hot_into_cold_l = 0.0
        self.cold_line_peak_c = -math.inf
        self.ignitions_at_reset = self.heater.ignitions
        self._energy0_j = self.heater.energy_j

    # ------------------------------------------------------------------ dynamics

    def _last_hot(self, loop: str) -> Segment:
        segs = self.hot[loop] or self.trunk_hot
        return segs[-1]

    def _target_flows(self) -> dict[str, float]:
        house = self.house
        if house.topology == "drain":
            open_taps = [t.name for t in house.taps if self.valves[t.name]]
            return {n: (house.drain_flow_lpm if n in open_taps else 0.0) for n in self.loops}
        if not self.pump_on:
            return dict.fromkeys(self.loops, 0.0)
        open_taps = [
            t.name
            for t in house.taps
            if self.valves[t.name] or (house.topology == "return_line" and not t.valve)
        ]
        if not open_taps:
            return dict.fromkeys(self.loops, 0.0)  # deadhead: no flow
        share = self._pump_flow_lpm / len(open_taps)
        return {n: (share if n in open_taps else 0.0) for n in self.loops}

    def advance(self, duration_s: float) -> None:
        end = self.t_s + duration_s
        while self.t_s < end - 1e-9:
            idle = (
                not self.pump_on
                and self._pump_flow_lpm == 0.0
                and not any(self.draws.values())
                and not (self.house.topology == "drain" and any(self.valves.values()))
                and not self.heater.active
            )
            dt = min(IDLE_DT_S if idle else self.dt_s, end - self.t_s)
            self._step(dt)

    def _step(self, dt: float) -> None:
        house = self.house
        # Pump spin-up/down: a first-order approach to the nominal flow.
        target = house.pump_flow_lpm if self.pump_on else 0.0
        k = 1.0 - math.exp(-dt / max(house.pump_spinup_s, 1e-3))
        self._pump_flow_lpm += (target - self._pump_flow_lpm) * k
        if not self.pump_on and self._pump_flow_lpm < 0.05:
            self._pump_flow_lpm = 0.0
        self._tap_flow = self._target_flows()
        loop_q = sum(self._tap_flow.values())
        draw_q = sum(self.draws.values())
        total_q = loop_q + draw_q

        # Heater inlet: return water for the loop flow, mains for user draws and the drain.
        from_mains = draw_q + (loop_q if house.topology == "drain" else 0.0)
        returned = total_q - from_mains
        t_in = (
            (returned * self._return_c + from_mains * house.mains_c) / total_q
            if total_q > 0
            else house.mains_c
        )
        before_j = self.heater.energy_j
        self._heater_out_c = self.heater.step(total_q, t_in, dt)
        if loop_q > 0:
            # The share of the heat that went into the pump's flow (not a user's draw).
            self.pump_energy_j += (self.heater.energy_j - before_j) * loop_q / total_q

        # Advection through the trunk, then split to the taps by their flows.
        vol = total_q * dt / 60.0
        cells = [(vol, self._heater_out_c)] if vol > 0 else []
        for segment in self.trunk_hot:
            cells = _push_all(segment, cells)
        returned_cells: list[tuple[float, float]] = []
        for tap in house.taps:
            tq = self._tap_flow[tap.name] + self.draws[tap.name]
            share = tq / total_q if total_q > 0 else 0.0
            branch = [(v * share, t) for v, t in cells] if share > 0 else []
            for segment in self.hot[tap.name]:
                branch = _push_all(segment, branch)
            loop_share = self._tap_flow[tap.name] / tq if tq > 0 else 0.0
            to_cold = [(v * loop_share, t) for v, t in branch if loop_share > 0]
            for v, t in to_cold:
                if t >= HOT_C:
                    self.hot_into_cold_l += v
                self.cold_line_peak_c = max(self.cold_line_peak_c, t)
            if house.topology == "drain":
                continue  # to the drain
            for segment in self.cold[tap.name]:
                to_cold = _push_all(segment, to_cold)
            returned_cells += to_cold
        for segment in self.trunk_cold:
            returned_cells = _push_all(segment, returned_cells)
        out_vol = sum(v for v, _ in returned_cells)
        if out_vol > 0:
            self._return_c = sum(v * t for v, t in returned_cells) / out_vol

        # Radial exchange, per segment at its own flow.
        for segment in self.trunk_hot:
            segment.exchange(total_q, dt)
        for segment in self.trunk_cold:
            segment.exchange(loop_q if house.topology != "drain" else 0.0, dt)
        for tap in house.taps:
            tq = self._tap_flow[tap.name] + self.draws[tap.name]
            for segment in self.hot[tap.name]:
                segment.exchange(tq, dt)
            cq = self._tap_flow[tap.name] if house.topology != "drain" else 0.0
            for segment in self.cold[tap.name]:
                segment.exchange(cq, dt)

        self.pumped_volume_l += loop_q * dt / 60.0
        self.t_s += dt
        for name, (sensor, spec, tap_name) in self._sensors.items():
            sensor.step(self._local_c(name, spec, tap_name), self.t_s, dt)

    def _local_c(self, name: str, spec: SensorSpec, tap: str) -> float:
        if name == "heater_out":
            return self._heater_out_c
        if name.endswith(".cold"):
            segs = self.cold[tap] or self.trunk_cold
            return segs[0].water[0] if segs else self._last_hot(tap).water[-1]
        last = self._last_hot(tap)
        if spec.mount == "clamp":
            return last.surface_c(last.n - 1)
        # On a metal valve body or immersed: the sensor sees the water itself.
        return last.water[-1]

    def energy_in_pipes_kj(self, ref_c: float | None = None) -> float:
        ref = self.house.ambient_c if ref_c is None else ref_c
        return sum(s.energy_j(ref) for s in self._segments) / 1000.0


def _push_all(segment: Segment, cells: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for vol, temp in cells:
        out += segment.push(vol, temp)
    return out
