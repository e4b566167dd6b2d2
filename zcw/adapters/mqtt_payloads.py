"""MQTT wire formats, pure: topics, strict command parsing, Home Assistant discovery payloads.

No I/O here, so every payload has test vectors. Raw examples::

    zcw/set  ← start
    zcw/set  ← {"action": "start", "loop": "bathroom"}
    zcw/set  ← {"mode": "away"}
    zcw/event → {"event": "command_rejected", "error": "unknown action 'boil'; expected ..."}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

MAX_COMMAND_BYTES = 512
# A command carrying a timestamp older than this is stale: it waited in some queue while
# the house changed (PRODUCT: a "start" queued during an outage must not fire hours later).
STALE_AFTER_S = 60.0
ACTIONS = ("start", "stop", "reset")
MODES = ("auto", "away")
COMMAND_KEYS = ("action", "loop", "mode", "ts")
# Temperature entities go "unavailable" in Home Assistant when no state arrives for this
# long; state is published at least every 60 s, so three missed publishes.
EXPIRE_AFTER_S = 180


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic zcw uses, derived from ``base_topic`` and ``discovery_prefix``."""

    base: str = "zcw"
    discovery_prefix: str = "homeassistant"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def set(self) -> str:
        return f"{self.base}/set"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def device_config(self, device_id: str) -> str:
        return f"{self.discovery_prefix}/device/{device_id}/config"

    def entity_config(self, platform: str, device_id: str, object_key: str) -> str:
        return f"{self.discovery_prefix}/{platform}/{device_id}/{object_key}/config"


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed, valid command."""

    action: Literal["start", "stop", "reset", "mode"]
    loop: str | None = None
    mode: Literal["auto", "away"] | None = None


class CommandRejected(ValueError):
    """A command that is not valid; the message says why and what is expected."""


def parse_command(
    payload: bytes,
    *,
    loops: Sequence[str],
    now_unix_s: float,
    retained: bool = False,
) -> Command:
    """Parse a ``zcw/set`` payload strictly, or raise :class:`CommandRejected`."""
    if retained:
        raise CommandRejected(
            "retained command ignored: commands must be published with retain=false, "
            "or a stale start would fire at every reconnect"
        )
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected(f"payload too large ({len(payload)} bytes > {MAX_COMMAND_BYTES})")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise CommandRejected("payload is not UTF-8 text") from exc
    if text.lower() in ACTIONS:
        return Command(action=text.lower())  # type: ignore[arg-type]
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise CommandRejected(
            f"not a command: expected start, stop, reset or a JSON object, got {text[:40]!r}"
        ) from exc
    if not isinstance(obj, dict):
        raise CommandRejected(f"expected a JSON object, got {type(obj).__name__}")
    return _command_from_obj(obj, loops=loops, now_unix_s=now_unix_s)


def _command_from_obj(obj: dict[str, Any], *, loops: Sequence[str], now_unix_s: float) -> Command:
    unknown = sorted(set(obj) - set(COMMAND_KEYS))
    if unknown:
        raise CommandRejected(f"unknown key {unknown[0]!r}; allowed: {', '.join(COMMAND_KEYS)}")
    if "ts" in obj:
        ts = obj["ts"]
        if isinstance(ts, bool) or not isinstance(ts, int | float):
            raise CommandRejected("'ts' must be a number (unix seconds)")
        age = now_unix_s - float(ts)
        if age > STALE_AFTER_S:
            raise CommandRejected(f"stale command: sent {age:.0f} s ago (> {STALE_AFTER_S:.0f} s)")
    loop = obj.get("loop")
    if loop is not None:
        if not isinstance(loop, str):
            raise CommandRejected(f"'loop' must be a string, got {type(loop).__name__}")
        if loop not in loops:
            raise CommandRejected(f"unknown loop {loop!r}; known loops: {', '.join(loops)}")
    if "mode" in obj:
        if "action" in obj:
            raise CommandRejected("give either 'action' or 'mode', not both")
        mode = obj["mode"]
        if mode not in MODES:
            raise CommandRejected(f"unknown mode {mode!r}; expected one of: {', '.join(MODES)}")
        return Command(action="mode", mode=mode)
    action = obj.get("action")
    if not isinstance(action, str):
        raise CommandRejected("missing 'action' (start, stop or reset) or 'mode'")
    if action not in ACTIONS:
        raise CommandRejected(f"unknown action {action!r}; expected one of: {', '.join(ACTIONS)}")
    return Command(action=action, loop=loop)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True, slots=True)
class EntityDescription:
    """One Home Assistant entity, declared as data (Home Assistant's own pattern)."""

    key: str
    platform: str
    name: str
    fields: tuple[tuple[str, Any], ...]


def entity_descriptions(
    topics: Topics, loops: Sequence[str], sensors: Sequence[tuple[str, str]]
) -> list[EntityDescription]:
    """Every entity zcw exposes. ``sensors`` is ``(key, template path)`` per temperature."""
    out: list[EntityDescription] = []
    for loop in loops:
        press = json.dumps({"action": "start", "loop": loop})
        out.append(
            EntityDescription(
                f"start_{loop}",
                "button",
                f"Start {loop}",
                (
                    ("command_topic", topics.set),
                    ("payload_press", press),
                    ("icon", "mdi:water-pump"),
                ),
            )
        )
    out.append(
        EntityDescription(
            "stop",
            "button",
            "Stop",
            (("command_topic", topics.set), ("payload_press", json.dumps({"action": "stop"}))),
        )
    )
    for key, path in sensors:
        out.append(
            EntityDescription(
                f"temp_{key}",
                "sensor",
                f"Temperature {key.replace('_', ' ')}",
                (
                    ("state_topic", topics.state),
                    ("value_template", f"{{{{ {path} }}}}"),
                    ("device_class", "temperature"),
                    ("unit_of_measurement", "°C"),
                    ("state_class", "measurement"),
                    ("expire_after", EXPIRE_AFTER_S),
                ),
            )
        )
    out.append(_binary("pump", "Pump", "running", "value_json.pump", topics))
    for loop in loops:
        out.append(
            _binary(
                f"valve_{loop}",
                f"Valve {loop}",
                "opening",
                f"value_json.loops.{loop}.valve",
                topics,
            )
        )
    out.append(_binary("problem", "Problem", "problem", "value_json.fault", topics))
    out.append(
        EntityDescription(
            "mode",
            "select",
            "Mode",
            (
                ("command_topic", topics.set),
                ("command_template", '{"mode": "{{ value }}"}'),
                ("state_topic", topics.state),
                ("value_template", "{{ value_json.mode }}"),
                ("options", list(MODES)),
            ),
        )
    )
    return out


def _binary(key: str, name: str, device_class: str, expr: str, topics: Topics) -> EntityDescription:
    return EntityDescription(
        key,
        "binary_sensor",
        name,
        (
            ("state_topic", topics.state),
            ("value_template", f"{{{{ 'ON' if {expr} else 'OFF' }}}}"),
            ("device_class", device_class),
        ),
    )


def device_block(device_id: str, version: str) -> dict[str, Any]:
    return {
        "identifiers": [device_id],
        "name": "zcw hot water",
        "manufacturer": "zcw",
        "model": "zero cold water controller",
        "sw_version": version,
    }


def origin_block(version: str) -> dict[str, Any]:
    return {
        "name": "zcw",
        "sw_version": version,
        "support_url": "https://github.com/zcw-project/zcw",
    }


def component(entity: EntityDescription, device_id: str) -> dict[str, Any]:
    # No object_id: it is deprecated; Home Assistant derives entity ids from the name.
    comp: dict[str, Any] = {
        "platform": entity.platform,
        "unique_id": f"{device_id}_{entity.key}",
        "name": entity.name,
    }
    comp.update(dict(entity.fields))
    return comp


def device_discovery(
    topics: Topics,
    device_id: str,
    version: str,
    entities: Sequence[EntityDescription],
    *,
    removed: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The device-based discovery payload (Home Assistant ≥ 2024.12).

    ``removed`` lists ``(key, platform)`` of entities announced before and gone now: Home
    Assistant removes a component when its config is reduced to the platform alone.
    """
    components = {e.key: component(e, device_id) for e in entities}
    for key, platform in removed:
        components.setdefault(key, {"platform": platform})
    return {
        "device": device_block(device_id, version),
        "origin": origin_block(version),
        "availability": [{"topic": topics.availability}],
        "components": components,
        "qos": 1,
    }


def entity_discovery(
    topics: Topics, device_id: str, version: str, entity: EntityDescription
) -> dict[str, Any]:
    """The older per-entity payload, for Home Assistant before 2024.12."""
    payload = component(entity, device_id)
    payload.pop("platform")
    payload["device"] = device_block(device_id, version)
    payload["origin"] = origin_block(version)
    payload["availability_topic"] = topics.availability
    return payload
