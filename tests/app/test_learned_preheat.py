"""Learned pre-heat and tap-flick in the daemon, on the simulated plant: draws are stored and
learned, away stops the learned plan but not a person's flick, and what was learned (and the
run-time toggle) survives a restart and a SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hil.bench.week import DaemonWeek, WeekEvent, _flick, _open_tap, week_house
from hil.plant import Plant
from zcw.adapters.store import Store
from zcw.app.daemon import Status
from zcw.app.learning import MODEL_KEY, LearningBridge
from zcw.config import ConfigError, parse_config
from zcw.domain.habits import HabitModel
from zcw.domain.model import Event, LoopParams, Params, Request, Source
from zcw.testing.processes import config_with_socket, read_until, reap
from zcw.testing.rig import Rig

ZCW = [sys.executable, "-m", "zcw"]
HOUR = 3600.0


def learned_week(seed: int = 0) -> tuple[DaemonWeek, list[Event]]:
    plant = Plant(week_house("R0", seed))
    strat = DaemonWeek(plant, "learned")
    events: list[Event] = []

    def keep(status: Status) -> None:
        events.extend(e for e in status.events if e.kind in ("cycle_started", "rejected"))

    strat.daemon.observe(keep)
    return strat, events


def teach(bridge: LearningBridge, minute: float, first: date, days: int = 5) -> None:
    """Draws at ``minute`` on the ``days`` workdays from ``first`` (a Monday)."""
    for i in range(7):
        day = (first + timedelta(days=i)).toordinal()
        bridge.model.watch_day(day)
        if i < days:
            bridge.model.add_draw("bathroom", day, minute)


def test_a_draw_is_stored_learned_and_restored_by_a_new_bridge() -> None:
    strat, _ = learned_week()
    assert strat.learning is not None
    strat.advance(2 * HOUR)
    result = _open_tap(strat, WeekEvent(2 * HOUR, "bathroom", "habitual", 7.0, 120.0))
    strat.advance(600.0)
    assert not result.hot  # nothing learned yet: a cold pipe
    (draw,) = strat.store.draws()
    opened = strat.wall0.timestamp() + 2 * HOUR
    assert draw["loop"] == "bathroom" and draw["kind"] == "draw"
    assert abs(draw["at"] - opened) <= 15.0  # dated by the burner lighting
    assert draw["duration_s"] is not None and 100.0 <= draw["duration_s"] <= 220.0
    assert strat.learning.model.draws_seen == 1
    strat.learning.set_learned(False)
    again = LearningBridge(strat.daemon, strat.cfg, strat.store, wall=strat.learning._wall)
    assert again.model.draws_seen == 1
    assert again.model.to_json() == strat.learning.model.to_json()
    assert again.mode == "suggest"  # the run-time "off" wins over the file's "learned"
    again.set_learned(None)
    assert LearningBridge(strat.daemon, strat.cfg, strat.store).mode == "learned"


def test_away_stops_the_learned_plan_but_not_a_tap_flick() -> None:
    strat, events = learned_week()
    bridge = strat.learning
    assert bridge is not None and bridge.tapflick == ("bathroom",)
    # A habit at 00:40 on the workdays before: Monday 00:30-00:55 is planned.
    teach(bridge, 40.0, date(2026, 2, 23))
    strat.daemon.submit(Request("mode", Source.CLI, mode="away"))
    strat.advance(50 * 60.0)
    assert [(e.kind, e.source) for e in events] == []  # away: no learned cycle, no noise
    # A person flicks the hot tap: away does not stop a hand.
    lit = _flick(strat, WeekEvent(50 * 60.0, "bathroom", "flick", 6.0, 0.0))
    assert lit is not None
    strat.advance(180.0)
    assert [(e.kind, e.source) for e in events] == [("cycle_started", Source.TAPFLICK)]
    assert [f.loop for f in bridge.flicks] == ["bathroom"]
    # Back home: the next night's window keeps the loop hot, as source learned.
    strat.daemon.submit(Request("mode", Source.CLI, mode="auto"))
    back = strat.clock.now_s()
    strat.advance(24 * HOUR - back + 56 * 60.0)  # through the window (00:30-00:55)
    learned = [e for e in events if e.source is Source.LEARNED]
    assert learned and {e.kind for e in learned} == {"cycle_started"}  # never a "rest" refusal
    for event in learned:
        at = strat.wall0 + timedelta(seconds=event.at_s)
        assert event.at_s > back and at.hour == 0 and 20 <= at.minute <= 56


@pytest.mark.parametrize("source", [Source.LEARNED, Source.CLI])
@pytest.mark.parametrize(("reading_c", "started"), [(35.7, True), (36.6, False)])
def test_a_request_in_doubt_of_hot_water_runs_a_cycle(
    source: Source, reading_c: float, started: bool
) -> None:
    """At 35.7 °C (under ready_c, inside the hysteresis) the water may be just under ready_c:
    a learned keep-hot request and a person's alike get a (short) cycle. Only water surely
    past ready_c (by the sensor's ±0.5 K) is already hot."""
    r = Rig(Params(loops=(LoopParams("bathroom", ready_c=36.0, sensor_tau_s=0.0),)))
    r.set_loop("bathroom", reading_c)
    r.run(2.0)
    kinds = [e.kind for e in r.request("start", source=source).events]
    assert kinds == (["cycle_started"] if started else ["already_hot"])


def _config(**learning: Any) -> dict[str, Any]:
    return {
        "pump": {"relay": 0},
        "loops": [{"name": "bathroom", "sensor": "b", "valve_relay": 1, "tapflick": True}],
        "learning": learning,
    }


def test_tap_flick_needs_a_gas_heaters_outlet_sensor() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_config())
    assert [p.where for p in err.value.problems] == ["loops.bathroom.tapflick"]
    data = _config() | {"heater": {"outlet_sensor": "out", "kind": "electric"}}
    with pytest.raises(ConfigError, match="storage tank"):
        parse_config(data)
    cfg = parse_config(
        _config(mode="learned", holidays=["2026-10-01"]) | {"heater": {"outlet_sensor": "out"}}
    )
    assert cfg.learning.mode == "learned" and cfg.learning.holidays == [date(2026, 10, 1)]


