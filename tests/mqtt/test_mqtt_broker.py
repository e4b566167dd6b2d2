"""The MQTT bridge against a real mosquitto broker started by the test on loopback."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from zcw.adapters.mqtt_client import MqttSettings
from zcw.adapters.mqtt_payloads import CommandRejected, Topics, parse_command
from zcw.app.mqtt_bridge import MqttBridge
from zcw.app.sim import build_sim
from zcw.config import default_config
from zcw.testing.broker import PASSWORD, USERNAME, Broker, write_other_ca
from zcw.testing.live import LiveSim

TOPICS = Topics("zcw", "homeassistant")
DEVICE = "zcw_test"


class Observer:
    """A Home Assistant stand-in: a plain paho client that records everything it sees."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="ha")
        self.client.on_message = lambda _c, _u, m: self.messages.put(
            (m.topic, bytes(m.payload), bool(m.retain))
        )
        connected = threading.Event()
        self.client.on_connect = lambda *_a: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert connected.wait(5)
        self.client.subscribe("zcw/#", qos=1)
        self.client.subscribe("homeassistant/#", qos=1)

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def expect(self, topic: str, predicate: object = None, timeout_s: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                t, payload, _ = self.messages.get(timeout=0.1)
            except queue.Empty:
                continue
            if t == topic and (predicate is None or predicate(payload)):  # type: ignore[operator]
                return payload
        raise AssertionError(f"no message on {topic} within {timeout_s} s")

    def drain(self) -> None:
        while not self.messages.empty():
            self.messages.get_nowait()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def event_is(kind: str) -> object:
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
        sim.spawn(bridge.run())
        ha.expect("zcw/availability", lambda p: p == b"online")
        ha.expect("zcw/state")
        time.sleep(0.5)  # a couple of simulated sensor conversions
        ha.publish("zcw/set", "start")
        ha.expect("zcw/event", event_is("cycle_started"))
        ha.expect("zcw/state", lambda p: json.loads(p)["state"] == "heating")
        ha.expect("zcw/event", event_is("hot_ready"), timeout_s=30)
        sim.wait_for(lambda: not sim.rig.plant.flow_lpm, 10, "the pump to stop")
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
        sim.spawn(bridge.run())
        first = json.loads(ha.expect(TOPICS.device_config(DEVICE)))
        assert {"device", "origin", "components", "availability"} <= set(first)
        ha.drain()
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
        sim.spawn(bridge.run())
        comps = json.loads(ha.expect(TOPICS.device_config(DEVICE)))["components"]
    assert comps["temp_kitchen"] == {"platform": "sensor"}
    assert comps["start_kitchen"] == {"platform": "button"}
    ha.close()


def test_broker_restart_mid_cycle(broker: Broker, tmp_path: Path) -> None:
    sim, bridge = live(broker, tmp_path, speed=2.0)
    ha = Observer(broker.port)
    with sim:
        sim.spawn(bridge.run())
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
        assert state["last_cycle"]["outcome"] == "hot"
    ha.close()


def test_fuzzed_payloads_are_rejected_without_touching_relays(
    broker: Broker, tmp_path: Path
) -> None:
    sim, bridge = live(broker, tmp_path, speed=1.0)
    ha = Observer(broker.port)
    with sim:
        sim.spawn(bridge.run())
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
        sim.spawn(bridge.run())

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
        # still retrying with backoff (1 s, 2 s, …): a later attempt happens
        assert not bridge.link.connected


def test_good_credentials_and_tls_connect(broker: Broker, tmp_path: Path) -> None:
    for settings_ in (
        MqttSettings("127.0.0.1", broker.auth_port, username=USERNAME, password=PASSWORD),
        MqttSettings("127.0.0.1", broker.tls_port, tls_ca=broker.ca),
    ):
        sim, bridge = live(broker, tmp_path, settings_=settings_)
        with sim:
            sim.spawn(bridge.run())
            sim.wait_for(lambda b=bridge: b.link.connected, 10, "connection")  # type: ignore[misc]
        assert PASSWORD not in repr(settings_)
