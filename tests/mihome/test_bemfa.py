"""The Bemfa switch against a local mosquitto standing in for Bemfa's cloud on loopback.

zcw talks to the broker's TLS listener (a CA of its own, ``zcw.testing.broker``) as it talks
to Bemfa by default, or to its plain listener with ``tls = false``; the stand-in for Mi Home
uses the plain one (one broker, one topic tree). What mosquitto cannot show: Bemfa delivers
a message published to ``<topic>/set`` to the topic's other subscribers (Mi Home) and not
back to the publisher. Here the stand-in for Mi Home listens on ``<topic>/set`` itself, and
zcw must not react to its own ``off``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from conftest import live, sim_config
from paho.mqtt.enums import CallbackAPIVersion

from zcw.testing.broker import Broker, free_port, write_other_ca

KEY = "4d9ce1aa36cb4f0b8a2e7b3f1c6d5e09"  # looks like a Bemfa private key
TOPIC = "zcw006"


class MiHome:
    """Mi Home / XiaoAI's side of the Bemfa switch: publishes on/off, hears zcw's state."""

    def __init__(self, port: int) -> None:
        self.heard: list[bytes] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="mi")

        def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.heard.append(bytes(m.payload))

        self.client.on_message = on_message
        connected = threading.Event()
        self.client.on_connect = lambda *_a: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert connected.wait(5)
        self.client.subscribe(f"{TOPIC}/set", qos=1)

    def say(self, payload: str, *, retain: bool = False) -> None:
        self.client.publish(TOPIC, payload, qos=1, retain=retain).wait_for_publish(5)

    def offs(self) -> int:
        with self._lock:
            return self.heard.count(b"off")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path / "broker") as b:
        yield b


def bemfa(port: int, **keys: object) -> dict[str, object]:
    """[mihome.bemfa] for a broker on loopback: plain MQTT unless ``tls`` is given."""
    table = {"topic": TOPIC, "key": KEY, "host": "127.0.0.1", "port": port, "tls": False}
    return {"bemfa": table | keys}


def broker_log(broker: Broker) -> str:
    return (broker.folder / "mosquitto.log").read_text()


def test_on_starts_a_cycle_and_off_comes_back_at_its_end(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mi = MiHome(broker.port)
    with caplog.at_level(logging.INFO), live(sim_config(tmp_path, bemfa(broker.port))) as lv:
        lv.wait(lambda: "as " + KEY in (broker.folder / "mosquitto.log").read_text(), 10, "login")
        time.sleep(0.3)  # subscribed
        mi.say("on")  # "小爱同学，打开零冷水"
        lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 5, "cycle_started")
        lv.wait(lambda: bool(lv.events("hot_ready")), 20, "hot_ready")
        lv.wait(lambda: mi.offs() == 1, 5, "off on zcw006/set")
        time.sleep(0.5)
        assert len(lv.events("cycle_started")) == 1 and not lv.events("cycle_stopped")
        status = lv.sim.daemon.status
        assert status is not None and status.snapshot.last_cycle is not None
        assert status.snapshot.last_cycle.source == "mihome"
    mi.close()
    assert KEY not in caplog.text  # the key is the client id, and never logged by zcw


def test_off_stops_and_a_retained_on_is_not_obeyed(broker: Broker, tmp_path: Path) -> None:
    mi = MiHome(broker.port)
    mi.say("on", retain=True)  # left over from before zcw connected
    with live(sim_config(tmp_path, bemfa(broker.port)), speed=1) as lv:
        lv.wait(lambda: mi.offs() == 1, 10, "zcw answers a stale on with off")
        assert not lv.events("cycle_started")
        mi.say("", retain=True)  # clear the retained message
        mi.say("on")
        lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 5, "cycle_started")
        mi.say("off")  # "小爱同学，关闭零冷水"
        lv.wait(lambda: bool(lv.events("cycle_stopped", "mihome")), 5, "cycle_stopped")
        lv.wait(lambda: mi.offs() == 2, 5, "off once the cycle is over")
    mi.close()


def test_bemfa_unreachable_is_a_fault_and_blocks_nothing(tmp_path: Path) -> None:
    with live(sim_config(tmp_path, bemfa(free_port())), speed=5) as lv:
        lv.wait(lambda: lv.fault("bemfa_unreachable") is not None, 10, "fault")
        fault = lv.fault("bemfa_unreachable")
        assert fault is not None and "127.0.0.1" in fault.message and not fault.latching
        assert KEY not in fault.message + fault.hint
        time.sleep(0.3)
        lv.sim.do(lambda: lv.rig.hardware.press(0))
        lv.wait(lambda: bool(lv.events("cycle_started", "button")), 5, "the button")


def test_over_tls_on_starts_a_cycle_and_off_comes_back_at_its_end(
    broker: Broker, tmp_path: Path
) -> None:
    mi = MiHome(broker.port)
    tls = bemfa(broker.tls_port, tls=True, ca_file=str(broker.ca))
    with live(sim_config(tmp_path, tls)) as lv:
        lv.wait(lambda: "as " + KEY in broker_log(broker), 10, "login")
        # mosquitto logs the listener a connection came in on before the client's id.
        log = broker_log(broker)
        assert f"on port {broker.tls_port}" in log.split("as " + KEY)[0].splitlines()[-2]
        time.sleep(0.3)  # subscribed
        mi.say("on")
        lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 5, "cycle_started")
        lv.wait(lambda: bool(lv.events("hot_ready")), 20, "hot_ready")
        lv.wait(lambda: mi.offs() == 1, 5, "off on zcw006/set, published over TLS")
        assert lv.fault("bemfa_tls") is None and lv.fault("bemfa_unreachable") is None
        assert len(lv.events("cycle_started")) == 1
    mi.close()


@pytest.mark.parametrize("trust", ["another CA", "the system's CAs"])
def test_a_certificate_that_does_not_verify_is_a_fault_and_the_key_stays_home(
    broker: Broker, tmp_path: Path, trust: str
) -> None:
    ca = {"ca_file": str(write_other_ca(tmp_path))} if trust == "another CA" else {}
    with live(sim_config(tmp_path, bemfa(broker.tls_port, tls=True, **ca)), speed=5) as lv:
        lv.wait(lambda: lv.fault("bemfa_tls") is not None, 10, "the TLS fault")
        fault = lv.fault("bemfa_tls")
        assert fault is not None and not fault.latching
        assert (
            "does not verify" in fault.message and f"127.0.0.1:{broker.tls_port}" in fault.message
        )
        assert ("ca_file" in fault.message) == (trust == "another CA")
        assert "tls = false" in fault.hint and KEY not in fault.message + fault.hint
        time.sleep(0.3)
        lv.sim.do(lambda: lv.rig.hardware.press(0))  # and it blocks nothing
        lv.wait(lambda: bool(lv.events("cycle_started", "button")), 5, "the button")
    assert KEY not in broker_log(broker)  # the key never went out


def test_tls_to_a_plain_port_says_which_port_is_bemfas_tls_port(
    broker: Broker, tmp_path: Path
) -> None:
    with live(sim_config(tmp_path, bemfa(broker.port, tls=True)), speed=5) as lv:
        lv.wait(lambda: lv.fault("bemfa_tls") is not None, 10, "the TLS fault")
        fault = lv.fault("bemfa_tls")
        assert fault is not None and "No TLS session" in fault.message and "9503" in fault.hint
    assert KEY not in broker_log(broker)
