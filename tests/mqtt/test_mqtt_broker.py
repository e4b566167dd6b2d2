"""The MQTT bridge against a real mosquitto broker started by the test on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from zcw.adapters.mqtt_client import MqttSettings
from zcw.adapters.mqtt_payloads import CommandRejected, Topics, parse_command
from zcw.app.mqtt_bridge import MqttBridge
from zcw.app.sim import build_sim
from zcw.config import default_config
from zcw.testing.broker import PASSWORD, USERNAME, Broker, write_other_ca
from zcw.testing.ha import Observer
from zcw.testing.live import LiveSim
from zcw.testing.processes import reap

TOPICS = Topics("zcw", "homeassistant")
DEVICE = "zcw_test"


def event_is(kind: str) -> Callable[[bytes], bool]:
    return lambda p: json.loads(p).get("event") == kind


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path / "broker") as b:
        yield b


def live(
    broker: Broker, tmp_path: Path, *, settings_: MqttSettings | None = None, speed: float = 5.0
) -> tuple[LiveSim, MqttBridge]:
    rig = build_sim(default_config())
    bridge = MqttBridge(
        rig.daemon,
        settings_ or MqttSettings("127.0.0.1", broker.port, client_id="zcw-test"),
        TOPICS,
        device_id=DEVICE,
        announced_file=tmp_path / "announced.json",
    )
    sim = LiveSim(rig, speed=speed)
    return sim, bridge


def test_start_over_mqtt_heats_and_state_is_retained(broker: Broker, tmp_path: Path) -> None:
    ha = Observer(broker.port)
    sim, bridge = live(broker, tmp_path, speed=5.0)
    with sim:
        sim.spawn(bridge.run(), close=bridge.close)
        ha.expect("zcw/availability", lambda p: p == b"online")
        ha.expect("zcw/state")
        time.sleep(0.5)  # a couple of simulated sensor conversions
        ha.publish("zcw/set", "start")
        ha.expect("zcw/event", event_is("cycle_started"))
        ha.expect("zcw/state", lambda p: json.loads(p)["state"] == "heating")
        ha.expect("zcw/event", event_is("hot_ready"), timeout_s=30)
        sim.wait_for(lambda: not any(sim.rig.plant.valves.values()), 10, "the valve to close")
        ha.expect("zcw/state", lambda p: not json.loads(p)["loops"]["bathroom"]["valve"])
    ha.close()
    late = Observer(broker.port)  # a new subscriber gets the retained state
    state = json.loads(late.expect("zcw/state"))
    assert {"state", "mode", "pump", "loops", "fault", "last_cycle"} <= set(state)
    assert state["loops"]["bathroom"]["valve"] is False
    assert state["last_cycle"]["outcome"] == "hot"
    assert late.expect("zcw/availability") == b"offline"
    late.close()


def test_discovery_is_announced_and_reannounced_on_birth(broker: Broker, tmp_path: Path) -> None:
    ha = Observer(broker.port)
    sim, bridge = live(broker, tmp_path)
    with sim:
        sim.spawn(bridge.run(), close=bridge.close)
        first = json.loads(ha.expect(TOPICS.device_config(DEVICE)))
        assert {"device", "origin", "components", "availability"} <= set(first)
        ha.skip_past()
        ha.publish("homeassistant/status", "online")
        again = json.loads(ha.expect(TOPICS.device_config(DEVICE)))
        assert again["components"] == first["components"]
    ha.close()


def test_removed_loop_entities_are_removed(broker: Broker, tmp_path: Path) -> None:
    (tmp_path / "announced.json").write_text(
        json.dumps({"temp_kitchen": "sensor", "start_kitchen": "button"})
    )
    ha = Observer(broker.port)
    sim, bridge = live(broker, tmp_path)
    with sim:
        sim.spawn(bridge.run(), close=bridge.close)
        comps = json.loads(ha.expect(TOPICS.device_config(DEVICE)))["components"]
    assert comps["temp_kitchen"] == {"platform": "sensor"}
    assert comps["start_kitchen"] == {"platform": "button"}
    ha.close()


def test_broker_restart_mid_cycle(broker: Broker, tmp_path: Path) -> None:
    sim, bridge = live(broker, tmp_path, speed=2.0)
    ha = Observer(broker.port)
    with sim:
        sim.spawn(bridge.run(), close=bridge.close)
        ha.expect("zcw/availability", lambda p: p == b"online")
        time.sleep(0.5)
        ha.publish("zcw/set", "start")
        ha.expect("zcw/event", event_is("cycle_started"))
        ha.close()
        broker.stop()
        # The cycle completes locally while the broker is down.
        sim.wait_for(lambda: "hot_ready" in sim.events(), 40, "hot_ready without a broker")
        t0 = time.monotonic()
        broker.start()
        ha = Observer(broker.port)
        ha.expect("zcw/availability", lambda p: p == b"online", timeout_s=10)
        assert time.monotonic() - t0 < 10.0
        state = json.loads(ha.expect("zcw/state", timeout_s=5))
        assert state["last_cycle"] is not None, (state, sim.events())
        assert state["last_cycle"]["outcome"] == "hot"
    ha.close()


def test_fuzzed_payloads_are_rejected_without_touching_relays(
    broker: Broker, tmp_path: Path
) -> None:
    sim, bridge = live(broker, tmp_path, speed=1.0)
    ha = Observer(broker.port)
    with sim:
        sim.spawn(bridge.run(), close=bridge.close)
        ha.expect("zcw/availability", lambda p: p == b"online")
        relays_before = sim.do(lambda: dict(sim.rig.hardware.poll().confirmed))
        count = [0]

        @settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            st.one_of(
                st.binary(max_size=300),
                st.binary(min_size=600, max_size=5000),
                st.dictionaries(
                    st.sampled_from(["action", "loop", "mode", "ts", "x"]),
                    st.one_of(
                        st.integers(), st.none(), st.lists(st.integers()), st.text(max_size=8)
                    ),
                ).map(lambda d: json.dumps(d).encode()),
            )
        )
        def fuzz(payload: bytes) -> None:
            try:
                parse_command(payload, loops=("bathroom",), now_unix_s=time.time())
            except CommandRejected:
                pass
            else:
                assume(False)  # a valid command is not what this test is about
            ha.publish("zcw/set", payload)
            error = json.loads(ha.expect("zcw/event", event_is("command_rejected")))["error"]
            assert error
            count[0] += 1

        fuzz()
        assert count[0] >= 900
        relays_after = sim.do(lambda: dict(sim.rig.hardware.poll().confirmed))
        assert relays_before == relays_after and not any(relays_after.values())
        assert "cycle_started" not in sim.events()
        # still alive and still listening
        ha.publish("zcw/set", "start")
        ha.expect("zcw/event", event_is("cycle_started"))
    ha.close()


@pytest.mark.parametrize("problem", ["password", "ca"])
def test_bad_credentials_give_a_clear_fault_and_the_button_still_works(
    broker: Broker, tmp_path: Path, problem: str
) -> None:
    if problem == "password":
        settings_ = MqttSettings("127.0.0.1", broker.auth_port, username=USERNAME, password="wrong")
        code = "mqtt_auth"
    else:
        settings_ = MqttSettings("127.0.0.1", broker.tls_port, tls_ca=write_other_ca(tmp_path))
        code = "mqtt_tls"
    sim, bridge = live(broker, tmp_path, settings_=settings_, speed=5.0)
    with sim:
        sim.spawn(bridge.run(), close=bridge.close)

        def fault_codes() -> list[str]:
            st_ = sim.rig.daemon.status
            return [f.code for f in st_.snapshot.faults] if st_ else []

        sim.wait_for(lambda: code in fault_codes(), 10, f"fault {code}")
        fault = next(f for f in sim.rig.daemon.status.snapshot.faults if f.code == code)  # type: ignore[union-attr]
        assert fault.hint and "mqtt" in fault.hint
        assert PASSWORD not in fault.message and "wrong" not in fault.message
        time.sleep(0.3)
        sim.do(lambda: sim.rig.hardware.press(0))
        sim.wait_for(lambda: "cycle_started" in sim.events(), 5, "button start during MQTT fault")
        # still retrying, with growing gaps (1 s, 2 s, …)
        sim.wait_for(lambda: len(bridge.link.attempts) >= 3, 10, "three connection attempts")
        a = bridge.link.attempts
        # waits of 1 s then 2 s between attempts (plus however long each attempt took)
        assert a[1] - a[0] >= 0.9 and a[2] - a[1] >= 1.9
        assert not bridge.link.connected


def test_good_credentials_and_tls_connect(broker: Broker, tmp_path: Path) -> None:
    for settings_ in (
        MqttSettings("127.0.0.1", broker.auth_port, username=USERNAME, password=PASSWORD),
        MqttSettings("127.0.0.1", broker.tls_port, tls_ca=broker.ca),
    ):
        sim, bridge = live(broker, tmp_path, settings_=settings_)
        with sim:
            sim.spawn(bridge.run(), close=bridge.close)
            sim.wait_for(lambda b=bridge: b.link.connected, 10, "connection")  # type: ignore[misc]
        assert PASSWORD not in repr(settings_)


def test_zcw_run_sim_with_mqtt_config_end_to_end(broker: Broker, tmp_path: Path) -> None:
    """The real command line: `zcw run --sim -c <config with [mqtt]>` against the broker."""
    import subprocess
    import sys

    default = (Path(__file__).parents[2] / "zcw" / "default.toml").read_text()
    cfg = tmp_path / "zcw.toml"
    cfg.write_text(
        default.replace("[control]", f'[control]\nsocket = "{tmp_path / "zcw.sock"}"')
        + f'\n[store]\npath = "{tmp_path / "history.db"}"\n'
        + f'\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "zcw_e2e"\n'
    )
    ha = Observer(broker.port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zcw", "run", "--sim", "-c", str(cfg), "--speed", "5"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ha.expect("zcw/availability", lambda p: p == b"online", timeout_s=20)
        ha.expect(TOPICS.device_config("zcw_e2e"))
        ha.expect("zcw/state", lambda p: json.loads(p)["loops"]["bathroom"]["temp_c"] is not None)
        ha.publish("zcw/set", json.dumps({"action": "start", "loop": "bathroom"}))
        ha.expect("zcw/event", event_is("cycle_started"))
        ha.expect("zcw/state", lambda p: json.loads(p)["state"] == "heating")
        ha.expect("zcw/event", event_is("hot_ready"), timeout_s=30)
        ha.expect("zcw/state", lambda p: json.loads(p)["last_cycle"] is not None)
        proc.send_signal(2)  # SIGINT: relays off, then MQTT says offline
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err.decode()
        ha.expect("zcw/availability", lambda p: p == b"offline")
    finally:
        reap(proc)
        ha.close()
    late = Observer(broker.port)
    state = json.loads(late.expect("zcw/state"))
    for key in ("state", "mode", "pump", "loops", "fault", "last_cycle"):
        assert key in state
    assert state["pump"] is False
    learned = state["loops"]["bathroom"].pop("learned")
    assert state["loops"]["bathroom"] == {
        "temp_c": state["loops"]["bathroom"]["temp_c"],
        "valve": False,
        "state": state["loops"]["bathroom"]["state"],
        "cold_c": None,
    }
    # The cycle it ran started from a cooled pipe: it taught the loop its transit.
    assert learned["transit_s"] > 0 and learned["cycles"] == 1
    assert learned["stops_on_rise"] is False and learned["stops_on_learned_arrival"] is False
    assert state["last_cycle"]["outcome"] == "hot"
    late.close()


def test_schedule_away_and_learned_mode_are_edited_over_mqtt(
    broker: Broker, tmp_path: Path
) -> None:
    from zcw.adapters.store import Store
    from zcw.app.calendar_commands import CalendarCommands
    from zcw.app.learning import LearningBridge
    from zcw.app.schedule_bridge import ScheduleBridge

    cfg = default_config()
    rig = build_sim(cfg)
    ha = Observer(broker.port)
    with LiveSim(rig, speed=5.0) as sim:

        def build() -> tuple[Store, ScheduleBridge, MqttBridge]:
            # In the loop's thread, as in the daemon: SQLite stays in the thread it opened in.
            store = Store(tmp_path / "h.db")
            schedule = ScheduleBridge(rig.daemon, cfg, store)
            learning = LearningBridge(rig.daemon, cfg, store, lead_s=schedule.lead_s)
            bridge = MqttBridge(
                rig.daemon,
                MqttSettings("127.0.0.1", broker.port, client_id="zcw-test"),
                TOPICS,
                device_id=DEVICE,
                announced_file=tmp_path / "announced.json",
                commands=CalendarCommands(schedule, learning),
            )
            return store, schedule, bridge

        store, schedule, bridge = sim.do(build)
        sim.spawn(bridge.run(), close=bridge.close)
        sim.spawn(schedule.run(), close=schedule.close)
        ha.expect("zcw/availability", lambda p: p == b"online")
        state = json.loads(ha.expect("zcw/state"))
        assert state["learned_mode"] == "suggest" and state["next_preheat"] is None
        ha.publish(
            "zcw/set", '{"schedule": "add", "loop": "bathroom", "at": "06:50", "days": "daily"}'
        )
        ha.expect("zcw/state", lambda p: json.loads(p)["next_preheat"] is not None)
        ha.publish("zcw/set", '{"learned": "on"}')
        ha.expect("zcw/state", lambda p: json.loads(p)["learned_mode"] == "learned")
        ha.publish("zcw/set", '{"away": {"from": "2026-12-20", "to": "2026-12-01"}}')
        error = json.loads(ha.expect("zcw/event", event_is("command_rejected")))["error"]
        assert "ends (2026-12-01) before it starts" in error
        sim.do(store.close)
    ha.close()
    with Store(tmp_path / "h.db") as again:  # kept: what a restarted daemon starts from
        assert again.setting("schedule.runtime")["added"] == [
            {"loop": "bathroom", "at": "06:50", "days": "daily"}
        ]
