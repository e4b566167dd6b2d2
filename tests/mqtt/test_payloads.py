"""MQTT wire formats: command parsing vectors, fuzzing, and discovery against HA's schema."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zcw.adapters.mqtt_payloads import (
    MAX_COMMAND_BYTES,
    Command,
    CommandRejected,
    Topics,
    device_discovery,
    entity_descriptions,
    entity_discovery,
    parse_command,
)

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
SENSORS = [
    ("bathroom", "value_json.loops.bathroom.temp_c"),
    ("kitchen", "value_json.loops.kitchen.temp_c"),
]
# Home Assistant's documented MQTT platform fields (the subset zcw uses), per platform.
REQUIRED = {
    "button": {"command_topic"},
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "select": {"command_topic", "options"},
}
ALLOWED_COMMON = {"platform", "unique_id", "name", "icon", "value_template"}
ALLOWED = {
    "button": {"command_topic", "payload_press"},
    "sensor": {"state_topic", "device_class", "unit_of_measurement", "state_class", "expire_after"},
    "binary_sensor": {"state_topic", "device_class"},
    "select": {"command_topic", "command_template", "state_topic", "options"},
}
DEVICE_CLASSES = {
    "sensor": {"temperature"},
    "binary_sensor": {"running", "opening", "problem"},
}


def test_device_discovery_matches_home_assistant_schema() -> None:
    entities = entity_descriptions(TOPICS, LOOPS, SENSORS)
    payload = device_discovery(TOPICS, "zcw_test", "0.1.0", entities)
    assert TOPICS.device_config("zcw_test") == "homeassistant/device/zcw_test/config"
    assert set(payload) == {"device", "origin", "availability", "components", "qos"}
    assert payload["device"]["identifiers"] == ["zcw_test"]
    assert payload["origin"]["name"] == "zcw"
    assert payload["availability"] == [{"topic": "zcw/availability"}]
    comps = payload["components"]
    platforms = sorted(c["platform"] for c in comps.values())
    # a start button per loop + stop, a temperature per sensor, pump + valves + problem, mode
    assert platforms.count("button") == len(LOOPS) + 1
    assert platforms.count("sensor") == len(SENSORS)
    assert platforms.count("binary_sensor") == 1 + len(LOOPS) + 1
    assert platforms.count("select") == 1
    unique = [c["unique_id"] for c in comps.values()]
    assert len(unique) == len(set(unique))
    for key, comp in comps.items():
        platform = comp["platform"]
        assert "object_id" not in comp, "object_id is deprecated"
        assert REQUIRED[platform] <= set(comp), key
        assert set(comp) <= ALLOWED_COMMON | ALLOWED[platform], (key, set(comp))
        for topic_key in ("state_topic", "command_topic"):
            if topic_key in comp:
                assert comp[topic_key] in ("zcw/state", "zcw/set")
        if "device_class" in comp:
            assert comp["device_class"] in DEVICE_CLASSES[platform]
        if platform == "sensor":
            assert comp["unit_of_measurement"] == "°C"
            assert comp["expire_after"] > 60
    assert comps["mode"]["options"] == ["auto", "away"]
    press = json.loads(comps["start_kitchen"]["payload_press"])
    assert parse(json.dumps(press)) == Command("start", "kitchen")


def test_removed_loop_is_reduced_to_its_platform() -> None:
    entities = entity_descriptions(TOPICS, ("bathroom",), SENSORS[:1])
    payload = device_discovery(
        TOPICS, "zcw_test", "0.1.0", entities, removed=[("temp_kitchen", "sensor")]
    )
    assert payload["components"]["temp_kitchen"] == {"platform": "sensor"}


def test_per_entity_discovery_has_device_and_availability() -> None:
    entity = entity_descriptions(TOPICS, LOOPS, SENSORS)[0]
    body = entity_discovery(TOPICS, "zcw_test", "0.1.0", entity)
    assert "platform" not in body and "object_id" not in body
    assert body["availability_topic"] == "zcw/availability"
    assert body["device"]["identifiers"] == ["zcw_test"]
    assert TOPICS.entity_config("button", "zcw_test", "start_bathroom") == (
        "homeassistant/button/zcw_test/start_bathroom/config"
    )
