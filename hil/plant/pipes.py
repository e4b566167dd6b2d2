"""Pipe catalogue and one pipe segment: water cells, wall layers, implicit radial exchange.

docs/physics.md §3: 1-D finite volume. Water moves by exact volume shifts of whole cells: the
front is quantised to one cell, and the only mixing is that of the parcels filling a cell
(within one step's volume). Between segments the flow passes on continuously. Heat moves
radially water ↔ wall layers ↔ ambient by backward Euler, a tridiagonal (Thomas) solve per
cell whose elimination factors are computed once per (flow state, dt) and reused for every
cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WATER_RHO = 992.0  # kg/m³ at 40 °C
WATER_CP = 4180.0  # J/(kg·K)
WATER_K = 0.63  # W/(m·K)
WATER_NU = 0.66e-6  # m²/s at 40 °C
WATER_PR = 4.3


# Exchange factors kept per segment, by (flow, step); the common ones are few.
FACTORS_KEPT = 64


@dataclass(frozen=True, slots=True)
class PipeType:
    """A pipe from docs/physics.md §1.1: inner/outer diameter, wall material, bare U′."""

    name: str
    id_mm: float
    od_mm: float
    k_w_per_mk: float
    rho_kg_m3: float
    cp_j_per_kgk: float
    u_bare_w_per_mk: float
    wall_layers: int


# U′ (bare, 50 °C water in 20 °C air) from docs/physics.md §1.2; scaled by insulation below.
PIPES: dict[str, PipeType] = {
    p.name: p
    for p in (
        PipeType("ppr_20x2.0", 16.0, 20.0, 0.22, 900, 1900, 0.62, 2),
        PipeType("ppr_20x2.3", 15.4, 20.0, 0.22, 900, 1900, 0.61, 2),
        PipeType("ppr_20x2.8", 14.4, 20.0, 0.22, 900, 1900, 0.61, 2),
        PipeType("ppr_20x3.4", 13.2, 20.0, 0.22, 900, 1900, 0.60, 2),
        PipeType("ppr_25x3.5", 18.0, 25.0, 0.22, 900, 1900, 0.70, 2),
        PipeType("ppr_25x4.2", 16.6, 25.0, 0.22, 900, 1900, 0.69, 2),
        PipeType("pex_1/2", 12.1, 15.9, 0.41, 935, 2300, 0.56, 2),
        PipeType("pex_3/4", 17.0, 22.2, 0.41, 935, 2300, 0.62, 2),
        PipeType("cu_1/2_l", 13.8, 15.9, 390.0, 8930, 385, 0.49, 1),
        PipeType("cu_1/2_m", 14.5, 15.9, 390.0, 8930, 385, 0.49, 1),
        PipeType("cu_3/4_l", 19.9, 22.2, 390.0, 8930, 385, 0.63, 1),
        PipeType("cu_3/4_m", 20.6, 22.2, 390.0, 8930, 385, 0.63, 1),
    )
}

INSULATION_K = 0.038


def inner_h(flow_lpm: float, id_m: float) -> float:
    """Inside film coefficient: Gnielinski when turbulent, Nu = 3.66 otherwise."""
    if flow_lpm <= 0:
        return 3.66 * WATER_K / id_m
    u = flow_lpm / 60000.0 / (math.pi * id_m**2 / 4)
    re = u * id_m / WATER_NU
    if re <= 2300:
        return 3.66 * WATER_K / id_m
    f: float = (0.79 * math.log(re) - 1.64) ** -2
    nu: float = (
        (f / 8) * (re - 1000) * WATER_PR / (1 + 12.7 * math.sqrt(f / 8) * (WATER_PR ** (2 / 3) - 1))
    )
    return nu * WATER_K / id_m


class Segment:
    """One pipe run: ``n`` cells of water plus ``n_w`` wall layers each, all in flat lists."""

    def __init__(
        self,
        name: str,
        pipe: PipeType,
        length_m: float,
        *,
        ambient_c: float,
        start_c: float,
        dx_m: float = 0.5,
        insulation_mm: float = 0.0,
        u_w_per_mk: float | None = None,
    ) -> None:
        self.name = name
        self.pipe = pipe
        self.length_m = length_m
        self.n = max(1, round(length_m / dx_m))
        self.dx_m = length_m / self.n
        self.ambient_c = ambient_c
        self.n_w = pipe.wall_layers
        ri, ro = pipe.id_mm / 2000.0, pipe.od_mm / 2000.0
        self.ri_m, self.ro_m = ri, ro
        area = math.pi * ri * ri
        self.cell_volume_l = area * self.dx_m * 1000.0
        self.volume_l = self.cell_volume_l * self.n
        self.c_water = WATER_RHO * WATER_CP * area * self.dx_m  # J/K per cell
        # Equal-thickness wall annuli with nodes at their centres.
        edges = [ri + (ro - ri) * j / self.n_w for j in range(self.n_w + 1)]
        self.r_nodes = [(edges[j] + edges[j + 1]) / 2 for j in range(self.n_w)]
        self.c_wall = [
            pipe.rho_kg_m3
            * pipe.cp_j_per_kgk
            * math.pi
            * (edges[j + 1] ** 2 - edges[j] ** 2)
            * self.dx_m
            for j in range(self.n_w)
        ]
        k = pipe.k_w_per_mk
        self.g_wall = [
            self.dx_m * 2 * math.pi * k / math.log(self.r_nodes[j + 1] / self.r_nodes[j])
            for j in range(self.n_w - 1)
        ]
        r_last = math.log(ro / self.r_nodes[-1]) / (2 * math.pi * k)
        r_ins = (
            math.log((ro + insulation_mm / 1000) / ro) / (2 * math.pi * INSULATION_K)
            if insulation_mm
            else 0.0
        )
        # The outer coefficient is set so the stagnant pipe loses heat at the documented U′
        # (docs/physics.md §1.2), which pins the standby cool-down to the reference figures.
        u = u_w_per_mk if u_w_per_mk is not None else pipe.u_bare_w_per_mk
        r_inside = 1 / (inner_h(0.0, 2 * ri) * math.pi * 2 * ri) + math.log(
            self.r_nodes[0] / ri
        ) / (2 * math.pi * k)
        r_wall_total = r_inside + sum(1 / (g / self.dx_m) for g in self.g_wall) + r_last
        r_out = max(1.0 / u - r_wall_total - r_ins, 0.05)
        self.r_node_to_surface = r_last  # per metre
        self.r_node_to_ambient = r_last + r_ins + r_out
        self.g_amb = self.dx_m / self.r_node_to_ambient
        self._pending_tau_s = self.c_water * r_inside / self.dx_m
        self.water = [start_c] * self.n
        self.wall = [[start_c] * self.n for _ in range(self.n_w)]
        self._acc_l = 0.0
        self._acc_heat = 0.0  # L·°C of the parcels filling the next cell
        self.ends_at_valve = False  # set by the plant on each tap's last hot segment
        self._factors: dict[
            tuple[float, float], tuple[list[float], list[float], list[float], list[float]]
        ] = {}

    def __repr__(self) -> str:
        return f"Segment({self.name}, {self.pipe.name}, {self.length_m} m, {self.volume_l:.2f} L)"

    # -- advection --------------------------------------------------------------------

    def push(self, volume_l: float, temp_c: float) -> list[tuple[float, float]]:
        """Push ``volume_l`` in at ``temp_c``; return the (volume, temp) parcels pushed out.

        A segment that ends at a valve (``ends_at_valve``) lets its last cell out whole, once
        it is fully displaced: that cell is the water in the valve body, which a check sees
        before any of it passes the seat. Every other segment passes its outflow on step by
        step, as much as came in. Emitting whole cells there made the flow lumpy where a wide
        pipe feeds a narrow one: a 25 mm cell arriving at once shifted two 20 mm cells, and
        the valve let out a cell whose temperature no check, the oracle's included, had seen.
        Incoming parcels mix into the cell they fill, weighted by volume.
        """
        out: list[tuple[float, float]] = []
        cell = self.cell_volume_l
        remaining = volume_l
        while remaining > 1e-12:
            take = min(cell - self._acc_l, remaining)
            self._acc_l += take
            self._acc_heat += take * temp_c
            remaining -= take
            if not self.ends_at_valve:
                out.append((take, self.water[-1]))
            if self._acc_l >= cell - 1e-12:
                if self.ends_at_valve:
                    out.append((cell, self.water[-1]))
                # Shift every water cell by one; the walls stay where they are.
                self.water.pop()
                self.water.insert(0, self._acc_heat / self._acc_l)
                self._acc_l = self._acc_heat = 0.0
        return out

    # -- radial exchange --------------------------------------------------------------

    def _prepare(
        self, flow_lpm: float, dt_s: float
    ) -> tuple[list[float], list[float], list[float], list[float]]:
        key = (round(flow_lpm, 2), dt_s)
        got = self._factors.get(key)
        if got is not None:
            return got
        h_i = inner_h(flow_lpm, 2 * self.ri_m)
        k = self.pipe.k_w_per_mk
        r_in = 1 / (h_i * math.pi * 2 * self.ri_m) + math.log(self.r_nodes[0] / self.ri_m) / (
            2 * math.pi * k
        )
        g_in = self.dx_m / r_in
        # Unknowns: [water, wall_1 … wall_n]; conductances between neighbours.
        caps = [self.c_water, *self.c_wall]
        links = [g_in, *self.g_wall]  # between unknown i and i+1
        m = len(caps)
        diag = []
        lower = [0.0] * m
        upper = [0.0] * m
        for i in range(m):
            d = caps[i] / dt_s
            if i > 0:
                d += links[i - 1]
                lower[i] = -links[i - 1]
            if i < m - 1:
                d += links[i]
                upper[i] = -links[i]
            else:
                d += self.g_amb
            diag.append(d)
        # Thomas forward-elimination factors (depend only on coefficients).
        cp = [0.0] * m
        denom = [0.0] * m
        cp[0] = upper[0] / diag[0]
        denom[0] = diag[0]
        for i in range(1, m):
            denom[i] = diag[i] - lower[i] * cp[i - 1]
            cp[i] = upper[i] / denom[i] if i < m - 1 else 0.0
        scale = [c / dt_s for c in caps]
        got = (cp, denom, lower, scale)
        if len(self._factors) >= FACTORS_KEPT:
            # Keyed by the exact step: an emulator stepping by the wall clock (or by a sum
            # of floats) makes a new key nearly every step, and the cache grew for ever.
            self._factors.clear()
        self._factors[key] = got
        return got

    def exchange(self, flow_lpm: float, dt_s: float) -> None:
        self._exchange(flow_lpm, dt_s)
        if self._acc_l > 0:
            # The water filling the next cell sits in the first cell's stretch of pipe: it
            # settles towards that cell at the stagnant water-wall rate (minutes), or a cycle's
            # heat would wait in it through hours of standby. In flow it waits < 1 s. Its heat
            # goes to the wall and the air, as the first cell's does; handed to the first cell
            # instead, it gave that cell 1.5 cells of water against one cell of wall, and a
            # warm slug after standby that no real pipe has. (At most half a cell's heat per
            # standby, ≈ 1 % of a cycle's, is not accounted for.)
            mean = self._acc_heat / self._acc_l
            settle = 1.0 - math.exp(-dt_s / self._pending_tau_s)
            self._acc_heat = self._acc_l * (mean + (self.water[0] - mean) * settle)

    def _exchange(self, flow_lpm: float, dt_s: float) -> None:
        cp, denom, lower, scale = self._prepare(flow_lpm, dt_s)
        m = self.n_w + 1
        amb_term = self.g_amb * self.ambient_c
        water, wall = self.water, self.wall
        if m == 2:  # copper: one wall layer, unrolled for speed
            cp0, d0, d1, l1, s0, s1 = cp[0], denom[0], denom[1], lower[1], scale[0], scale[1]
            w0 = wall[0]
            for i in range(self.n):
                dp0 = s0 * water[i] / d0
                x1 = (s1 * w0[i] + amb_term - l1 * dp0) / d1
                w0[i] = x1
                water[i] = dp0 - cp0 * x1
            return
        if m == 3:  # plastic: two wall layers, unrolled for speed
            cp0, cp1 = cp[0], cp[1]
            d0, d1, d2 = denom
            l1, l2 = lower[1], lower[2]
            s0, s1, s2 = scale
            w0, w1 = wall[0], wall[1]
            for i in range(self.n):
                dp0 = s0 * water[i] / d0
                dp1 = (s1 * w0[i] - l1 * dp0) / d1
                x2 = (s2 * w1[i] + amb_term - l2 * dp1) / d2
                x1 = dp1 - cp1 * x2
                w1[i] = x2
                w0[i] = x1
                water[i] = dp0 - cp0 * x1
            return
        raise ValueError(f"{m - 1} wall layers are not supported (1 or 2)")

    def surface_c(self, cell: int) -> float:
        """Outer wall surface temperature of a cell (where a clamp-on sensor sits)."""
        t_node = self.wall[-1][cell]
        ratio = self.r_node_to_surface / self.r_node_to_ambient
        return t_node - (t_node - self.ambient_c) * ratio

    def energy_j(self, ref_c: float) -> float:
        e = sum(self.c_water * (t - ref_c) for t in self.water)
        # The parcel filling the next cell is in the pipe too; where the outflow follows the
        # inflow, as much of the last cell has already left.
        per_l = self.c_water / self.cell_volume_l
        e += per_l * (self._acc_heat - self._acc_l * ref_c)
        if not self.ends_at_valve:
            e -= per_l * self._acc_l * (self.water[-1] - ref_c)
        for j in range(self.n_w):
            e += sum(self.c_wall[j] * (t - ref_c) for t in self.wall[j])
        return e
