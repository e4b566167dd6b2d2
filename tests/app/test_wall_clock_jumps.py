"""A wall clock that jumps back (NTP correcting a Pi with no RTC, a user setting the time) must
not stall what zcw does "every minute": the history's temperature minutes (whose samples
would pile up in memory meanwhile) and MQTT's periodic state, which Home Assistant needs to
keep the entities available. Found by the soak (hil/soak), which jumps the wall clock."""

from __future__ import annotations

import itertools
from pathlib import Path

from zcw.adapters.mqtt_client import MqttSettings
from zcw.adapters.mqtt_payloads import Topics
from zcw.adapters.store import Store
from zcw.app.history import HistoryRecorder
from zcw.app.mqtt_bridge import MqttBridge
from zcw.app.sim import build_sim
from zcw.config import default_config

DAY = 86400.0


def test_the_temperature_minutes_go_on_after_the_wall_clock_jumps_back(tmp_path: Path) -> None:
    rig = build_sim(default_config())
    wall = [1_700_000_000.0]
    with Store(tmp_path / "h.db") as store:
        rig.daemon.observe(HistoryRecorder(store, wall_clock=lambda: wall[0]))

        def run(seconds: float) -> None:
            for _ in range(int(seconds / 0.25)):
                rig.clock.advance(0.25)
                wall[0] += 0.25
                rig.daemon.tick()

        def minutes() -> int:
            return int(store.db.execute("SELECT count(*) FROM temps").fetchone()[0])

        run(300)
        before = minutes()
        assert before >= 4
        wall[0] -= DAY  # the clock was a day fast
        run(600)
        assert minutes() - before >= 9


def test_the_state_goes_out_every_minute_after_the_wall_clock_jumps_back() -> None:
    rig = build_sim(default_config())
    wall = [1_700_000_000.0]
    bridge = MqttBridge(
        rig.daemon,
        MqttSettings(host="127.0.0.1"),
        Topics("zcw", "homeassistant"),
        device_id="zcw",
        wall_clock=lambda: wall[0],
    )
    sent: list[float] = []

    def publish(topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 0) -> bool:
        if topic == "zcw/state":
            sent.append(rig.clock.now_s())
        return True

    bridge.link.connected = True
    bridge.link.publish = publish  # type: ignore[method-assign]

    def run(seconds: float) -> None:
        for _ in range(int(seconds / 0.25)):
            rig.clock.advance(0.25)
            wall[0] += 0.25
            rig.daemon.tick()

    run(120)
    wall[0] -= DAY
    jumped = rig.clock.now_s()
    run(600)
    after = [jumped, *(t for t in sent if t > jumped), rig.clock.now_s()]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert max(gaps) <= 60.5, gaps
