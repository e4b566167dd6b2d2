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
    QOS,
    CommandRejected,
    EntityDescription,
    Topics,
    device_discovery,
    entity_descriptions,
    entity_discovery,
    parse_command,
)
from zcw.app.calendar_commands import CalendarCommands
from zcw.app.daemon import Daemon, Status
from zcw.app.history import Totals
from zcw.app.state_json import event_dict, status_dict
from zcw.domain.faults import Fault
from zcw.domain.model import Request, Source

log = logging.getLogger("zcw.mqtt")

STATE_EVERY_S = 60.0
# The state's totals when this daemon keeps no history: the energy sensors read unknown.
EMPTY_TOTALS: dict[str, Any] = {
    "energy_kwh": None,
    "water_l": None,
    "cycles_today": None,
    "loops": {},
}
DiscoveryStyle = Literal["device", "entity"]


class MqttBridge:
    """Connects one :class:`Daemon` to one broker.

    What a subscriber sees, in order, on every (re)connection: the fresh retained state,
    then the discovery, then ``online``. So Home Assistant never shows the state a dead run
    left retained (a pump "on" after a crash) as available, and never renders a new
    discovery's templates against an old state without its loops. At shutdown the final
    state (relays off) goes before ``offline``.
    """

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
        totals: Callable[[], Totals | None] | None = None,
        commands: CalendarCommands | None = None,
    ) -> None:
        self.daemon = daemon
        self._commands = commands
        self.topics = topics
        self.device_id = device_id
        self.discovery = discovery
        self._announced_file = announced_file
        self._wall = wall_clock
        self._totals = totals
        self._last_state: str | None = None
        self._last_state_at = 0.0
        # Set on (re)connection and on Home Assistant's birth: the next status publishes
        # state, discovery and (on connection) availability, in that order.
        self._handshake: Literal["online", "announce"] | None = None
        # Faults whose "fault" event reached the broker: only their fault_cleared is sent.
        self._faults_told: set[tuple[str, str | None]] = set()
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
        """The final state (the daemon has turned the relays off), then ``offline``."""
        status = self.daemon.status
        if status is not None and self.link.connected:
            self._publish_state(status, force=self._handshake is not None)
        await self.link.close()

    # -- outgoing -----------------------------------------------------------------------

    def _on_status(self, status: Status) -> None:
        if self._handshake is not None and self.link.connected:
            handshake, self._handshake = self._handshake, None
            if self._publish_state(status, force=True):
                self.announce()
                if handshake == "online":
                    self._publish(self.topics.availability, "online", retain=True)
            else:
                self._handshake = handshake  # not sent: try again at the next tick
            # This tick's events follow, so the event entity is available when they come.
            for event in status.events:
                self._publish_event(event_dict(event))
            return
        for event in status.events:
            self._publish_event(event_dict(event))
        self._publish_state(status)

    def state_payload(self, status: Status) -> str:
        totals = self._totals() if self._totals is not None else None
        state = status_dict(status, totals.as_dict() if totals is not None else EMPTY_TOTALS)
        if self._commands is not None:
            state.update(self._commands.summary())  # the learned switch, the next pre-heat
        return json.dumps(state, sort_keys=True)

    def _publish_state(self, status: Status, *, force: bool = False) -> bool:
        payload = self.state_payload(status)
        now = self._wall()
        # abs: after the wall clock jumps back the state still goes out every minute, which
        # Home Assistant needs to keep the entities available.
        stale = abs(now - self._last_state_at) >= STATE_EVERY_S
        due = force or payload != self._last_state or stale
        if not due:
            return True
        if self._publish(self.topics.state, payload, retain=True):
            self._last_state, self._last_state_at = payload, now
            return True
        return False

    def _publish_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event_type")
        key = (str(event.get("reason")), event.get("loop"))
        if kind == "fault_cleared" and key not in self._faults_told:
            # Its fault never reached the broker (raised during an outage): a lone
            # fault_cleared would tell of a fault nobody heard of. Neither is sent.
            return
        sent = self._publish(self.topics.event, json.dumps(event), qos=QOS)
        if kind == "fault":
            if sent:
                self._faults_told.add(key)
            else:
                self._faults_told.discard(key)
        elif kind == "fault_cleared":
            self._faults_told.discard(key)

    def _publish(self, topic: str, payload: str, *, retain: bool = False, qos: int = 0) -> bool:
        return self.link.publish(topic, payload, retain=retain, qos=QOS if retain else qos)

    def _on_link_state(self, connected: bool, problem: LinkProblem | None) -> None:
        controller = self.daemon.controller
        if connected:
            for code in ("mqtt_auth", "mqtt_tls", "mqtt_unreachable", "mqtt_refused"):
                controller.clear_external_fault(code)
            # Not now: the last status still shows the link's fault. The next tick's status
            # (within a tick) carries it cleared, and goes out before "online".
            self._handshake = "online"
            self._last_state = None
        elif problem is not None:
            controller.raise_external_fault(
                Fault(problem.code, problem.message, problem.hint, latching=False)
            )

    def entities(self) -> list[EntityDescription]:
        params = self.daemon.wiring.params
        return entity_descriptions(
            self.topics,
            params.loop_names,
            cold=[lp.name for lp in params.loops if lp.has_cold_sensor],
            heater_out=params.has_heater_out,
        )

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
            if payload.strip() == b"online" and self._handshake is None:
                # Home Assistant restarted: state, then discovery, at the next tick.
                self._handshake = "announce"
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
            self._reject(str(exc))
            return
        if cmd.action == "calendar":
            self._calendar(dict(cmd.calendar))
        elif cmd.action == "mode":
            self.daemon.submit(Request("mode", Source.MQTT, mode=cmd.mode))
        else:
            self.daemon.submit(Request(cmd.action, Source.MQTT, cmd.loop))

    def _calendar(self, edit: dict[str, str]) -> None:
        """A schedule, away or learned-mode edit: as `zcw schedule`/`zcw away` would do it;
        a refusal comes back as command_rejected, a change shows in the next state."""
        if self._commands is None:
            reply: dict[str, Any] = {"ok": False, "error": "this daemon runs without a scheduler"}
        elif edit["cmd"] == "learned":
            reply = self._commands.learned("learned", edit.get("state"))
        else:
            args = {k: v for k, v in edit.items() if k not in ("cmd", "op")}
            reply = self._commands.calendar(edit["cmd"], edit["op"], args)
        if not reply["ok"]:
            self._reject(reply["error"])
        else:  # the change shows in the next state payload (learned_mode, next_preheat)
            log.info("MQTT: %s", reply.get("note") or f"{edit['cmd']} {edit['op']}")

    def _reject(self, error: str) -> None:
        log.warning("MQTT command rejected: %s", error)
        self._publish_event(
            {"event_type": "command_rejected", "event": "command_rejected", "error": error}
        )
