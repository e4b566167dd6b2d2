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
