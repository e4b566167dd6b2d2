"""The per-cycle water and energy estimate, its totals in the history, and its accuracy.

Accuracy is judged against the plant model's true heater energy on the reference houses R0
(gas tankless, no outlet sensor) and H3 (electric tank), as ``python -m hil.bench_energy``
does with more seeds (the README gives those figures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.bench_energy import run_house
from zcw.adapters.store import Store
from zcw.app.history import HistoryRecorder
from zcw.domain.energy import HOT_DEFAULT_C, WATER_KJ_PER_L_K, EnergyMeter
from zcw.domain.model import LoopParams, Params


def params(*loops: str, flow: float | None = 6.0, heater_out: bool = False) -> Params:
    return Params(
        loops=tuple(LoopParams(name, ready_c=36.0, flow_hint_lpm=flow) for name in loops),
        has_heater_out=heater_out,
    )


def pump(
    meter: EnergyMeter,
    t0: float,
    seconds: float,
    valves: dict[str, bool],
    *,
    loop_c: float = 20.0,
    out_c: float | None = None,
) -> float:
    t = t0
    while t <= t0 + seconds:
        meter.observe(
            t, pump=True, valves=valves, loop_c=dict.fromkeys(valves, loop_c), heater_out_c=out_c
        )
        t += 0.25
    meter.observe(t, pump=False, valves=dict.fromkeys(valves, False), loop_c={})
    return t


def test_water_is_flow_times_pump_time_shared_by_the_open_valves() -> None:
    meter = EnergyMeter(params("a", "b"), heater="electric")
    pump(meter, 0.0, 30.0, {"a": True, "b": True})
    used = meter.finish()
    assert used is not None
    # 6 L/min for 30.25 s, half each
    assert used.water_l == {
        "a": pytest.approx(1.5125, abs=0.01),
        "b": pytest.approx(1.5125, abs=0.01),
    }
    assert used.basis == "default" and used.hot_c == HOT_DEFAULT_C and used.cold_c == 20.0
    assert used.total_energy_kj == pytest.approx(
        used.total_water_l * WATER_KJ_PER_L_K * (HOT_DEFAULT_C - 20.0), rel=0.01
    )
    assert meter.finish() is None  # nothing flowed since


def test_a_drawn_plateau_and_a_gas_heaters_ignition() -> None:
    meter = EnergyMeter(params("a"), heater="gas")
    t = pump(meter, 0.0, 30.0, {"a": True})
    meter.finish()
    for _ in range(10):  # someone showers: the loop reads 48 °C between cycles
        t += 1.0
        meter.observe(t, pump=False, valves={"a": False}, loop_c={"a": 48.0})
    pump(meter, t + 600.0, 30.0, {"a": True})
    used = meter.finish()
    assert used is not None and used.basis == "plateau" and used.hot_c == 48.0
    heated = used.total_water_l - 3.0 * 6.0 / 60.0  # 3 s of ignition pass unheated
    assert used.total_energy_kj == pytest.approx(heated * WATER_KJ_PER_L_K * 28.0, rel=0.01)


def test_outlet_sensor_with_its_lag_correction() -> None:
    meter = EnergyMeter(params("a", heater_out=True))
    pump(meter, 0.0, 40.0, {"a": True}, out_c=45.0)
    used = meter.finish()
    assert used is not None and used.basis == "outlet" and used.hot_c == pytest.approx(45.0)


def test_without_a_flow_there_is_no_figure() -> None:
    meter = EnergyMeter(params("a", flow=None))
    pump(meter, 0.0, 10.0, {"a": True})
    used = meter.finish()
    assert used is not None and used.energy_kj is None


def test_totals_come_from_the_store_and_survive_a_restart(tmp_path: Path) -> None:
    from zcw.adapters.store import CycleRecord

    now = [1_800_000_000.0]
    with Store(tmp_path / "h.db") as store:
        store.add_cycle(
            CycleRecord(
                now[0] - 3600,
                now[0] - 3570,
                "mqtt",
                ("a",),
                20.0,
                3.0,
                400.0,
                "hot",
                per_loop=(("a", 3.0, 400.0),),
            )
        )
        recorder = HistoryRecorder(store, wall_clock=lambda: now[0], params=params("a"))
        assert recorder.totals() is None  # not read yet
        recorder.restore(lambda _learned: None)
        totals = recorder.totals()
        assert totals is not None
        assert totals.as_dict()["energy_kwh"] == round(400.0 / 3600, 3)
        assert totals.as_dict()["loops"]["a"]["water_l"] == 3.0
        assert totals.cycles_today == 1
        now[0] += 86400.0  # the next day: no cycle yet, the totals stay
        later = recorder.totals()
        assert later is not None and later.cycles_today == 0
        assert later.as_dict()["energy_kwh"] == totals.as_dict()["energy_kwh"]


@pytest.mark.parametrize("house", ["R0", "H3"])
def test_energy_estimate_is_within_15_percent_of_the_plants_truth(house: str) -> None:
    pairs = run_house(house, range(2))
    estimate = sum(e for e, _ in pairs)
    truth = sum(t for _, t in pairs)
    assert len(pairs) >= 10
    assert abs(estimate / truth - 1) < 0.15, (estimate, truth)
