"""Everything around the daemon that is real: two mosquitto brokers (one for Home Assistant,
one standing in for Bemfa's cloud), an emulated Mi Wi-Fi plug on 127.0.0.x, an MQTT client
playing Home Assistant, and a Bemfa client playing Mi Home. All run at wall-clock time."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from zcw.testing.broker import PASSWORD, USERNAME, Broker
from zcw.testing.miio_device import MiioDevice

PLUG_TOKEN = "00112233445566778899aabbccddeeff"
BEMFA_KEY = "soak0bemfa0private0key"
BEMFA_TOPIC = "zcw006"


class Watcher:
    """An MQTT client on a broker's anonymous listener: publishes commands, keeps what the
    daemon says (availability, events by type) without keeping every message."""

    def __init__(self, port: int, client_id: str, subscribe: tuple[str, ...]) -> None:
        self.lock = threading.Lock()
        self.availability = ""
        self.events: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()  # answer events by source, as MQTT saw them
        self.messages: Counter[str] = Counter()  # by topic
        self._subscribe = subscribe
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        for topic in self._subscribe:
            client.subscribe(topic, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages[msg.topic] += 1
            if msg.topic.endswith("/availability"):
                self.availability = msg.payload.decode(errors="replace")
            elif msg.topic.endswith("/event"):
                with contextlib.suppress(ValueError, AttributeError):
                    event = json.loads(msg.payload)
                    kind = str(event.get("event_type"))
                    self.events[kind] += 1
                    if kind in ("cycle_started", "joined", "already_hot", "rejected"):
                        self.answers[str(event.get("source"))] += 1

    @property
    def connected(self) -> bool:
        return bool(self.client.is_connected())

    def publish(self, topic: str, payload: str) -> bool:
        if not self.connected:
            return False
        info = self.client.publish(topic, payload, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


class World:
    """The brokers, the plug and the clients; started once per soak, faulted on demand."""

    def __init__(self, folder: Path) -> None:
        self.ha_broker = Broker(folder / "mqtt")
        self.bemfa_broker = Broker(folder / "bemfa")
        self.ha_broker.start()
        self.bemfa_broker.start()
        self.plug = MiioDevice(token=PLUG_TOKEN)
        self.plug.start()
        self.ha = Watcher(
            self.ha_broker.port, "soak-home-assistant", ("zcw/availability", "zcw/event")
        )
        self.mihome = Watcher(self.bemfa_broker.port, "soak-mi-home", (f"{BEMFA_TOPIC}/set",))
        self.wrong_password = False

    def config_toml(self) -> str:
        return f"""
[mqtt]
host = "127.0.0.1"
port = {self.ha_broker.auth_port}
username = "{USERNAME}"
password = "{PASSWORD}"

[[mihome.proxy]]
host = "{self.plug.host}"
name = "soak plug"
token = "{PLUG_TOKEN}"
kind = "miot"
loop = "near"
poll_s = 0.5

[mihome.bemfa]
topic = "{BEMFA_TOPIC}"
key = "{BEMFA_KEY}"
host = "127.0.0.1"
port = {self.bemfa_broker.port}
tls = false  # the broker's plain listener; tests/mihome/test_bemfa.py covers TLS
loop = "far"
"""

    # -- faults ---------------------------------------------------------------------------

    def kill_broker(self, which: str) -> None:
        broker = self.ha_broker if which == "ha" else self.bemfa_broker
        broker.stop()

    def start_broker(self, which: str) -> None:
        broker = self.ha_broker if which == "ha" else self.bemfa_broker
        broker.start()

    def set_password(self, wrong: bool) -> None:
        """The daemon's password stops (or starts again) being the broker's: a restart with
        another password file, as after a user changed it on the broker."""
        password = "not the daemon's password" if wrong else PASSWORD
        subprocess.run(
            ["mosquitto_passwd", "-b", str(self.ha_broker.folder / "passwd"), USERNAME, password],
            check=True,
            capture_output=True,
        )
        self.wrong_password = wrong
        self.ha_broker.restart()

    def close(self) -> None:
        for watcher in (self.ha, self.mihome):
            watcher.close()
        self.plug.close()
        self.ha_broker.stop()
        self.bemfa_broker.stop()
