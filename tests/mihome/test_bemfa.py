"""The Bemfa switch against a local mosquitto standing in for Bemfa's cloud on loopback.

What mosquitto cannot show: Bemfa delivers a message published to ``<topic>/set`` to the
topic's other subscribers (Mi Home) and not back to the publisher. Here the stand-in for
Mi Home listens on ``<topic>/set`` itself, and zcw must not react to its own ``off``.
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

from zcw.testing.broker import Broker, free_port

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


def bemfa(port: int) -> dict[str, object]:
    return {"bemfa": {"topic": TOPIC, "key": KEY, "host": "127.0.0.1", "port": port}}


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
