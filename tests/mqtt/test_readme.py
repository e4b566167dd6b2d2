"""The README's Home Assistant section matches what zcw publishes: entity ids and event types.

The entity table is compared with the entity descriptions the discovery is built from (with
every optional sensor present, and ``<loop>`` for the per-loop entities); the event table with
the event types the event entity announces, which derive from the core's EventKind.
"""

from __future__ import annotations

import re
from pathlib import Path

from zcw.adapters.mqtt_payloads import EVENT_TYPES, Topics, entity_descriptions

README = Path(__file__).parents[2] / "README.md"
LOOP = "someloop"


def ha_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Home Assistant (MQTT)")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def table_first_column(section: str, header: str) -> list[str]:
    """The backticked names in the first column of the table whose header starts so."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    names: list[str] = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1]
        names += re.findall(r"`([^`]+)`", first)
    return names


def test_readme_entity_table_matches_the_published_entities() -> None:
    documented = table_first_column(ha_section(), "| entity |")
    entities = entity_descriptions(Topics(), [LOOP], cold=[LOOP], heater_out=True)
    published = [e.entity_id.replace(LOOP, "<loop>") for e in entities]
    assert sorted(documented) == sorted(published)
    assert len(documented) == len(set(documented))


def test_readme_event_table_matches_the_event_types() -> None:
    documented = table_first_column(ha_section(), "| event_type |")
    assert sorted(documented) == sorted(EVENT_TYPES)
    assert len(documented) == len(set(documented))


def test_readme_automation_example_uses_a_real_entity_id() -> None:
    section = ha_section()
    ids = {e.entity_id for e in entity_descriptions(Topics(), ["bathroom"])}
    used = re.findall(r"entity_id: (\S+)", section)
    assert used
    for entity_id in used:
        if entity_id.startswith(("button.", "sensor.", "binary_sensor.", "event.", "select.")):
            if entity_id.startswith(("binary_sensor.bathroom_motion",)):
                continue
            assert entity_id in ids, entity_id
