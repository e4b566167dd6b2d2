"""What the bridge does by itself reaches the core, and the core never argues with it.

A local close, the dead-man, the 600 s cap and a refused binding each become a fault the user
sees (status, ``zcw/event``, the dashboard) and end what they ended. A cold-line or outlet
sensor that fails is reported too, and a loop that relies on its cold-line sensor neither
starts nor runs blind.
"""

from __future__ import annotations

from zcw.domain.model import HEATER_OUT, LoopParams, Params
from zcw.testing.rig import Rig

BATH = LoopParams(name="bathroom", sensor_tau_s=0.0)
KITCHEN = LoopParams(name="kitchen", sensor_tau_s=0.0)


def rig(*loops: LoopParams, **kw: object) -> Rig:
    params = Params(loops=loops or (BATH,), min_rest_s=0.0, **kw)  # type: ignore[arg-type]
    r = Rig(params)
    for lp in params.loops:
        r.set_loop(lp.name, 20.0)
        if lp.has_cold_sensor:
            r.set_cold(lp.name, 15.0)
    r.run(2.0)
    return r


def faults(r: Rig) -> dict[tuple[str, str | None], bool]:
    return {(f.code, f.loop): f.latching for f in r.controller.faults}


def test_a_local_close_ends_its_loop_and_is_shown_until_the_next_cycle() -> None:
    r = rig()
    r.request("start")
    r.run(3.0)
    r.notify("local_close", "bathroom", "its sensor bathroom read 38.2 °C, at or over 38.0 °C")
    d = r.tick()
    assert not d.relays.pump
    r.run(1.0)
    assert r.relays is not None and r.relays.all_off
    assert ("cycle_aborted", "bridge_local_close") in [(e.kind, e.reason) for e in r.events]
    fault = [e for e in r.events if e.kind == "fault"][-1]
    assert fault.reason == "bridge_local_close"
    assert "closed the bathroom valve by itself: its sensor bathroom read 38.2 °C" in str(
        fault.data["message"]
    )
    assert d.snapshot.fault is not None and d.snapshot.fault.code == "bridge_local_close"
    assert faults(r) == {("bridge_local_close", "bathroom"): False}
    r.request("start")
    assert faults(r) == {}


def test_a_local_close_of_one_loop_leaves_the_other_heating() -> None:
    r = rig(BATH, KITCHEN)
    r.request("start", "bathroom")
    r.request("start", "kitchen")
    r.run(3.0)
    r.notify("local_close", "bathroom", "its sensor failed (disconnected)")
    d = r.tick()
    assert d.relays.pump and d.relays.valves == {"bathroom": False, "kitchen": True}


def test_the_pumps_own_lock_notice_is_not_a_fault_of_its_own() -> None:
    r = rig()
    r.notify("local_close", None, "the pump lock: no valve open")
    r.tick()
    assert faults(r) == {}


def test_a_refused_on_ends_the_loop_and_says_the_bridge_refused() -> None:
    r = rig()
    r.request("start")
    r.notify("refused", "bathroom", "its sensor bathroom failed (sensor)")
    r.run(1.0)
    assert r.relays is not None and r.relays.all_off
    assert "refused to open the bathroom valve" in r.controller.faults[0].message


def test_the_dead_man_aborts_at_once_and_clears_with_the_next_cycle() -> None:
    r = rig()
    r.request("start")
    r.run(3.0)
    r.notify("dead_man", None, "it heard nothing from zcw for 2 s")
    d = r.tick()
    assert d.relays.all_off
    assert faults(r) == {("bridge_dead_man", None): False}
    kinds = [(e.kind, e.reason) for e in r.request("start").events]
    assert kinds == [("fault_cleared", "bridge_dead_man"), ("cycle_started", None)]
    assert faults(r) == {}


