"""Water heaters: a gas tankless (lumped heat exchanger with ignition) and an electric tank.

docs/physics.md §2.2–2.3 and §3.1: the gas heater is a continuous stirred tank of capacity C_hx,
fed forward ``P = ṁc (T_set − T_in)`` plus ``K_p (T_set − T_h)``, within ``[0, P_max]``;
below ``P_min`` the burner cycles
on/off with a +5 K / −1 K band. It fires only above the activation flow ``Q_on`` after an
ignition delay, and goes out below ``Q_off``. The heat-exchanger update is exact (exponential)
for a step with constant power, so any step length is stable.
"""

from __future__ import annotations

import math
from typing import Literal

from hil.plant.pipes import WATER_CP, WATER_RHO

HX_LOSS_W_PER_K = 2.0  # standby loss of the heat exchanger to its cabinet


class GasHeater:
    """Gas tankless heater: OFF → IGNITION (t_ign) → ON → (Q < Q_off) → OFF."""

    def __init__(
        self,
        *,
        setpoint_c: float,
        ignition_s: float,
        c_hx_kj_per_k: float,
        p_max_kw: float,
        p_min_kw: float,
        q_on_lpm: float,
        q_off_lpm: float,
        efficiency: float,
        ambient_c: float,
        k_p_w_per_k: float = 600.0,
        fail_ignition: bool = False,
        ignition_retry_s: float = 0.0,
    ) -> None:
        self.setpoint_c = setpoint_c
        self.ignition_s = ignition_s
        self.c_hx = c_hx_kj_per_k * 1000.0
        self.p_max = p_max_kw * 1000.0
        self.p_min = p_min_kw * 1000.0
        self.q_on = q_on_lpm
        self.q_off = q_off_lpm
        self.efficiency = efficiency
        self.k_p = k_p_w_per_k
        self.ambient_c = ambient_c
        self.fail_ignition = fail_ignition
        self.ignition_retry_s = ignition_retry_s
        self.state: Literal["off", "ignition", "on"] = "off"
        self.t_h = ambient_c
        self._timer_s = 0.0
        self._lit = True
        self.energy_j = 0.0
        self.ignitions = 0

    @property
    def firing(self) -> bool:
        return self.state == "on" and self._lit

    @property
    def active(self) -> bool:
        """Igniting or burning: the plant must not take long idle steps."""
        return self.state != "off"

    def step(self, flow_lpm: float, t_in_c: float, dt_s: float) -> float:
        """Advance ``dt_s``; return the outlet temperature."""
        if self.state == "off" and flow_lpm >= self.q_on:
            self.state = "ignition"
            self._timer_s = self.ignition_s + self.ignition_retry_s
        elif self.state != "off" and flow_lpm < self.q_off:
            self.state = "off"
        if self.state == "ignition" and not self.fail_ignition:
            self._timer_s -= dt_s
            if self._timer_s <= 0:
                self.state = "on"
                self.ignitions += 1
                self._lit = True
        mdot_c = WATER_RHO * flow_lpm / 60000.0 * WATER_CP
        power = 0.0
        gain = 0.0  # extra W/K of the proportional term, when it is not saturated
        if self.state == "on" and mdot_c > 0:
            feed = mdot_c * (self.setpoint_c - t_in_c)
            if feed >= self.p_min:
                unclipped = feed + self.k_p * (self.setpoint_c - self.t_h)
                if 0.0 <= unclipped <= self.p_max:
                    # Feed-forward plus P control: T_h → T_set with τ = C / (ṁc + K_p).
                    power, gain = feed + self.k_p * self.setpoint_c, self.k_p
                else:
                    power = min(max(unclipped, 0.0), self.p_max)
                self._lit = True
            else:
                # Minimum-power cycling: the burner cannot turn down far enough.
                if self.t_h > self.setpoint_c + 5:
                    self._lit = False
                elif self.t_h < self.setpoint_c - 1:
                    self._lit = True
                power = self.p_min if self._lit else 0.0
        if mdot_c > 0:
            # C dT/dt = power − gain·T + ṁc (T_in − T): exact for a step with these constants.
            rate = mdot_c + gain
            t_eq = (power + mdot_c * t_in_c) / rate
            t_new = t_eq + (self.t_h - t_eq) * math.exp(-rate * dt_s / self.c_hx)
            delivered = power - gain * (self.t_h + t_new) / 2  # heat actually put in
            self.t_h = t_new
            power = delivered
        else:
            k = HX_LOSS_W_PER_K / self.c_hx
            self.t_h = self.ambient_c + (self.t_h - self.ambient_c) * math.exp(-k * dt_s)
        self.energy_j += power * dt_s
        return self.t_h


class ElectricTank:
    """Storage tank: the outlet is at tank temperature; no ignition, no minimum flow."""

    def __init__(self, *, setpoint_c: float, ambient_c: float) -> None:
        self.setpoint_c = setpoint_c
        self.ambient_c = ambient_c
        self.energy_j = 0.0
        self.ignitions = 0
        self.fail_ignition = False
        self._flowing = False

    @property
    def firing(self) -> bool:
        return self._flowing

    @property
    def active(self) -> bool:
        return False

    def step(self, flow_lpm: float, t_in_c: float, dt_s: float) -> float:
        mdot_c = WATER_RHO * flow_lpm / 60000.0 * WATER_CP
        self._flowing = flow_lpm > 0
        self.energy_j += mdot_c * (self.setpoint_c - t_in_c) * dt_s
        return self.setpoint_c
