"""MQTT wire formats: command parsing vectors, fuzzing, and discovery against HA's schema."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zcw.adapters.mqtt_payloads import (
    EVENT_TYPES,
    MAX_COMMAND_BYTES,
    Command,
    CommandRejected,
    Topics,
    device_discovery,
    entity_descriptions,
    entity_discovery,
    parse_command,
)
from zcw.domain.model import EventKind

LOOPS = ("bathroom", "kitchen")
NOW = 1_800_000_000.0


def parse(payload: bytes | str, *, retained: bool = False) -> Command:
    raw = payload.encode() if isinstance(payload, str) else payload
    return parse_command(raw, loops=LOOPS, now_unix_s=NOW, retained=retained)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("start", Command("start")),
        (" STOP\n", Command("stop")),
        ("reset", Command("reset")),
        ('{"action": "start", "loop": "bathroom"}', Command("start", "bathroom")),
        ('{"action": "stop"}', Command("stop")),
        ('{"action": "reset"}', Command("reset")),
        ('{"mode": "away"}', Command("mode", mode="away")),
        ('{"mode": "auto"}', Command("mode", mode="auto")),
        (f'{{"action": "start", "ts": {NOW - 5}}}', Command("start")),
    ],
)
def test_valid_commands(payload: str, expected: Command) -> None:
    assert parse(payload) == expected


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ("boil", "not a command"),
        ('{"action": "boil"}', "unknown action 'boil'"),
        ('{"action": "start", "loop": "garage"}', "unknown loop 'garage'"),
        ('{"action": "start", "loop": 3}', "'loop' must be a string"),
        ('{"action": 1}', "missing 'action'"),
        ('{"mode": "holiday"}', "unknown mode"),
        ('{"mode": "away", "action": "start"}', "either 'action' or 'mode'"),
        ('{"action": "start", "colour": "red"}', "unknown key 'colour'"),
        ("[1, 2]", "expected a JSON object"),
        ('{"action": "start", "ts": "yesterday"}', "'ts' must be a number"),
        (f'{{"action": "start", "ts": {NOW - 7200}}}', "stale command"),
        ("x" * (MAX_COMMAND_BYTES + 1), "payload too large"),
    ],
)
def test_rejected_commands_say_why(payload: str, why: str) -> None:
    with pytest.raises(CommandRejected, match=why):
        parse(payload)


def test_non_utf8_and_retained_are_rejected() -> None:
    with pytest.raises(CommandRejected, match="UTF-8"):
        parse(b"\xff\xfe")
    with pytest.raises(CommandRejected, match="retained"):
        parse("start", retained=True)


@settings(max_examples=1000)
@given(
    st.one_of(
        st.binary(max_size=2048),
        st.text(max_size=600).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=10,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_fuzzed_payloads_parse_or_are_rejected_never_crash(payload: bytes) -> None:
    try:
        cmd = parse(payload)
    except CommandRejected as exc:
        assert str(exc)
        return
    assert cmd.action in ("start", "stop", "reset", "mode")
    assert cmd.loop in (None, *LOOPS)


# ------------------------------------------------------------------ discovery schema

TOPICS = Topics("zcw", "homeassistant")
# Home Assistant's documented MQTT platform fields (the subset zcw uses), per platform.
REQUIRED = {
    "button": {"command_topic", "qos"},
    "sensor": {"state_topic", "qos"},
    "binary_sensor": {"state_topic", "qos"},
    "select": {"command_topic", "options", "qos"},
    "event": {"state_topic", "event_types", "qos"},
    "switch": {"command_topic", "qos"},
}
ALLOWED_COMMON = {
    "platform",
    "unique_id",
    "name",
    "icon",
    "value_template",
    "qos",
    "entity_category",
    "json_attributes_topic",
    "json_attributes_template",
}
ALLOWED = {
    "button": {"command_topic", "payload_press"},
    "sensor": {
        "state_topic",
        "device_class",
        "unit_of_measurement",
        "state_class",
        "expire_after",
        "suggested_display_precision",
    },
    "binary_sensor": {"state_topic", "device_class"},
    "select": {"command_topic", "command_template", "state_topic", "options"},
    "event": {"state_topic", "event_types"},
    "switch": {
        "command_topic",
        "payload_on",
        "payload_off",
        "state_topic",
        "state_on",
        "state_off",
    },
}
DEVICE_CLASSES = {
    "sensor": {"temperature", "energy", "water", "duration", "timestamp"},
    "binary_sensor": {"running", "opening", "problem", "connectivity"},
}
UNITS = {"temperature": "°C", "energy": "kWh", "water": "L", "duration": "s"}


def test_device_discovery_matches_home_assistant_schema() -> None:
    entities = entity_descriptions(TOPICS, LOOPS, cold=["kitchen"], heater_out=True)
    payload = device_discovery(TOPICS, "zcw_test", "0.1.0", entities)
    assert TOPICS.device_config("zcw_test") == "homeassistant/device/zcw_test/config"
    assert set(payload) == {"device", "origin", "availability", "components", "qos"}
    assert payload["device"]["identifiers"] == ["zcw_test"]
    assert payload["origin"]["name"] == "zcw"
    assert payload["availability"] == [{"topic": "zcw/availability"}]
    comps = payload["components"]
    platforms = sorted(c["platform"] for c in comps.values())
    # a start button per loop, stop, reset
    assert platforms.count("button") == len(LOOPS) + 2
    # a temperature per loop + 1 cold + heater out, energy and water (total + per loop),
    # last time to hot, cycles today, bridge firmware, next pre-heat
    assert platforms.count("sensor") == len(LOOPS) + 2 + 2 * (1 + len(LOOPS)) + 4
    assert platforms.count("switch") == 1  # learned pre-heat
    # pump + valves + problem + bridge
    assert platforms.count("binary_sensor") == 1 + len(LOOPS) + 1 + 1
    assert platforms.count("select") == 1
    assert platforms.count("event") == 1
    unique = [c["unique_id"] for c in comps.values()]
    assert len(unique) == len(set(unique))
    for key, comp in comps.items():
        platform = comp["platform"]
        assert "object_id" not in comp, "object_id is deprecated"
        assert REQUIRED[platform] <= set(comp), key
        assert set(comp) <= ALLOWED_COMMON | ALLOWED[platform], (key, set(comp))
        # HA 2025.4 does not hand the device-level qos down: every component says QoS 1.
        assert comp["qos"] == 1, key
        for topic_key in ("state_topic", "command_topic", "json_attributes_topic"):
            if topic_key in comp:
                assert comp[topic_key] in ("zcw/state", "zcw/set", "zcw/event")
        if "device_class" in comp:
            assert comp["device_class"] in DEVICE_CLASSES[platform]
            if platform == "sensor" and comp["device_class"] in UNITS:
                assert comp["unit_of_measurement"] == UNITS[comp["device_class"]], key
        if comp.get("device_class") == "temperature":
            assert comp["expire_after"] > 60
            assert comp["suggested_display_precision"] == 1
        if comp.get("device_class") in ("energy", "water"):
            assert comp["state_class"] == "total_increasing"
        if "entity_category" in comp:
            assert comp["entity_category"] == "diagnostic"
    assert comps["mode"]["options"] == ["auto", "away"]
    assert parse(comps["learned"]["payload_on"]) == Command(
        "calendar", calendar=(("cmd", "learned"), ("op", "learned"), ("state", "on"))
    )
    press = json.loads(comps["start_kitchen"]["payload_press"])
    assert parse(json.dumps(press)) == Command("start", "kitchen")
    assert parse(comps["reset"]["payload_press"]) == Command("reset")
    assert comps["problem"]["json_attributes_topic"] == "zcw/state"
    assert comps["event"]["state_topic"] == "zcw/event"
    assert comps["event"]["event_types"] == list(EVENT_TYPES)
    diagnostics = {k for k, c in comps.items() if c.get("entity_category") == "diagnostic"}
    assert diagnostics == {"last_time_to_hot", "cycles_today", "bridge", "bridge_firmware"}


def test_event_types_come_from_the_core() -> None:
    assert set(EVENT_TYPES) == {*get_args(EventKind), "command_rejected"}
    for kind in ("joined", "cycle_stopped", "mode_changed", "fault_cleared"):
        assert kind in EVENT_TYPES


def test_removed_loop_is_reduced_to_its_platform() -> None:
    entities = entity_descriptions(TOPICS, ("bathroom",))
    payload = device_discovery(
        TOPICS, "zcw_test", "0.1.0", entities, removed=[("temp_kitchen", "sensor")]
    )
    assert payload["components"]["temp_kitchen"] == {"platform": "sensor"}


def test_per_entity_discovery_has_device_availability_and_qos() -> None:
    for entity in entity_descriptions(TOPICS, LOOPS):
        body = entity_discovery(TOPICS, "zcw_test", "0.1.0", entity)
        assert "platform" not in body and "object_id" not in body
        assert body["availability_topic"] == "zcw/availability"
        assert body["device"]["identifiers"] == ["zcw_test"]
        assert body["qos"] == 1
    assert TOPICS.entity_config("button", "zcw_test", "start_bathroom") == (
        "homeassistant/button/zcw_test/start_bathroom/config"
    )


def test_entity_ids_are_the_ones_home_assistant_derives() -> None:
    ids = {e.key: e.entity_id for e in entity_descriptions(TOPICS, LOOPS, cold=["bathroom"])}
    assert ids["temp_bathroom"] == "sensor.zcw_hot_water_temperature_bathroom"
    assert ids["temp_bathroom_cold"] == "sensor.zcw_hot_water_temperature_bathroom_cold"
    assert ids["start_kitchen"] == "button.zcw_hot_water_start_kitchen"
    assert ids["reset"] == "button.zcw_hot_water_reset_faults"
    assert ids["event"] == "event.zcw_hot_water_event"


@pytest.mark.parametrize(
    ("payload", "edit"),
    [
        (
            '{"schedule": "add", "loop": "bathroom", "at": "06:50", "days": "mon-fri"}',
            {"cmd": "schedule", "op": "add", "loop": "bathroom", "at": "06:50", "days": "mon-fri"},
        ),
        (
            '{"schedule": "remove", "id": "bathroom@06:50/mon-fri"}',
            {"cmd": "schedule", "op": "remove", "id": "bathroom@06:50/mon-fri"},
        ),
        (
            '{"away": {"from": "2026-12-20", "to": "2027-01-03"}}',
            {"cmd": "away", "op": "add", "from": "2026-12-20", "to": "2027-01-03"},
        ),
        ('{"away": "clear"}', {"cmd": "away", "op": "clear"}),
        ('{"learned": "on"}', {"cmd": "learned", "op": "learned", "state": "on"}),
    ],
)
def test_calendar_edits_parse(payload: str, edit: dict[str, str]) -> None:
    cmd = parse_command(payload.encode(), loops=("bathroom",), now_unix_s=0.0)
    assert cmd.action == "calendar" and dict(cmd.calendar) == edit


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ('{"learned": "maybe"}', "learned on|off|default"),
        ('{"away": {"from": "2026-12-20"}}', "YYYY-MM-DD"),
        ('{"schedule": "add", "learned": "on"}', "one of 'schedule', 'away' or 'learned'"),
        ('{"schedule": "add", "at": 650}', "must be strings"),
        ('{"schedule": "add", "colour": "red"}', "unknown key 'colour'"),
    ],
)
def test_bad_calendar_edits_say_why(payload: str, why: str) -> None:
    with pytest.raises(CommandRejected, match=re.escape(why)):
        parse_command(payload.encode(), loops=("bathroom",), now_unix_s=0.0)
