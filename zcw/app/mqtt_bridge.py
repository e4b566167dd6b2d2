"""MQTT glue: state and events out, commands in, Home Assistant discovery.

It observes the daemon's :class:`Status` like every other observer, and reaches the core
only through :meth:`Daemon.submit`. An MQTT outage therefore never blocks local control:
the tick does not wait for the broker, and publishes are simply dropped while it is down.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from zcw import __version__
from zcw.adapters.mqtt_client import LinkProblem, MqttLink, MqttSettings
from zcw.adapters.mqtt_payloads import (
    CommandRejected,
    EntityDescription,
    Topics,
    device_discovery,
    entity_descriptions,
    entity_discovery,
    parse_command,
)
from zcw.app.daemon import Daemon, Status
from zcw.app.state_json import event_dict, status_dict
from zcw.domain.faults import Fault
from zcw.domain.model import Request, Source

log = logging.getLogger("zcw.mqtt")

STATE_EVERY_S = 60.0
DiscoveryStyle = Literal["device", "entity"]


class MqttBridge:
    """Connects one :class:`Daemon` to one broker."""

    def __init__(
        self,
        daemon: Daemon,
        settings: MqttSettings,
        topics: Topics,
        *,
        device_id: str,
        discovery: DiscoveryStyle = "device",
        announced_file: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.daemon = daemon
        self.topics = topics
        self.device_id = device_id
        self.discovery = discovery
        self._announced_file = announced_file
        self._wall = wall_clock
        self._last_state: str | None = None
        self._last_state_at = 0.0
        self.link = MqttLink(
            settings,
            will_topic=topics.availability,
            subscriptions=(topics.set, topics.ha_status),
            on_message=self._on_message,
            on_state=self._on_link_state,
        )
        daemon.observe(self._on_status)

    def __repr__(self) -> str:
        return f"MqttBridge({self.link!r}, base={self.topics.base!r})"

    async def run(self) -> None:
        await self.link.run()

    async def close(self) -> None:
        await self.link.close()

    # -- outgoing -----------------------------------------------------------------------

    def _on_status(self, status: Status) -> None:
        for event in status.events:
            self._publish_json(self.topics.event, event_dict(event))
        payload = json.dumps(status_dict(status), sort_keys=True)
        now = self._wall()
        due = payload != self._last_state or now - self._last_state_at >= STATE_EVERY_S
        if due and self._publish(self.topics.state, payload, retain=True):
            self._last_state, self._last_state_at = payload, now

    def _publish(self, topic: str, payload: str, *, retain: bool = False) -> bool:
        return self.link.publish(topic, payload, retain=retain, qos=1 if retain else 0)

    def _publish_json(self, topic: str, obj: dict[str, Any]) -> None:
        self._publish(topic, json.dumps(obj))

    def _on_link_state(self, connected: bool, problem: LinkProblem | None) -> None:
        controller = self.daemon.controller
        if connected:
            for code in ("mqtt_auth", "mqtt_tls", "mqtt_unreachable", "mqtt_refused"):
                controller.clear_external_fault(code)
            self._publish(self.topics.availability, "online", retain=True)
            self.announce()
            self._last_state = None  # re-publish the state at the next tick
        elif problem is not None:
            controller.raise_external_fault(
                Fault(problem.code, problem.message, problem.hint, latching=False)
            )

    def entities(self) -> list[EntityDescription]:
        params = self.daemon.wiring.params
        sensors = [(lp.name, f"value_json.loops.{lp.name}.temp_c") for lp in params.loops]
        sensors += [
            (f"{lp.name}_cold", f"value_json.loops.{lp.name}.cold_c")
            for lp in params.loops
            if lp.has_cold_sensor
        ]
        if params.has_heater_out:
            sensors.append(("heater_out", "value_json.heater_out_c"))
        return entity_descriptions(self.topics, params.loop_names, sensors)

    def announce(self) -> None:
        """Publish discovery (retained), removing entities that disappeared from the config."""
        entities = self.entities()
        current = {e.key: e.platform for e in entities}
        previous = self._load_announced()
        removed = [(k, p) for k, p in previous.items() if k not in current]
        if self.discovery == "device":
            payload = device_discovery(
                self.topics, self.device_id, __version__, entities, removed=removed
            )
            self._publish(
                self.topics.device_config(self.device_id), json.dumps(payload), retain=True
            )
        else:
            for e in entities:
                topic = self.topics.entity_config(e.platform, self.device_id, e.key)
                body = entity_discovery(self.topics, self.device_id, __version__, e)
                self._publish(topic, json.dumps(body), retain=True)
            for key, platform in removed:
                # An empty retained config removes a per-entity discovered entity.
                self._publish(
                    self.topics.entity_config(platform, self.device_id, key), "", retain=True
                )
        self._save_announced(current)
        log.info(
            "Home Assistant discovery announced (%d entities, %s)", len(entities), self.discovery
        )

    def _load_announced(self) -> dict[str, str]:
        if self._announced_file is None or not self._announced_file.exists():
            return {}
        try:
            data = json.loads(self._announced_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save_announced(self, current: dict[str, str]) -> None:
        if self._announced_file is None:
            return
        try:
            self._announced_file.parent.mkdir(parents=True, exist_ok=True)
            self._announced_file.write_text(json.dumps(current, sort_keys=True))
        except OSError as exc:
            log.warning(
                "could not remember announced entities in %s: %s", self._announced_file, exc
            )

    # -- incoming -----------------------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic == self.topics.ha_status:
            if payload.strip() == b"online":  # Home Assistant restarted: announce again
                self.announce()
                self._last_state = None
            return
        if topic != self.topics.set:
            return
        try:
            cmd = parse_command(
                payload,
                loops=self.daemon.wiring.params.loop_names,
                now_unix_s=self._wall(),
                retained=retained,
            )
        except CommandRejected as exc:
            log.warning("MQTT command rejected: %s", exc)
            self._publish_json(self.topics.event, {"event": "command_rejected", "error": str(exc)})
            return
        if cmd.action == "mode":
            self.daemon.submit(Request("mode", Source.MQTT, mode=cmd.mode))
        else:
            self.daemon.submit(Request(cmd.action, Source.MQTT, cmd.loop))
