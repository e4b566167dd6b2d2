"""The daemon wired to a simulated house, in lockstep: a cycle heats the loop and ends safe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from zcw.app.daemon import Status
from zcw.app.runner import TICK_S
from zcw.app.sim import SimRig, build_sim
from zcw.config import default_config
from zcw.domain.model import Request, Source
from zcw.ports import HardwareState, RelayCommand


def run_until(rig: SimRig, predicate: Callable[[Status], bool], timeout_s: float) -> Status:
    end = rig.clock.now_s() + timeout_s
    while rig.clock.now_s() < end:
        rig.clock.advance(TICK_S)
        status = rig.daemon.tick()
        if predicate(status):
            return status
    raise AssertionError(f"not reached within {timeout_s} s of simulated time")


def settle(rig: SimRig, seconds: float) -> Status:
    status = rig.daemon.tick()
    for _ in range(int(seconds / TICK_S)):
        rig.clock.advance(TICK_S)
        status = rig.daemon.tick()
    return status


def test_default_sim_cycle_heats_the_loop_and_ends_with_valve_closed_and_pump_off() -> None:
    rig = build_sim(default_config())
    settle(rig, 5.0)
    rig.daemon.submit(Request("start", Source.CLI))
    events: list[str] = []
    rig.daemon.observe(lambda s: events.extend(e.kind for e in s.events))
    status = run_until(rig, lambda s: any(e.kind == "hot_ready" for e in s.events), 120.0)
    water_at_stop = rig.plant.water_at_valve_c("bathroom")
    status = settle(rig, 3.0)
    assert events[0] == "cycle_started"
    assert not status.confirmed.pump
    assert not any(status.confirmed.valves.values())
    assert not rig.plant.heater_firing or rig.plant.flow_lpm == 0.0
    last = status.snapshot.last_cycle
    assert last is not None and last.outcome == "hot"
    assert last.time_to_hot_s is not None
    # R0's physical limit is 26 s; a sensor on the brass valve body adds a few seconds.
    assert 20.0 <= last.time_to_hot_s <= 45.0
    # Stopped near the ready temperature: hot water arrived, the cold line was spared.
    assert 33.0 <= water_at_stop <= 45.0
    assert rig.plant.cold_line_peak_c < 45.0


def test_shutdown_turns_relays_off_before_closing_the_hardware() -> None:
    calls: list[str] = []

    class Recorder:
        def apply(self, command: RelayCommand) -> None:
            calls.append("on" if any(command.channels.values()) else "off")

        def poll(self) -> HardwareState:
            return HardwareState(online=True, readings={}, confirmed={})

        def reset_latches(self) -> None:
            calls.append("reset")

        def close(self) -> None:
            calls.append("close")

    rig = build_sim(default_config())
    rig.daemon.hardware = Recorder()
    rig.daemon.shutdown()
    rig.daemon.shutdown()  # idempotent
    assert calls == ["off", "close"]


def test_shutdown_mid_cycle_ends_the_cycle_and_leaves_observers_an_idle_state() -> None:
    rig = build_sim(default_config())
    settle(rig, 3.0)
    rig.daemon.submit(Request("start", Source.CLI))
    assert settle(rig, 3.0).confirmed.pump
    seen: list[Status] = []
    rig.daemon.observe(seen.append)
    rig.daemon.shutdown()
    last = seen[-1]
    assert last.snapshot.state == "idle" and not last.snapshot.pump
    assert not last.confirmed.pump and not any(last.confirmed.valves.values())
    assert [(e.kind, e.reason) for e in last.events] == [("cycle_aborted", "shutdown")]
    assert last.snapshot.last_cycle is not None
    assert last.snapshot.last_cycle.outcome == "shutdown"


def test_an_exception_in_the_tick_turns_everything_off() -> None:
    rig = build_sim(default_config())
    settle(rig, 3.0)
    rig.daemon.submit(Request("start", Source.CLI))
    status = settle(rig, 5.0)
    assert status.confirmed.pump

    def broken_poll() -> HardwareState:
        raise RuntimeError("bridge driver bug")

    real_poll = rig.hardware.poll
    rig.hardware.poll = broken_poll  # type: ignore[method-assign]
    status = settle(rig, 0.0)
    rig.hardware.poll = real_poll  # type: ignore[method-assign]
    status = settle(rig, 1.0)
    assert not status.confirmed.pump and not any(status.confirmed.valves.values())
    assert status.snapshot.fault is not None
    assert status.snapshot.fault.code == "internal_error"


def test_bridge_deadline_drops_relays_when_the_daemon_stops_refreshing() -> None:
    """Layer 1: a frozen daemon cannot leave the pump on; the bridge deadline expires."""
    rig = build_sim(default_config())
    settle(rig, 3.0)
    rig.daemon.submit(Request("start", Source.CLI))
    settle(rig, 3.0)
    assert rig.plant.flow_lpm > 0
    rig.clock.advance(6.0)  # no ticks: the daemon is frozen
    state = rig.hardware.poll()
    assert not any(state.confirmed.values())
    assert rig.plant.flow_lpm == 0.0


@pytest.mark.parametrize("house", ["H1", "H3"])
def test_other_houses_run_with_a_generated_default_config(house: str) -> None:
    from zcw.config import config_for_house_loops

    rig0 = build_sim(default_config(), house)
    cfg = config_for_house_loops(rig0.plant.loops, house)
    rig = build_sim(cfg, house)
    settle(rig, 3.0)
    rig.daemon.submit(Request("start", Source.CLI))
    run_until(rig, lambda s: any(e.kind == "hot_ready" for e in s.events), 170.0)
    status = settle(rig, 3.0)
    assert not status.confirmed.pump and not any(status.confirmed.valves.values())


def test_learned_transit_is_stored_and_restored_by_the_next_daemon(tmp_path: Path) -> None:
    from zcw.adapters.store import Store
    from zcw.app.history import HistoryRecorder

    db = tmp_path / "history.db"
    rig = build_sim(default_config())
    with Store(db) as store:
        recorder = HistoryRecorder(store)
        recorder.restore(rig.daemon.controller.restore_learned)
        rig.daemon.observe(recorder)
        settle(rig, 5.0)
        rig.daemon.submit(Request("start", Source.CLI))
        run_until(rig, lambda s: any(e.kind == "hot_ready" for e in s.events), 120.0)
        settle(rig, 3.0)
        taught = rig.daemon.controller.learned["bathroom"]
        # R0 from cold: its physical limit is ≈ 25 s, the sensor adds a few.
        assert taught.transit_s is not None and 20.0 <= taught.transit_s <= 45.0

    again = build_sim(default_config())
    assert again.daemon.controller.learned["bathroom"].transit_s is None
    with Store(db) as store:
        HistoryRecorder(store).restore(again.daemon.controller.restore_learned)
    assert again.daemon.controller.learned["bathroom"] == taught


def test_what_a_loop_learned_follows_its_sensor_rom_through_the_daemons_wiring(
    tmp_path: Path,
) -> None:
    """What the daemon learned for a loop comes back on the next start only while the loop's
    sensor (its ROM id in [sensors]) is the same one: build_adapters keys the store's learning
    to it. A replaced sensor starts afresh, and stays so across restarts."""
    import asyncio

    from zcw.app.compose import build_adapters

    @contextmanager
    def daemon_with(rom: str) -> Iterator[SimRig]:
        """A daemon as `zcw run` builds it: the simulated plant, the adapters on the store;
        shut down as `zcw run` does (the adapters' closers, then the store)."""
        base = default_config()
        cfg = base.model_copy(
            update={
                "sensors": {"bathroom": rom},
                "store": base.store.model_copy(update={"path": tmp_path / "history.db"}),
            }
        )
        rig = build_sim(cfg)
        adapters = build_adapters(cfg, rig.daemon)
        assert adapters.store is not None
        try:
            yield rig
        finally:

            async def close() -> None:
                for closer in adapters.closers:
                    await closer()

            asyncio.run(close())
            adapters.store.close()

    with daemon_with("28aa000000000001") as first:
        assert first.daemon.controller.learned["bathroom"].transit_s is None
        settle(first, 5.0)
        first.daemon.submit(Request("start", Source.CLI))
        run_until(first, lambda s: any(e.kind == "hot_ready" for e in s.events), 120.0)
        settle(first, 3.0)
        taught = first.daemon.controller.learned["bathroom"]
        assert taught.transit_s is not None
    # The same sensor (a ROM id is hex: its case does not make it another): restored.
    with daemon_with("28AA000000000001") as same:
        assert same.daemon.controller.learned["bathroom"] == taught
    # The sensor replaced: the loop learns afresh, on this start and on the next.
    for _ in range(2):
        with daemon_with("28bb000000000002") as swapped:
            assert swapped.daemon.controller.learned["bathroom"].transit_s is None
