"""Measure how much faster than real time the plant model runs, per house.

Usage: ``python -m hil.bench_plant_speed``. Prints simulated seconds per wall-clock second
while pumping (the expensive case) and over a day that is mostly idle.
"""

from __future__ import annotations

import time

from hil.house import available_houses, load_house
from hil.plant import Plant


def speed(house: str, *, pumping_s: float, idle_s: float) -> tuple[float, float]:
    plant = Plant(load_house(house))
    loop = plant.loops[0]
    plant.set_valve(loop, True)
    plant.set_pump(True)
    t0 = time.perf_counter()
    while plant.t_s < pumping_s:
        plant.advance(0.25)  # the daemon's control tick
    pumping = pumping_s / (time.perf_counter() - t0)
    plant.set_pump(False)
    plant.set_valve(loop, False)
    plant.advance(5.0)
    t0 = time.perf_counter()
    plant.advance(idle_s)
    idle = idle_s / (time.perf_counter() - t0)
    return pumping, idle


def main() -> None:
    print(f"{'house':6} {'pumping':>12} {'idle':>12}   (× real time)")
    for house in available_houses():
        pumping, idle = speed(house, pumping_s=600.0, idle_s=86400.0)
        print(f"{house:6} {pumping:12,.0f} {idle:12,.0f}")


if __name__ == "__main__":
    main()
