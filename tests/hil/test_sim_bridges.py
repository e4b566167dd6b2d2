"""Both simulated bridges hand readings on as a real bridge does: the moment a conversion
ends, carrying the value measured when it began. Any later, or any older value, is a sensor
lag no real Pico has, and the bench would judge the controller against it."""

from __future__ import annotations

from itertools import pairwise

import pytest

from hil.emulator.emulator import PlantHal
from hil.house import load_house
from hil.plant import Plant
from hil.sim_hardware import SimHardware
from zcw.app.clock import SteppedClock

TICK_S = 0.25
CONVERSION_S = 0.75


def _heating_plant() -> Plant:
    plant = Plant(load_house("R0"))
    plant.set_valve("bathroom", True)
    plant.set_pump(True)
    return plant


def test_sim_hardware_passes_each_conversion_on_as_it_ends() -> None:
    plant = _heating_plant()
    clock = SteppedClock()
    hw = SimHardware(plant, clock, pump_channel=None, valve_channels={}, sensors=["bathroom"])
    seen: list[float] = []
    for _ in range(int(60 / TICK_S)):
        clock.advance(TICK_S)
        reading = hw.poll().readings["bathroom"]
        if not seen or reading.at_s != seen[-1]:
            seen.append(reading.at_s)
            # Fresh the tick its conversion ended: no more than one tick past it.
            assert clock.now_s() - reading.at_s <= CONVERSION_S + TICK_S + 1e-9
        assert reading.value_c == plant.sensor_c("bathroom")
    # (The first is the reading from before the clock started.)
    gaps = {round(b - a, 2) for a, b in pairwise(seen[1:])}
    assert gaps == {1.0}  # every conversion, none skipped, none twice


def test_emulator_hal_reads_the_value_latched_at_convert_t() -> None:
    plant = _heating_plant()
    plant.advance(30.0)  # the front has reached the valve: the sensor climbs fast
    hal = PlantHal(plant, fd=-1)
    (rom,) = [r for r, name in hal.by_rom.items() if name == "bathroom"]
    hal.start_conversion()
    latched = plant.sensor_convert_c("bathroom")
    plant.advance(CONVERSION_S)
    assert plant.sensor_convert_c("bathroom") > latched + 0.1  # it did move on meanwhile
    pad = hal.read_scratchpad(rom)
    assert pad is not None
    raw = int.from_bytes(pad[:2], "little", signed=True)
    assert raw / 16 == pytest.approx(latched, abs=1 / 32)
