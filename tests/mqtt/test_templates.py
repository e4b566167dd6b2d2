"""Every discovery template renders against every state zcw publishes, as Home Assistant would.

Home Assistant renders an MQTT value template in a sandboxed Jinja environment with
``value`` (the raw payload) and ``value_json`` (the parsed one). Strict undefined turns a
missing key into the error Home Assistant logs (``'dict object' has no attribute 'near'``),
so a template that only works while the state has every loop fails here.

The states come from the real daemon on simulated houses with different loops (R0: one
``bathroom`` loop; H4: ``far`` with a cold-line probe and ``near``, and a heater-outlet
sensor): a cycle, a fault, away mode, the bridge lost, with and without history totals.
Every house's discovery is rendered against every house's states, which is what Home
Assistant meets when the loops change between runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hil.house import load_house
from hil.plant import Plant
from zcw.adapters.mqtt_client import MqttSettings
from zcw.adapters.mqtt_payloads import EVENT_TYPES, EntityDescription, Topics
from zcw.app.daemon import Status
from zcw.app.history import Totals
from zcw.app.mqtt_bridge import MqttBridge
from zcw.app.runner import TICK_S
from zcw.app.sim import build_sim
from zcw.app.state_json import event_dict
from zcw.config import config_for_house_loops
from zcw.domain.model import Request, Source

TOPICS = Topics("zcw", "homeassistant")
HOUSES = ("R0", "H4")
ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


def render(template: str, payload: str) -> str:
    return ENV.from_string(template).render(value=payload, value_json=json.loads(payload))


def bridge_for(rig: Any, totals: Callable[[], Totals | None] | None) -> MqttBridge:
    # Never connected: only its payloads and entities are used.
    return MqttBridge(
        rig.daemon, MqttSettings("127.0.0.1", 1), TOPICS, device_id="zcw_t", totals=totals
    )


@cache
def house_run(house: str) -> tuple[tuple[str, ...], tuple[EntityDescription, ...], tuple[str, ...]]:
    """(state payloads, entities, event payloads) of one simulated house's busy day."""
    plant = Plant(load_house(house))
    cfg = config_for_house_loops(plant.loops, house, sensors=plant.sensor_names)
    rig = build_sim(cfg, house)
    statuses: list[Status] = []
    rig.daemon.observe(statuses.append)

    def run(seconds: float) -> None:
        for _ in range(int(seconds / TICK_S)):
            rig.clock.advance(TICK_S)
            rig.daemon.tick()

    rig.daemon.tick()  # the very first status: no readings yet
    run(3)
    for loop in plant.loops:
        rig.daemon.submit(Request("start", Source.MQTT, loop))
        run(2)
    run(240)
    rig.daemon.submit(Request("mode", Source.MQTT, mode="away"))
    run(1)
    rig.hardware.online = False  # the bridge is lost: fault, no readings
    run(20)
    rig.hardware.online = True
    rig.daemon.submit(Request("reset", Source.MQTT))
    run(5)
    rig.daemon.shutdown()
    counts = dict.fromkeys(plant.loops, 1.5)
    with_totals = bridge_for(rig, lambda: Totals(counts, {n: 900.0 for n in counts}, 3))
    without = bridge_for(rig, None)
    states = {b.state_payload(s) for s in statuses for b in (with_totals, without)}
    events = tuple(json.dumps(event_dict(e)) for s in statuses for e in s.events)
    return tuple(sorted(states)), tuple(with_totals.entities()), events


def all_states() -> list[str]:
    return [p for h in HOUSES for p in house_run(h)[0]]


@pytest.mark.parametrize("house", HOUSES)
def test_every_template_renders_against_every_state(house: str) -> None:
    _, entities, _ = house_run(house)
    states = all_states()
    assert len(states) > 20
    checked = 0
    for entity in entities:
        for field, template in entity.templates.items():
            for payload in states:
                try:
                    out = render(template, payload).strip()
                except jinja2.TemplateError as exc:  # what HA would log as a template error
                    raise AssertionError(
                        f"{entity.key}.{field} {template!r} fails on {payload}: {exc}"
                    ) from exc
                check_output(entity, field, out)
                checked += 1
    assert checked > 100


def check_output(entity: EntityDescription, field: str, out: str) -> None:
    fields = dict(entity.fields)
    if field == "json_attributes_template":
        assert isinstance(json.loads(out), dict), (entity.key, out)
        return
    if entity.platform == "binary_sensor":
        assert out in ("ON", "OFF", "None"), (entity.key, out)
    elif entity.platform == "select":
        assert out in fields["options"], (entity.key, out)
    elif entity.platform == "sensor" and "unit_of_measurement" in fields and out != "None":
        float(out)  # "None" is Home Assistant's unknown; anything else must be a number


def test_a_loop_missing_from_the_state_renders_unknown_not_an_error() -> None:
    _, h4_entities, _ = house_run("H4")
    r0_state = house_run("R0")[0][-1]
    by_key = {e.key: e for e in h4_entities}
    assert render(by_key["temp_near"].templates["value_template"], r0_state) == "None"
    assert render(by_key["valve_far"].templates["value_template"], r0_state) == "None"
    assert render(by_key["energy_near"].templates["value_template"], r0_state) == "None"


def test_problem_attributes_carry_the_fault() -> None:
    states = [json.loads(p) for p in house_run("R0")[0]]
    problem = next(e for e in house_run("R0")[1] if e.key == "problem")
    faulted = [s for s in states if s["fault"] is not None]
    assert faulted
    for state in faulted:
        attrs = json.loads(render(problem.templates["json_attributes_template"], json.dumps(state)))
        assert attrs["code"] == state["fault"]["code"]
        assert attrs["message"] and attrs["hint"]
    clear = next(s for s in states if s["fault"] is None)
    assert render(problem.templates["json_attributes_template"], json.dumps(clear)) == "{}"


@pytest.mark.parametrize("house", HOUSES)
def test_every_event_is_one_the_event_entity_accepts(house: str) -> None:
    _, entities, events = house_run(house)
    event_entity = next(e for e in entities if e.platform == "event")
    types = dict(event_entity.fields)["event_types"]
    assert "value_template" not in dict(event_entity.fields)  # HA reads event_type as sent
    seen = set()
    for payload in events:
        body = json.loads(payload)
        assert body["event_type"] in types
        seen.add(body["event_type"])
    assert {"cycle_started", "fault", "fault_cleared", "mode_changed"} <= seen
    assert tuple(types) == EVENT_TYPES
