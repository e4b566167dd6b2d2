"""MQTT wire formats, pure: topics, strict command parsing, Home Assistant discovery payloads.

No I/O here, so every payload has test vectors. Raw examples::

    zcw/set  ← start
    zcw/set  ← {"action": "start", "loop": "bathroom"}
    zcw/set  ← {"mode": "away"}
    zcw/event → {"event_type": "command_rejected", "event": "command_rejected",
                 "error": "unknown action 'boil'; expected ..."}
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from zcw.domain.model import EventKind

MAX_COMMAND_BYTES = 512
# A command carrying a timestamp older than this is stale: it waited in some queue while
# the house changed: a "start" queued during an outage must not fire hours later.
STALE_AFTER_S = 60.0
ACTIONS = ("start", "stop", "reset")
MODES = ("auto", "away")
COMMAND_KEYS = ("action", "loop", "mode", "ts")
# Run-time calendar edits on zcw/set, as `zcw schedule` / `zcw away` take them:
#   {"schedule": "add", "loop": "bathroom", "at": "06:50", "days": "mon-fri"}
#   {"schedule": "remove", "id": "bathroom@06:50/mon-fri"}     {"schedule": "reset"}
#   {"away": {"from": "2026-12-20", "to": "2027-01-03"}}       {"away": "clear"}
#   {"learned": "on" | "off" | "default"}
CALENDAR_KEYS = ("schedule", "away", "learned", "loop", "at", "days", "id", "ts")
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
    """A parsed, valid command. ``calendar`` carries a run-time calendar edit:
    ``{"cmd": "schedule"|"away"|"learned", "op": …, …}`` (see CALENDAR_KEYS)."""

    action: Literal["start", "stop", "reset", "mode", "calendar"]
    loop: str | None = None
    mode: Literal["auto", "away"] | None = None
    calendar: tuple[tuple[str, str], ...] = ()


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


def _calendar_command(obj: dict[str, Any]) -> Command:
    unknown = sorted(set(obj) - set(CALENDAR_KEYS))
    if unknown:
        raise CommandRejected(f"unknown key {unknown[0]!r}; allowed: {', '.join(CALENDAR_KEYS)}")
    given = [k for k in ("schedule", "away", "learned") if k in obj]
    if len(given) != 1:
        raise CommandRejected("give one of 'schedule', 'away' or 'learned'")
    kind = given[0]
    value = obj[kind]
    fields = {k: v for k, v in obj.items() if k in ("loop", "at", "days", "id")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise CommandRejected("'loop', 'at', 'days' and 'id' must be strings")
    if kind == "schedule" and value in ("add", "remove", "reset", "list"):
        return Command("calendar", calendar=(("cmd", "schedule"), ("op", value), *fields.items()))
    if kind == "away" and value == "clear":
        return Command("calendar", calendar=(("cmd", "away"), ("op", "clear")))
    if kind == "away" and isinstance(value, dict) and set(value) == {"from", "to"}:
        first, last = str(value["from"]), str(value["to"])
        return Command(
            "calendar", calendar=(("cmd", "away"), ("op", "add"), ("from", first), ("to", last))
        )
    if kind == "learned" and value in ("on", "off", "default"):
        return Command(
            "calendar", calendar=(("cmd", "learned"), ("op", "learned"), ("state", value))
        )
    raise CommandRejected(
        f"bad {kind!r} value {value!r}: expected schedule add|remove|reset, away "
        '{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"} or "clear", learned on|off|default'
    )


def _command_from_obj(obj: dict[str, Any], *, loops: Sequence[str], now_unix_s: float) -> Command:
    if any(k in obj for k in ("schedule", "away", "learned")):
        _check_ts(obj, now_unix_s)
        return _calendar_command(obj)
    unknown = sorted(set(obj) - set(COMMAND_KEYS))
    if unknown:
        raise CommandRejected(f"unknown key {unknown[0]!r}; allowed: {', '.join(COMMAND_KEYS)}")
    _check_ts(obj, now_unix_s)
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


def _check_ts(obj: dict[str, Any], now_unix_s: float) -> None:
    if "ts" in obj:
        ts = obj["ts"]
        if isinstance(ts, bool) or not isinstance(ts, int | float):
            raise CommandRejected("'ts' must be a number (unix seconds)")
        age = now_unix_s - float(ts)
        if age > STALE_AFTER_S:
            raise CommandRejected(f"stale command: sent {age:.0f} s ago (> {STALE_AFTER_S:.0f} s)")


# --------------------------------------------------------------------------- events

# Every event type zcw/event carries: the core's kinds, plus the MQTT adapter's own
# ``command_rejected``. Derived from the core's EventKind, so a new kind is announced as is.
EVENT_TYPES: tuple[str, ...] = (*get_args(EventKind), "command_rejected")


# --------------------------------------------------------------------------- discovery

DEVICE_NAME = "zcw hot water"
QOS = 1  # Home Assistant does not pass a device-level qos to the components: set per component


@dataclass(frozen=True, slots=True)
class EntityDescription:
    """One Home Assistant entity, declared as data (Home Assistant's own pattern)."""

    key: str
    platform: str
    name: str
    fields: tuple[tuple[str, Any], ...]

    @property
    def entity_id(self) -> str:
        """The entity id Home Assistant derives from the device's and the entity's names."""
        return f"{self.platform}.{slugify(f'{DEVICE_NAME} {self.name}')}"

    @property
    def templates(self) -> dict[str, str]:
        """Every Jinja template this entity renders against a state or event payload."""
        return {k: v for k, v in self.fields if k.endswith("_template") and k != "command_template"}


def slugify(text: str) -> str:
    """Home Assistant's entity-id slug, for the names zcw uses (ASCII words)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# Templates read the state defensively: a loop or a field the state does not (yet) carry
# renders "None", which Home Assistant takes as unknown, never as a template error. The state
# retained from an older run may lack a loop that a new discovery already names.
def _loop_field(loop: str, field_: str) -> str:
    return f"{{{{ value_json.loops.get('{loop}', {{}}).get('{field_}') }}}}"


def _top_field(*path: str) -> str:
    expr = "value_json"
    for part in path[:-1]:
        expr = f"({expr}.get('{part}') or {{}})"
    return f"{{{{ {expr}.get('{path[-1]}') }}}}"


def _on_off(expr: str) -> str:
    """ON/OFF from a value that may be missing (None: unknown)."""
    return f"{{% set v = {expr} %}}{{{{ 'None' if v is none else ('ON' if v else 'OFF') }}}}"


def _button(
    key: str, name: str, press: dict[str, str], topics: Topics, **extra: Any
) -> EntityDescription:
    return EntityDescription(
        key,
        "button",
        name,
        (
            ("command_topic", topics.set),
            ("payload_press", json.dumps(press)),
            ("qos", QOS),
            *extra.items(),
        ),
    )


def _sensor(key: str, name: str, template: str, topics: Topics, **extra: Any) -> EntityDescription:
    return EntityDescription(
        key,
        "sensor",
        name,
        (("state_topic", topics.state), ("value_template", template), ("qos", QOS), *extra.items()),
    )


def _binary(key: str, name: str, template: str, topics: Topics, **extra: Any) -> EntityDescription:
    return EntityDescription(
        key,
        "binary_sensor",
        name,
        (("state_topic", topics.state), ("value_template", template), ("qos", QOS), *extra.items()),
    )


def _temperature(key: str, name: str, template: str, topics: Topics) -> EntityDescription:
    return _sensor(
        key,
        name,
        template,
        topics,
        device_class="temperature",
        unit_of_measurement="°C",
        state_class="measurement",
        suggested_display_precision=1,
        expire_after=EXPIRE_AFTER_S,
    )


def _energy(key: str, name: str, template: str, topics: Topics) -> EntityDescription:
    # kWh, total_increasing: what Home Assistant's Energy dashboard takes.
    return _sensor(
        key,
        name,
        template,
        topics,
        device_class="energy",
        unit_of_measurement="kWh",
        state_class="total_increasing",
        suggested_display_precision=2,
    )


def _water(key: str, name: str, template: str, topics: Topics) -> EntityDescription:
    return _sensor(
        key,
        name,
        template,
        topics,
        device_class="water",
        unit_of_measurement="L",
        state_class="total_increasing",
        suggested_display_precision=1,
    )


def entity_descriptions(
    topics: Topics,
    loops: Sequence[str],
    *,
    cold: Sequence[str] = (),
    heater_out: bool = False,
) -> list[EntityDescription]:
    """Every entity zcw exposes, in the order of the README's table.

    ``cold`` names the loops with a cold-line sensor; ``heater_out`` says whether the heater
    has an outlet sensor. Keys are stable: they make the unique ids, so renaming one would
    orphan the entity in Home Assistant.
    """
    out: list[EntityDescription] = []
    # -- controls
    for loop in loops:
        out.append(
            _button(
                f"start_{loop}",
                f"Start {loop}",
                {"action": "start", "loop": loop},
                topics,
                icon="mdi:water-pump",
            )
        )
    out.append(_button("stop", "Stop", {"action": "stop"}, topics, icon="mdi:stop"))
    out.append(
        _button("reset", "Reset faults", {"action": "reset"}, topics, icon="mdi:restore-alert")
    )
    out.append(
        EntityDescription(
            "mode",
            "select",
            "Mode",
            (
                ("command_topic", topics.set),
                ("command_template", '{"mode": "{{ value }}"}'),
                ("state_topic", topics.state),
                ("value_template", _top_field("mode")),
                ("options", list(MODES)),
                ("qos", QOS),
            ),
        )
    )
    out.append(
        EntityDescription(
            "learned",
            "switch",
            "Learned pre-heat",
            (
                ("command_topic", topics.set),
                ("payload_on", json.dumps({"learned": "on"})),
                ("payload_off", json.dumps({"learned": "off"})),
                ("state_topic", topics.state),
                ("value_template", _on_off("value_json.get('learned_mode') == 'learned'")),
                ("state_on", "ON"),
                ("state_off", "OFF"),
                ("qos", QOS),
                ("icon", "mdi:calendar-clock"),
            ),
        )
    )
    out.append(
        _sensor(
            "next_preheat",
            "Next pre-heat",
            "{{ value_json.get('next_preheat') }}",
            topics,
            device_class="timestamp",
            icon="mdi:calendar-arrow-right",
        )
    )
    # -- what zcw sees and does
    for loop in loops:
        out.append(
            _temperature(f"temp_{loop}", f"Temperature {loop}", _loop_field(loop, "temp_c"), topics)
        )
    for loop in cold:
        out.append(
            _temperature(
                f"temp_{loop}_cold", f"Temperature {loop} cold", _loop_field(loop, "cold_c"), topics
            )
        )
    if heater_out:
        out.append(
            _temperature(
                "temp_heater_out", "Temperature heater out", _top_field("heater_out_c"), topics
            )
        )
    out.append(
        _binary("pump", "Pump", _on_off("value_json.get('pump')"), topics, device_class="running")
    )
    for loop in loops:
        out.append(
            _binary(
                f"valve_{loop}",
                f"Valve {loop}",
                _on_off(f"value_json.loops.get('{loop}', {{}}).get('valve')"),
                topics,
                device_class="opening",
            )
        )
    out.append(
        _binary(
            "problem",
            "Problem",
            "{{ 'ON' if value_json.get('fault') else 'OFF' }}",
            topics,
            device_class="problem",
            json_attributes_topic=topics.state,
            json_attributes_template="{{ (value_json.get('fault') or {}) | tojson }}",
        )
    )
    out.append(
        EntityDescription(
            "event",
            "event",
            "Event",
            (
                ("state_topic", topics.event),
                ("event_types", list(EVENT_TYPES)),
                ("qos", QOS),
                ("icon", "mdi:water-boiler"),
            ),
        )
    )
    # -- energy and water, from the history store's cycles (never going backwards)
    out.append(_energy("energy", "Energy", _top_field("totals", "energy_kwh"), topics))
    for loop in loops:
        out.append(
            _energy(
                f"energy_{loop}",
                f"Energy {loop}",
                f"{{{{ ((value_json.get('totals') or {{}}).get('loops') or {{}})"
                f".get('{loop}', {{}}).get('energy_kwh') }}}}",
                topics,
            )
        )
    out.append(_water("water", "Water", _top_field("totals", "water_l"), topics))
    for loop in loops:
        out.append(
            _water(
                f"water_{loop}",
                f"Water {loop}",
                f"{{{{ ((value_json.get('totals') or {{}}).get('loops') or {{}})"
                f".get('{loop}', {{}}).get('water_l') }}}}",
                topics,
            )
        )
    # -- diagnostics
    diag = {"entity_category": "diagnostic"}
    out.append(
        _sensor(
            "last_time_to_hot",
            "Last time to hot",
            _top_field("last_cycle", "time_to_hot_s"),
            topics,
            device_class="duration",
            unit_of_measurement="s",
            suggested_display_precision=0,
            **diag,
        )
    )
    out.append(
        _sensor(
            "cycles_today",
            "Cycles today",
            _top_field("totals", "cycles_today"),
            topics,
            state_class="total_increasing",
            icon="mdi:counter",
            **diag,
        )
    )
    out.append(
        _binary(
            "bridge",
            "Bridge",
            _on_off("value_json.get('bridge_online')"),
            topics,
            device_class="connectivity",
            **diag,
        )
    )
    out.append(
        _sensor(
            "bridge_firmware",
            "Bridge firmware",
            "{{ value_json.get('bridge_firmware') or None }}",
            topics,
            icon="mdi:chip",
            **diag,
        )
    )
    return out


def device_block(device_id: str, version: str) -> dict[str, Any]:
    return {
        "identifiers": [device_id],
        "name": DEVICE_NAME,
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
        # For the discovery topic itself; each component carries its own (see QOS).
        "qos": QOS,
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
