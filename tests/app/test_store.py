"""History store: WAL SQLite that survives kill -9 of the writer, and the recorder observer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from zcw.adapters.store import CycleRecord, Store


def test_cycles_faults_and_temps_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as store:
        store.add_cycle(CycleRecord(1.0, 30.0, "button", ("bathroom",), 26.2, 3.5, None, "hot"))
        store.fault_raised("sensor_invalid", "bathroom", "read −127 °C", at=5.0)
        store.fault_cleared("sensor_invalid", "bathroom", at=9.0)
        store.add_temps(120.0, {"bathroom": 20.0})
        store.add_temps(130.0, {"bathroom": 30.0})
        assert store.cycles()[0].time_to_hot_s == 26.2
        assert store.faults()[0]["cleared_at"] == 9.0
        row = store.db.execute("SELECT min_c, max_c, sum_c / n FROM temps").fetchone()
        assert row == (20.0, 30.0, 25.0)
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()  # idempotent


def test_history_survives_kill_9_of_the_writer(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from zcw.adapters.store import CycleRecord, Store
        from pathlib import Path
        store = Store(Path({str(db)!r}))
        for i in range(50):
            store.add_cycle(CycleRecord(i, i + 1, "cli", ("bathroom",), 20.0, 3.0, None, "hot"))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -signal.SIGKILL
    assert os.path.exists(db)
    with Store(db) as store:
        assert len(store.cycles(limit=100)) == 50
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_what_a_loop_learned_is_not_handed_to_another_sensor(tmp_path: Path) -> None:
    from zcw.app.history import HistoryRecorder
    from zcw.domain.learning import Learned

    with Store(tmp_path / "h.db") as store:
        store.save_learned("bathroom", Learned().with_transit(25.0).to_json())
        got: dict[str, Learned] = {}
        HistoryRecorder(store).restore(got.update, {"bathroom": "28aa000000000001"})
        assert got["bathroom"].transit_s == 25.0
        got.clear()
        HistoryRecorder(store).restore(got.update, {"bathroom": "28aa000000000001"})
        assert "bathroom" in got  # the same sensor: what it learned comes back
        got.clear()
        HistoryRecorder(store).restore(got.update, {"bathroom": "28bb000000000002"})
        assert got == {}  # a new sensor (or another install): it learns afresh
        # And stays afresh on the next restart, before it has learned anything itself: the
        # old sensor's figures must not come back under the new sensor's identity.
        HistoryRecorder(store).restore(got.update, {"bathroom": "28bb000000000002"})
        assert got == {}
        assert "bathroom" not in store.learned()
        # Nor when the old sensor is put back: what it learned was dropped with the swap.
        HistoryRecorder(store).restore(got.update, {"bathroom": "28aa000000000001"})
        assert got == {}


def test_retention_keeps_the_file_bounded_and_the_cycles(tmp_path: Path) -> None:
    """Four months of per-minute temperatures for two sensors: with 30 days' retention the
    file stops growing after the first month, and every cycle (the totals' basis) stays."""
    from zcw.app.history import HistoryRecorder

    day = 86400.0
    path = tmp_path / "h.db"
    with Store(path) as store:
        now = [1_700_000_000.0]
        recorder = HistoryRecorder(store, wall_clock=lambda: now[0], retention_s=30 * day)
        pages: dict[int, int] = {}
        for d in range(120):
            start = int((now[0] + d * day) // 60)
            rows = [(m, s, 20.0, 21.0, 41.0, 2) for m in range(start, start + 1440) for s in "ab"]
            with store.db:
                store.db.executemany("INSERT INTO temps VALUES (?, ?, ?, ?, ?, ?)", rows)
            at = start * 60.0
            store.add_cycle(CycleRecord(at, at + 30, "cli", ("a",), 20.0, 1.0, None, "hot"))
            store.fault_raised("mqtt_unreachable", None, "broker down", at=start * 60.0)
            store.fault_cleared("mqtt_unreachable", None, at=start * 60.0 + 5)
            recorder._prune(start * 60.0 + day)  # what the hourly flush does
            pages[d] = store.db.execute("PRAGMA page_count").fetchone()[0]
        oldest = store.db.execute("SELECT min(minute) FROM temps").fetchone()[0]
        assert oldest * 60.0 >= now[0] + 119 * day - 30 * day - 60
        assert len(store.cycles(limit=1000)) == 120
        assert store.db.execute("SELECT count(*) FROM faults").fetchone()[0] <= 31
    assert pages[119] <= pages[45] * 1.05, pages  # bounded: freed pages are reused


def test_retention_is_a_config_key_with_a_floor() -> None:
    import pytest

    from zcw.config import default_config, parse_config
    from zcw.errors import ConfigError

    assert default_config().store.retention_days == 30
    base = {
        "pump": {"relay": 0},
        "loops": [{"name": "bathroom", "sensor": "bathroom", "valve_relay": 1}],
    }
    with pytest.raises(ConfigError) as err:
        parse_config({**base, "store": {"retention_days": 3}}, source="test")
    assert "store.retention_days" in str(err.value)
    cfg = parse_config({**base, "store": {"retention_days": 90}}, source="t")
    assert cfg.store.retention_days == 90


def test_a_cycle_told_over_is_in_the_history_before_its_valves_close(tmp_path: Path) -> None:
    """hot_ready and cycle_stopped go out when the pump stops; the cycle's summary comes
    valve_lag_s later. A SIGKILL in between must not lose a cycle already reported over
    (tests/soak/test_history_sigkill.py kills real processes at random for the same)."""
    from zcw.app.daemon import Status
    from zcw.app.history import HistoryRecorder
    from zcw.app.sim import build_sim
    from zcw.config import default_config
    from zcw.domain.model import Request, Source

    rig = build_sim(default_config())
    with Store(tmp_path / "h.db") as store:
        rig.daemon.observe(HistoryRecorder(store, params=rig.daemon.wiring.params))
        told: list[tuple[str, int]] = []

        def observe(status: Status) -> None:
            rows = store.db.execute("SELECT count(*) FROM cycles").fetchone()[0]
            told.extend(
                (e.kind, rows) for e in status.events if e.kind in ("hot_ready", "cycle_stopped")
            )

        rig.daemon.observe(observe)

        def run(seconds: float) -> None:
            for _ in range(int(seconds / 0.25)):
                rig.clock.advance(0.25)
                rig.daemon.tick()

        run(5)
        rig.daemon.submit(Request("start", Source.CLI))
        run(3)
        rig.daemon.submit(Request("stop", Source.CLI))
        run(0.25)  # the stop is told; the valves close valve_lag_s later
        assert told == [("cycle_stopped", 1)]
        stopped = store.cycles()[0]
        assert stopped.outcome == "stopped" and stopped.volume_l is None  # not complete yet
        run(40)  # the rest (min_rest_s), then a cycle to hot water
        rig.daemon.submit(Request("start", Source.CLI))
        run(120)
        assert told == [("cycle_stopped", 1), ("hot_ready", 2)]
        hot, stopped = store.cycles()
        assert (hot.outcome, stopped.outcome) == ("hot", "stopped")
        assert hot.time_to_hot_s is not None and hot.volume_l is not None  # completed
        assert stopped.volume_l is not None and len(store.cycles(limit=10)) == 2
        assert store.loop_totals()["bathroom"][0] > 0


def test_a_store_opened_in_one_thread_really_closes_from_another(tmp_path: Path) -> None:
    """The daemon's store is opened in the event loop's thread and may be closed from
    another once that loop has stopped (the tests' live daemons do): close() used to hit
    SQLite's same-thread check, swallow it and leave the connection open, which Python 3.13
    reports as an unclosed database (an error under filterwarnings = error)."""
    import sqlite3
    import threading

    import pytest

    made: list[Store] = []
    opener = threading.Thread(target=lambda: made.append(Store(tmp_path / "h.db")))
    opener.start()
    opener.join()
    store = made[0]
    db = store.db
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.execute("SELECT 1")


def test_a_restart_remembers_that_a_pipe_may_still_be_warm(tmp_path: Path) -> None:
    """The warm-pipe hold (zcw.domain.cycle.blind_hold) survives a restart: the last stored
    cycle through a loop says how long ago its pipe was heated."""
    from zcw.app.history import HistoryRecorder
    from zcw.domain.controller import Controller
    from zcw.domain.cycle.blind_hold import BLIND_COOL_S
    from zcw.domain.model import LoopParams, Params

    params = Params(loops=(LoopParams(name="far"), LoopParams(name="near")))
    with Store(tmp_path / "h.db") as store:
        store.add_cycle(CycleRecord(900.0, 1000.0, "button", ("far",), None, 7.0, None, "hot"))
        store.add_cycle(CycleRecord(1100.0, 1200.0, "button", ("near",), None, 1.0, None, "hot"))
        controller = Controller(params, now_s=50.0)  # a new process: its own monotonic time
        HistoryRecorder(store, wall_clock=lambda: 1600.0).restore_heated(controller.restore_heated)
        far, near = controller.warm_pipe_wait_s("far"), controller.warm_pipe_wait_s("near")
        assert far is not None and abs(far - (BLIND_COOL_S - 600.0)) < 1e-6
        assert near is not None and abs(near - (BLIND_COOL_S - 400.0)) < 1e-6
