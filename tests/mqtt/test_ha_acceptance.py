"""What Home Assistant receives from zcw, in order, against a real mosquitto and the real daemon.

Each test is one of the problems a real Home Assistant 2025.4 core showed, or one of the
entities it was missing; the observer records every message as a subscriber gets it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hil.house import load_house
from hil.plant import Plant
from zcw.adapters.mqtt_client import MqttSettings
from zcw.adapters.mqtt_payloads import EVENT_TYPES, Topics
from zcw.adapters.store import Store
from zcw.app.compose import build_adapters
from zcw.app.mqtt_bridge import MqttBridge
from zcw.app.sim import build_sim
from zcw.config import Config, config_for_house_loops, default_config
from zcw.testing.broker import Broker
from zcw.testing.ha import Message, Observer, first_index
from zcw.testing.live import LiveSim
from zcw.testing.processes import reap

TOPICS = Topics("zcw", "homeassistant")
DEVICE = "zcw_test"
CONFIG_TOPIC = TOPICS.device_config(DEVICE)
ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


def render(template: str, payload: bytes) -> str:
    """As Home Assistant renders an MQTT template: ``value`` raw, ``value_json`` parsed."""
    text = payload.decode()
    return ENV.from_string(template).render(value=text, value_json=json.loads(text))


def is_(value: bytes) -> Callable[[bytes], bool]:
    return lambda p: p == value


def event_is(kind: str) -> Callable[[bytes], bool]:
    return lambda p: json.loads(p).get("event_type") == kind


def state_has(pred: Callable[[dict[str, Any]], bool]) -> Callable[[bytes], bool]:
    return lambda p: pred(json.loads(p))


def relays_off(state: dict[str, Any]) -> bool:
    return state["pump"] is False and not any(v["valve"] for v in state["loops"].values())


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path / "broker") as b:
        yield b


def with_mqtt(cfg: Config, broker: Broker, tmp_path: Path, **mqtt: Any) -> Config:
    data = cfg.model_dump(mode="python", exclude_none=True)
    data["mqtt"] = {"host": "127.0.0.1", "port": broker.port, "device_id": DEVICE, **mqtt}
    data["store"] = {"path": tmp_path / "history.db"}
    data["control"] = {**data["control"], "socket": tmp_path / "zcw.sock", "min_rest_s": 5}
    return Config.model_validate(data)


def live_with_adapters(cfg: Config, speed: float = 5.0) -> tuple[LiveSim, Store | None]:
    """The daemon on its simulated house with the adapters ``zcw run`` builds ([store], [mqtt])."""
    rig = build_sim(cfg)
    sim = LiveSim(rig, speed=speed)
    sim.__enter__()
    # In the loop's thread, as `zcw run` does: SQLite connections stay in their thread.
    adapters = sim.do(lambda: build_adapters(cfg, rig.daemon))
    for task, close in zip(adapters.tasks, adapters.closers, strict=True):
        sim.spawn(task(), close=close)
    return sim, adapters.store


def stop(sim: LiveSim, store: Store | None) -> None:
    sim.__exit__(None, None, None)
    if store is not None:
        store.close()


# ----------------------------------------------------------------- 1. stale state after a crash


def write_config(tmp_path: Path, broker: Broker) -> Path:
    default = (Path(__file__).parents[2] / "zcw" / "default.toml").read_text()
    cfg = tmp_path / "zcw.toml"
    cfg.write_text(
        default.replace("[control]", f'[control]\nsocket = "{tmp_path / "zcw.sock"}"')
        + f'\n[store]\npath = "{tmp_path / "history.db"}"\n'
        + f'\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "{DEVICE}"\n'
    )
    return cfg


def spawn(cfg: Path) -> subprocess.Popen[bytes]:
    # --speed 2: the plant runs in-process, so SIGKILL leaves no emulator behind.
    with (cfg.parent / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "zcw", "run", "--sim", "-c", str(cfg), "--speed", "2"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def assert_fresh_state_before_online(messages: list[Message]) -> dict[str, Any]:
    """The first state precedes the discovery and ``online``; returns that first state."""
    online = first_index(messages, "zcw/availability", is_(b"online"))
    state = first_index(messages, "zcw/state")
    config = first_index(messages, CONFIG_TOPIC)
    assert online is not None and state is not None and config is not None, messages
    assert state < config < online, [(t, p[:60]) for t, p, _ in messages]
    return dict(json.loads(messages[state][1]))


def test_restart_after_sigkill_mid_cycle_publishes_fresh_state_before_online(
    broker: Broker, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, broker)
    ha = Observer(broker.port)
    proc = spawn(cfg)
    try:
        ha.expect("zcw/availability", is_(b"online"), timeout_s=20)
        ha.expect("zcw/state", state_has(lambda s: s["loops"]["bathroom"]["temp_c"] is not None))
        ha.publish("zcw/set", json.dumps({"action": "start", "loop": "bathroom"}))
        ha.expect("zcw/state", state_has(lambda s: s["pump"] is True), timeout_s=10)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)  # mid-cycle: the retained state says "pump on"
        proc.wait(timeout=10)
        ha.expect("zcw/availability", is_(b"offline"), timeout_s=10)  # the last will
        peek = Observer(broker.port, client_id="peek")
        stale = json.loads(peek.expect("zcw/state"))
        peek.close()
        assert stale["pump"] is True  # what the dead run left retained
        mark = ha.skip_past()
        proc = spawn(cfg)
        ha.expect("zcw/availability", is_(b"online"), timeout_s=20)
        after = ha.since(mark)
        first = assert_fresh_state_before_online(after)
        assert relays_off(first) and first["state"] != "heating"
        online = first_index(after, "zcw/availability", is_(b"online"))
        assert online is not None
        for topic, payload, _ in after[:online]:
            if topic == "zcw/state":
                assert relays_off(json.loads(payload))
        # A subscriber arriving now gets a retained state with the relays off.
        late = Observer(broker.port, client_id="late")
        assert late.expect("zcw/availability") == b"online"
        assert relays_off(json.loads(late.expect("zcw/state")))
        late.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, (tmp_path / "daemon.log").read_text()
        # At shutdown the final state goes before "offline".
        end = ha.since(mark)
        offline = max(i for i, m in enumerate(end) if m[:2] == ("zcw/availability", b"offline"))
        last_state = max(i for i, m in enumerate(end[:offline]) if m[0] == "zcw/state")
        assert relays_off(json.loads(end[last_state][1]))
    finally:
        reap(proc)
        ha.close()


def test_reconnect_publishes_fresh_state_before_online_and_no_lone_fault_cleared(
    broker: Broker, tmp_path: Path
) -> None:
    cfg = with_mqtt(default_config(), broker, tmp_path)
    ha = Observer(broker.port)
    sim, store = live_with_adapters(cfg, speed=2.0)
    try:
        ha.expect("zcw/availability", is_(b"online"))
        assert_fresh_state_before_online(ha.since(0))
        ha.close()
        broker.stop()

        def faults() -> list[str]:
            status = sim.daemon.status
            return [f.code for f in status.snapshot.faults] if status else []

        sim.wait_for(lambda: "mqtt_unreachable" in faults(), 15, "the mqtt_unreachable fault")
        broker.start()
        ha = Observer(broker.port)
        ha.expect("zcw/availability", is_(b"online"), timeout_s=15)
        time.sleep(1.0)
        after = ha.since(0)
        first = assert_fresh_state_before_online(after)
        # The fresh state already has the link's fault cleared.
        assert all(f["code"] != "mqtt_unreachable" for f in first["faults"])
        # Its "fault" could not be sent during the outage, so neither is its fault_cleared.
        told = [json.loads(p) for t, p, _ in after if t == "zcw/event"]
        assert not [e for e in told if e.get("reason") == "mqtt_unreachable"], told
    finally:
        stop(sim, store)
        ha.close()


# ----------------------------------------------------------------- 2. loops change between runs


def house_config(house: str) -> Config:
    plant = Plant(load_house(house))
    return config_for_house_loops(plant.loops, house, sensors=plant.sensor_names)


def test_loops_change_between_runs_state_before_discovery_and_templates_render(
    broker: Broker, tmp_path: Path
) -> None:
    ha = Observer(broker.port)
    sim, store = live_with_adapters(with_mqtt(house_config("R0"), broker, tmp_path))
    ha.expect("zcw/availability", is_(b"online"))
    ha.expect("zcw/state", state_has(lambda s: s["loops"]["bathroom"]["temp_c"] is not None))
    stop(sim, store)
    ha.expect("zcw/availability", is_(b"offline"))
    mark = ha.skip_past()
    # The next run has other loops: H4's far (with a cold-line probe) and near taps.
    sim, store = live_with_adapters(with_mqtt(house_config("H4"), broker, tmp_path))
    try:
        ha.expect("zcw/availability", is_(b"online"))
        ha.expect("zcw/state", state_has(lambda s: s["loops"]["far"]["temp_c"] is not None))
        time.sleep(0.5)
    finally:
        stop(sim, store)
    after = ha.since(mark)
    config_at = first_index(after, CONFIG_TOPIC)
    assert config_at is not None
    discovery = json.loads(after[config_at][1])
    comps = discovery["components"]
    assert {"temp_far", "temp_near", "temp_far_cold", "valve_near"} <= set(comps)
    # Entities of the loop that went away are removed.
    assert comps["temp_bathroom"] == {"platform": "sensor"}
    # The state published before this discovery already has every loop it names.
    before = [json.loads(p) for t, p, _ in after[:config_at] if t == "zcw/state"]
    assert before and set(before[-1]["loops"]) == {"far", "near"}
    # Every template of the new discovery renders against every state HA saw, both runs.
    states = [p for t, p, _ in ha.since(0) if t == "zcw/state"]
    for comp in comps.values():
        for field in ("value_template", "json_attributes_template"):
            if field in comp:
                for payload in states:
                    render(comp[field], payload)  # StrictUndefined raises what HA would log
    ha.close()


# ----------------------------------------------------------------- 3-6. problem, QoS, reset, events


def test_problem_attributes_reset_button_and_every_event_type(
    broker: Broker, tmp_path: Path
) -> None:
    ha = Observer(broker.port)
    sim, store = live_with_adapters(with_mqtt(default_config(), broker, tmp_path), speed=5.0)
    try:
        comps = json.loads(ha.expect(CONFIG_TOPIC))["components"]
        ha.expect("zcw/availability", is_(b"online"))
        ha.expect("zcw/state", state_has(lambda s: s["loops"]["bathroom"]["temp_c"] is not None))
        for key, comp in comps.items():
            if "command_topic" in comp:
                assert comp["qos"] == 1, key

        def press(key: str) -> None:
            """What Home Assistant sends when the button is pressed."""
            comp = comps[key]
            ha.publish(comp["command_topic"], comp["payload_press"])

        def select(key: str, option: str) -> None:
            comp = comps[key]
            # A command template sees only ``value``, the option chosen.
            command = ENV.from_string(comp["command_template"]).render(value=option)
            ha.publish(comp["command_topic"], command)

        def start_cycle() -> None:
            """Start, retrying while the min_rest of the last cycle (5 s simulated) runs."""
            for _ in range(10):
                press("start_bathroom")
                got = json.loads(ha.expect("zcw/event", lambda p: "loop" in json.loads(p)))
                if got["event_type"] == "cycle_started":
                    return
                assert got["event_type"] == "rejected" and got["reason"] == "rest", got
                time.sleep(0.5)
            raise AssertionError("no cycle_started")

        # A cycle stopped from Home Assistant while it heats.
        start_cycle()
        press("start_bathroom")
        ha.expect("zcw/event", event_is("joined"))
        press("stop")
        ha.expect("zcw/event", event_is("cycle_stopped"))
        # A latched fault mid-cycle: the control tick fails once (internal_error).
        start_cycle()
        ha.expect("zcw/state", state_has(lambda s: s["pump"] is True))
        poll = sim.rig.hardware.poll

        def fail_once() -> Any:
            sim.rig.hardware.poll = poll  # type: ignore[method-assign]
            raise RuntimeError("injected by the test")

        sim.do(lambda: setattr(sim.rig.hardware, "poll", fail_once))
        fault = json.loads(ha.expect("zcw/event", event_is("fault")))
        assert fault["reason"] == "internal_error" and fault["message"] and fault["hint"]
        aborted = json.loads(ha.expect("zcw/event", event_is("cycle_aborted")))
        assert aborted["reason"] == "internal_error"
        state = ha.expect("zcw/state", state_has(lambda s: s["fault"] is not None))
        problem = comps["problem"]
        assert render(problem["value_template"], state) == "ON"
        attrs = json.loads(render(problem["json_attributes_template"], state))
        assert attrs["code"] == "internal_error"
        assert attrs["message"] and attrs["hint"]
        press("start_bathroom")
        rejected = json.loads(ha.expect("zcw/event", event_is("rejected")))
        assert rejected["reason"] == "fault"
        # Home Assistant's reset button clears the latched fault.
        press("reset")
        cleared = json.loads(ha.expect("zcw/event", event_is("fault_cleared")))
        assert cleared["reason"] == "internal_error"
        state = ha.expect("zcw/state", state_has(lambda s: s["fault"] is None))
        assert render(problem["value_template"], state) == "OFF"
        assert json.loads(render(problem["json_attributes_template"], state)) == {}
        # A cycle to hot water, then a start that finds it hot.
        start_cycle()
        ha.expect("zcw/event", event_is("hot_ready"), timeout_s=30)
        # Someone showers: the pipe is full of hot water, and a start finds it hot.
        sim.do(lambda: sim.rig.plant.set_draw("bathroom", 7.0))
        ha.expect("zcw/state", state_has(lambda s: s["loops"]["bathroom"]["temp_c"] >= 40))
        press("start_bathroom")
        ha.expect("zcw/event", event_is("already_hot"))
        select("mode", "away")
        ha.expect("zcw/event", event_is("mode_changed"))
        ha.expect("zcw/state", state_has(lambda s: s["mode"] == "away"))
        select("mode", "auto")
        ha.expect("zcw/event", event_is("mode_changed"))
        ha.publish("zcw/set", "boil")
        ha.expect("zcw/event", event_is("command_rejected"))
    finally:
        stop(sim, store)
    events = [json.loads(p) for t, p, _ in ha.since(0) if t == "zcw/event"]
    # The event entity received every event type zcw has, each with its attributes.
    assert {e["event_type"] for e in events} == set(EVENT_TYPES)
    for e in events:
        assert e["event_type"] in comps["event"]["event_types"]
    started_event = next(e for e in events if e["event_type"] == "cycle_started")
    assert started_event["loop"] == "bathroom" and started_event["source"] == "mqtt"
    ha.close()


# ----------------------------------------------------------------- energy and water


def stored_figures(path: Path) -> tuple[float, float, list[float | None]]:
    """(water L, energy kJ) summed over the history's per-loop rows, and each cycle's energy."""
    with Store(path) as store:
        totals = store.loop_totals()
        energies = [c.energy_kj for c in store.cycles()]
    return (
        sum(w for w, _ in totals.values()),
        sum(e for _, e in totals.values()),
        energies,
    )


def totals_of(payload: bytes) -> dict[str, Any]:
    return dict(json.loads(payload)["totals"])


def test_energy_and_water_grow_by_the_history_figures_and_survive_a_restart(
    broker: Broker, tmp_path: Path
) -> None:
    cfg = with_mqtt(default_config(), broker, tmp_path)
    db = tmp_path / "history.db"
    ha = Observer(broker.port)
    sim, store = live_with_adapters(cfg)
    try:
        comps = json.loads(ha.expect(CONFIG_TOPIC))["components"]
        first = ha.expect("zcw/state", state_has(lambda s: s["loops"]["bathroom"]["temp_c"]))
        assert totals_of(first)["energy_kwh"] == 0.0 and totals_of(first)["water_l"] == 0.0
        ha.publish("zcw/set", "start")
        ha.expect("zcw/event", event_is("hot_ready"), timeout_s=30)
        after = ha.expect("zcw/state", state_has(lambda s: s["totals"]["energy_kwh"] > 0))
    finally:
        stop(sim, store)
    water, kj, energies = stored_figures(db)
    assert energies and all(e is not None and e > 0 for e in energies)  # no longer null
    totals = totals_of(after)
    assert totals["water_l"] == round(water, 1) and totals["energy_kwh"] == round(kj / 3600, 3)
    assert totals["loops"]["bathroom"]["energy_kwh"] == totals["energy_kwh"]
    assert totals["cycles_today"] == 1
    # R0's 15 m of PPR: ≈ 3.5 L moved and ≈ 0.1 kWh spent (hil/bench_energy measures it).
    assert 2.5 < totals["water_l"] < 5.0 and 0.07 < totals["energy_kwh"] < 0.16
    for key in ("energy", "energy_bathroom", "water", "water_bathroom"):
        assert float(render(comps[key]["value_template"], after)) > 0
    assert comps["energy"]["device_class"] == "energy"
    assert comps["energy"]["state_class"] == "total_increasing"
    assert comps["water"]["device_class"] == "water"

    # A restart: the totals come back from the store, never lower, and grow with a new cycle.
    mark = ha.skip_past()
    sim, store = live_with_adapters(cfg)
    try:
        ha.expect("zcw/availability", is_(b"online"))
        restarted = [totals_of(p) for t, p, _ in ha.since(mark) if t == "zcw/state"]
        assert restarted and all(t["energy_kwh"] == totals["energy_kwh"] for t in restarted)
        assert all(t["water_l"] == totals["water_l"] for t in restarted)
        time.sleep(2.0)  # min_rest_s after the last cycle, and fresh readings
        ha.publish("zcw/set", "start")
        ha.expect("zcw/event", event_is("cycle_started"))
        ha.expect("zcw/event", event_is("hot_ready"), timeout_s=30)
        grown = totals_of(
            ha.expect(
                "zcw/state",
                state_has(lambda s: s["totals"]["energy_kwh"] > totals["energy_kwh"]),
            )
        )
    finally:
        stop(sim, store)
    water2, kj2, energies2 = stored_figures(db)
    assert len(energies2) == 2
    assert grown["water_l"] == round(water2, 1) and grown["energy_kwh"] == round(kj2 / 3600, 3)
    assert grown["cycles_today"] == 2
    energy_states = [totals_of(p)["energy_kwh"] for t, p, _ in ha.since(0) if t == "zcw/state"]
    assert energy_states == sorted(energy_states)  # total_increasing: never backwards
    ha.close()


# ----------------------------------------------------------------- per-entity discovery (old HA)


def test_per_entity_discovery_against_the_broker(broker: Broker, tmp_path: Path) -> None:
    (tmp_path / "mqtt-announced.json").write_text(json.dumps({"temp_kitchen": "sensor"}))
    cfg = with_mqtt(default_config(), broker, tmp_path, discovery="entity")
    ha = Observer(broker.port)
    sim, store = live_with_adapters(cfg)
    try:
        ha.expect("zcw/availability", is_(b"online"))
        time.sleep(0.3)
    finally:
        stop(sim, store)
    bridge = MqttBridge(
        build_sim(cfg).daemon, MqttSettings("127.0.0.1", 1), TOPICS, device_id=DEVICE
    )
    entities = bridge.entities()
    log = ha.since(0)
    state = first_index(log, "zcw/state")
    online = first_index(log, "zcw/availability", is_(b"online"))
    assert state is not None and online is not None
    configs: dict[str, int] = {}
    for e in entities:
        topic = TOPICS.entity_config(e.platform, DEVICE, e.key)
        at = first_index(log, topic)
        assert at is not None, topic
        assert state < at < online  # fresh state, then each config, then online
        configs[topic] = at
        body = json.loads(log[at][1])
        assert body["unique_id"] == f"{DEVICE}_{e.key}" and body["qos"] == 1
        assert body["availability_topic"] == "zcw/availability"
        assert body["device"]["identifiers"] == [DEVICE]
    assert TOPICS.device_config(DEVICE) not in {t for t, _, _ in log}
    # The entity announced by an earlier run and gone now is removed by an empty config.
    removed = first_index(log, TOPICS.entity_config("sensor", DEVICE, "temp_kitchen"))
    assert removed is not None and log[removed][1] == b""
    # A Home Assistant that subscribes later gets every config retained.
    late = Observer(broker.port, client_id="late", topics=("homeassistant/#",))
    for topic in configs:
        late.expect(topic)
    assert all(retained for t, _, retained in late.since(0) if t in configs)
    late.close()
    ha.close()
