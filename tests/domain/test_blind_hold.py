"""A loop whose sensor cannot tell its water: automatic starts wait until its pipe has cooled
after a cycle or a draw the heater outlet showed; a person asking never waits."""

from __future__ import annotations

import pytest

from zcw.domain.cycle.blind_hold import BLIND_COOL_S, OUTLET_WINDOW_S
from zcw.domain.learning import Learned
from zcw.domain.model import HEATER_OUT, LoopParams, Params, Source
from zcw.testing.rig import Rig

FAR = LoopParams(name="far", ready_c=36.0, max_run_s=180.0, sensor_tau_s=0.0)
FITTED = Learned(tau_s=8.0, tau_fits=3, tau_weight=1.0)


def rig(learned: Learned | None = None) -> Rig:
    r = Rig(Params(loops=(FAR,), min_rest_s=30.0, has_heater_out=True))
    r.set_loop("far", 15.0)
    r.temps[HEATER_OUT] = 15.0
    if learned is not None:
        r.controller.restore_learned({"far": learned})
    r.run(2.0)
    return r


def answer(r: Rig, source: Source) -> tuple[str, str | None]:
    (event,) = [e for e in r.request("start", "far", source=source).events if e.loop == "far"]
    return event.kind, event.reason


def cycle(r: Rig) -> None:
    """A person's cycle, stopped after 20 s; then the rest between cycles."""
    assert answer(r, Source.BUTTON) == ("cycle_started", None)
    r.run(20.0)
    r.request("stop")
    r.run(40.0)


@pytest.mark.parametrize("source", [Source.SCHEDULE, Source.LEARNED])
def test_after_a_cycle_an_automatic_start_waits_for_the_pipe_to_cool(source: Source) -> None:
    r = rig()
    cycle(r)
    d = r.request("start", "far", source=source)
    (event,) = d.events
    assert (event.kind, event.reason) == ("rejected", "warm_pipe")
    assert 0 < float(event.data["retry_in_s"] or 0) <= BLIND_COOL_S
    assert "zcw commission far" in str(event.data["message"])
    r.run(BLIND_COOL_S - 60.0)
    assert answer(r, source) == ("rejected", "warm_pipe")
    r.run(60.0)
    assert answer(r, source) == ("cycle_started", None)


@pytest.mark.parametrize("source", [Source.BUTTON, Source.MQTT, Source.MIHOME, Source.TAPFLICK])
def test_a_person_asking_never_waits_for_it(source: Source) -> None:
    r = rig()
    cycle(r)
    assert answer(r, source) == ("cycle_started", None)


def test_a_draw_the_outlet_shows_holds_automatic_starts_too() -> None:
    r = rig()
    for step in range(10):  # a tap opened somewhere: the burner lit, the pump is off
        r.temps[HEATER_OUT] = 16.0 + step
        r.run(1.0)
    assert answer(r, Source.SCHEDULE) == ("rejected", "warm_pipe")
    r.run(BLIND_COOL_S)  # from the last reading the rise was still in view
    assert answer(r, Source.SCHEDULE) == ("rejected", "warm_pipe")
    r.run(OUTLET_WINDOW_S)
    assert answer(r, Source.SCHEDULE) == ("cycle_started", None)


def test_the_pumps_own_flow_through_the_outlet_is_no_draw() -> None:
    r = rig(FITTED)  # so its own cycle holds nothing: only the outlet could
    assert answer(r, Source.BUTTON) == ("cycle_started", None)
    r.run(5.0)
    for step in range(15):  # the burner lights for the pump's flow
        r.temps[HEATER_OUT] = 16.0 + 2 * step
        r.run(1.0)
    r.request("stop")
    r.run(5.0)
    r.temps[HEATER_OUT] = 43.0  # and cools after it
    r.run(40.0)
    r.controller.restore_learned({"far": Learned()})  # as if its lag were not measured
    assert answer(r, Source.SCHEDULE) == ("rejected", "warm_pipe")  # its cycle, not a draw
    r.run(BLIND_COOL_S - 20.0)
    assert answer(r, Source.SCHEDULE) == ("cycle_started", None)


def test_a_sensor_whose_lag_zcw_has_measured_is_not_held() -> None:
    r = rig(FITTED)
    cycle(r)
    assert answer(r, Source.SCHEDULE) == ("cycle_started", None)


def test_a_loop_that_stops_on_its_first_warming_is_held_though_its_lag_was_fitted() -> None:
    r = rig(Learned(tau_s=8.0, tau_fits=3, tau_weight=1.0, stops_on_rise=True))
    cycle(r)
    assert answer(r, Source.LEARNED) == ("rejected", "warm_pipe")