def test_a_valve_off_at_its_deadline_ends_the_whole_cycle_not_just_its_loop() -> None:
    """The link passes ``OFF,<ch>,deadline`` on as a dead-man on that valve's loop. A relay
    that outlived its deadline means zcw's refreshes stopped reaching the bridge: the other
    loop must not keep heating on a link that just failed, so everything goes off."""
    r = rig(BATH, KITCHEN)
    r.request("start", "bathroom")
    r.request("start", "kitchen")
    r.run(3.0)
    assert r.relays is not None and r.relays.pump and r.relays.valves["kitchen"]
    r.notify("dead_man", "bathroom", "relay 1 outlived its deadline unrefreshed")
    d = r.tick()
    assert d.relays.all_off
    assert faults(r) == {("bridge_dead_man", None): False}
    assert ("cycle_aborted", "bridge_dead_man") in [(e.kind, e.reason) for e in r.events]
    assert "relay 1 outlived its deadline unrefreshed" in r.controller.faults[0].message
    r.run(5.0)
    assert r.relays is not None and r.relays.all_off
    r.request("start", "bathroom")
    assert faults(r) == {}


def test_a_cap_latches_everything_off_until_reset() -> None:
    r = rig()
    r.request("start")
    r.run(3.0)
    r.notify("cap", None, "relay 0 was on for 600 s in one stretch")
    d = r.tick()
    assert d.relays.all_off
    assert faults(r) == {("bridge_cap", None): True}
    assert d.snapshot.state == "fault"
    r.run(60.0)
    assert [(e.kind, e.reason) for e in r.request("start").events] == [("rejected", "fault")]
    r.request("reset")
    assert r.request("start").events[0].kind == "cycle_started"


def test_a_refused_binding_keeps_the_loop_from_starting_until_it_is_bound() -> None:
    r = rig()
    r.notify("bind_refused", "bathroom", "it answered 'rom'")
    r.tick()
    assert faults(r) == {("bridge_binding", "bathroom"): False}
    assert [(e.kind, e.reason) for e in r.request("start").events] == [("rejected", "fault")]
    r.notify("bound", "bathroom")
    r.tick()
    assert r.request("start").events[0].kind == "cycle_started"


def test_a_failed_cold_line_sensor_refuses_a_cycle_on_the_loop_that_relies_on_it() -> None:
    r = rig(LoopParams(name="bathroom", sensor_tau_s=0.0, has_cold_sensor=True))
    r.errors["cold:bathroom"] = "disconnected"
    r.run(1.0)
    assert faults(r) == {("cold_sensor_invalid", "bathroom"): False}
    message = r.controller.faults[0].message
    assert "cold-line sensor on loop 'bathroom' read −127 °C" in message
    assert "its valve stays closed" in message
    assert [(e.kind, e.reason) for e in r.request("start").events] == [("rejected", "fault")]
    assert r.relays is not None and r.relays.all_off
    del r.errors["cold:bathroom"]
    r.run(1.0)
    assert faults(r) == {}
    assert r.request("start").events[0].kind == "cycle_started"


def test_a_cold_line_sensor_that_fails_mid_cycle_aborts_it() -> None:
    r = rig(LoopParams(name="bathroom", sensor_tau_s=0.0, has_cold_sensor=True))
    r.request("start")
    r.run(3.0)
    r.errors["cold:bathroom"] = "crc"
    r.run(1.5)
    assert r.relays is not None and r.relays.all_off
    assert ("cycle_aborted", "cold_sensor_fault") in [(e.kind, e.reason) for e in r.events]


def test_without_a_cold_line_at_stake_a_failed_cold_sensor_only_warns() -> None:
    r = rig(
        LoopParams(name="bathroom", sensor_tau_s=0.0, has_cold_sensor=True),
        topology="return_line",
    )
    r.errors["cold:bathroom"] = "disconnected"
    r.run(1.0)
    assert "the cold-line guard is off" in r.controller.faults[0].message
    assert r.request("start").events[0].kind == "cycle_started"


def test_a_failed_outlet_sensor_is_reported_and_the_loop_still_runs() -> None:
    r = rig(has_heater_out=True)
    r.temps[HEATER_OUT] = 20.0
    r.errors[HEATER_OUT] = "disconnected"
    r.run(1.0)
    assert faults(r) == {("outlet_sensor_invalid", None): False}
    assert "heater outlet sensor read −127 °C" in r.controller.faults[0].message
    assert r.request("start").events[0].kind == "cycle_started"