def test_learned_habits_and_the_toggle_survive_sigkill(tmp_path: Path) -> None:
    sock = tmp_path / "zcw.sock"
    db = tmp_path / "h.db"
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_with_socket(sock) + f'\n[store]\npath = "{db}"\n')
    # What an earlier run learned: a shower at 06:40 on last week's workdays.
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)
    model = HabitModel(["bathroom"])
    for i in range(7):
        day = (monday + timedelta(days=i)).toordinal()
        model.watch_day(day)
        if i < 5:
            model.add_draw("bathroom", day, 6 * 60 + 40 + i)
    with Store(db) as store:
        store.save_setting(MODEL_KEY, model.to_json())

    def daemon() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*ZCW, "run", "-c", str(cfg), "--speed", "5"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        read_until(proc.stderr.fileno(), b"control socket at", 30.0)
        return proc

    def zcw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ZCW, *args, "-c", str(cfg)], capture_output=True, text=True)

    proc = daemon()
    try:
        shown = zcw("schedule", "suggest")
        assert shown.returncode == 0, shown
        assert "mode suggest (config file)" in shown.stdout
        assert "06:31" in shown.stdout and "workday" in shown.stdout
        on = zcw("schedule", "learned", "on")
        assert on.returncode == 0 and "learned pre-heat: mode learned" in on.stdout, on
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        reap(proc)
    proc = daemon()
    try:
        shown = zcw("schedule", "suggest")
        assert shown.returncode == 0, shown
        assert "mode learned (run-time choice)" in shown.stdout
        assert "06:31" in shown.stdout
        back = zcw("schedule", "learned", "default")
        assert back.returncode == 0 and "mode suggest" in back.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        reap(proc)
    with Store(db) as store:
        kept = HabitModel(["bathroom"])
        assert kept.restore(store.setting(MODEL_KEY))
        assert kept.draws_seen == 5 and kept.watched == today.toordinal()


def test_a_latched_fault_silences_the_learned_plan_until_reset() -> None:
    """A learned request the controller must refuse is not asked at all: through a latched
    fault (which waits for `zcw reset`) a keep-hot asked every 15 s would fill the journal
    and the event stream. Once reset, the plan runs again."""
    strat, events = learned_week()
    bridge = strat.learning
    assert bridge is not None
    teach(bridge, 40.0, date(2026, 2, 23))
    strat.daemon.controller.fail_safe(strat.clock.now_s(), "a test's latched fault")
    strat.advance(50 * 60.0)
    assert [(e.kind, e.source) for e in events] == []
    strat.daemon.submit(Request("reset", Source.CLI))
    strat.advance(10 * 60.0)
    assert ("cycle_started", Source.LEARNED) in [(e.kind, e.source) for e in events]
