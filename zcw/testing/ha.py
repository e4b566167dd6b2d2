"""A Home Assistant stand-in for tests: a plain paho client that records every message in order.

It subscribes to zcw's topics and to the discovery prefix, and keeps ``(topic, payload,
retained)`` in arrival order, so a test can assert what a subscriber received and in which
order (state before discovery before ``online``), the way Home Assistant receives it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

Message = tuple[str, bytes, bool]
Predicate = Callable[[bytes], bool]


class Observer:
    """Connects at once; ``expect()`` waits for a matching message after the last matched."""

    def __init__(
        self,
        port: int,
        *,
        client_id: str = "ha",
        topics: tuple[str, ...] = ("zcw/#", "homeassistant/#"),
    ) -> None:
        self.log: list[Message] = []
        self._cursor: dict[str, int] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id
        )

        def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.log.append((m.topic, bytes(m.payload), bool(m.retain)))

        self.client.on_message = on_message
        connected = threading.Event()
        self.client.on_connect = lambda *_a: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not connected.wait(5):
            raise AssertionError("the observer could not connect to the broker")
        for topic in topics:
            self.client.subscribe(topic, qos=1)

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def expect(
        self, topic: str, predicate: Predicate | None = None, timeout_s: float = 10.0
    ) -> bytes:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                start = self._cursor.get(topic, 0)
                for i in range(start, len(self.log)):
                    t, payload, _ = self.log[i]
                    if t == topic and (predicate is None or predicate(payload)):
                        self._cursor[topic] = i + 1
                        return payload
            time.sleep(0.01)
        raise AssertionError(f"no matching message on {topic} within {timeout_s} s")

    def skip_past(self) -> int:
        """Only messages from now on count for later expect() calls; returns the log index."""
        with self._lock:
            self._cursor = dict.fromkeys({t for t, _, _ in self.log}, len(self.log))
            return len(self.log)

    def since(self, index: int) -> list[Message]:
        with self._lock:
            return list(self.log[index:])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def first_index(
    messages: list[Message], topic: str, predicate: Predicate | None = None
) -> int | None:
    """Index of the first message on ``topic`` (matching ``predicate``), or None."""
    for i, (t, payload, _) in enumerate(messages):
        if t == topic and (predicate is None or predicate(payload)):
            return i
    return None
