"""`zcw setup`'s parts: which sensor a hand is warming, and the config it writes."""

from __future__ import annotations

import threading
import time

import pytest

from hil.emulator import Emulator, rom_for
from hil.house import load_house
from hil.plant import Plant
from zcw.app.setup import (
    Answers,
    LoopAnswer,
    check,
    find_bridges,
    render,
    warmed,
    watch_for_warming,
)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ({"a": 20.5, "b": 20.0}, None),  # nothing has risen a kelvin yet
        ({"a": 22.0, "b": 20.1}, "a"),  # a hand on a
        ({"a": 22.0, "b": 21.5}, None),  # both rising: hot water somewhere, not a hand
        ({"b": 23.0}, "b"),
    ],
)
def test_the_warmed_sensor_is_the_one_that_alone_rose(
    now: dict[str, float], expected: str | None
) -> None:
    assert warmed({"a": 20.0, "b": 20.0}, now) == expected


def test_a_hand_on_one_sensor_of_the_emulated_pico_picks_it_out() -> None:
    plant = Plant(load_house("H4"))
    with Emulator(plant) as emu:
        names = list(plant.sensor_names)
        roms = [rom_for(n) for n in names]
        (info,) = find_bridges([emu.pty_path, "/dev/null-not-a-bridge"])
        assert sorted(info.sensors) == sorted(roms)
        target = names[1]

        def hand() -> None:
            time.sleep(2.5)
            emu.force_temp(target, plant.sensor_c(target) + 4.0)

        threading.Thread(target=hand, daemon=True).start()
        assert watch_for_warming(emu.pty_path, roms, timeout_s=15) == rom_for(target)


def test_the_written_config_passes_config_check() -> None:
    answers = Answers(
        port="/dev/zcw-bridge",
        loops=[
            LoopAnswer("far", 1, "28aa000000000001", cold_rom="28aa000000000003"),
            LoopAnswer("near", 2, "28aa000000000002"),
        ],
        flow_lpm=6.5,
        outlet_rom="28aa000000000004",
        timezone="Asia/Shanghai",
    )
    cfg = check(render(answers))
    assert [lc.name for lc in cfg.loops] == ["far", "near"]
    assert cfg.loop("far").cold_sensor == "far_cold" and cfg.heater is not None
    assert cfg.sensors["heater_out"] == "28aa000000000004"
