"""Config loading: examples load; every kind of mistake gives key path, bound and fix at once."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zcw.config import (
    ConfigError,
    advice,
    config_for_house_loops,
    default_config,
    format_problems,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "config").glob("*.toml"))
BASE = (ROOT / "config" / "crossover.toml").read_text()


def problems_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return format_problems(info.value)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.loops


def test_default_and_house_configs() -> None:
    assert default_config().bridge.port == "sim"
    cfg = config_for_house_loops(["far", "near"], "H4")
    assert [(lc.name, lc.valve_relay) for lc in cfg.loops] == [("far", 1), ("near", 2)]


@pytest.mark.parametrize(
    ("edit", "where", "says"),
    [
        (("max_run_s = 180", "max_run_s = 900"), "loops.bathroom.max_run_s", "≤ 600"),
        (("max_run_s = 180", 'max_run_s = "long"'), "loops.bathroom.max_run_s", "must be a number"),
        (
            ("valve_lead_s = 0.5", "valve_lead_s = 0.5\nvalve_leed_s = 1"),
            "control.valve_leed_s",
            "did you mean 'valve_lead_s'",
        ),
        (('sensor = "bathroom"', "# no sensor"), "loops.bathroom.sensor", "needs a sensor"),
        (("cold_line_max_c = 38.0", "cold_line_max_c = 45"), "control.cold_line_max_c", "≤ 40"),
        (
            ("valve_relay = 1", "valve_relay = 0"),
            "loops.bathroom.valve_relay",
            "already used by pump.relay",
        ),
        (("ready_c = 36.0", "ready_c = 45.0"), "loops.bathroom.ready_c", "cold_line_max_c"),
        (("host_timeout_s = 2.0", "host_timeout_s = 10"), "bridge.host_timeout_s", "≤ 3"),
        (('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'), "timezone", "IANA"),
        (('topology = "crossover"', 'topology = "spiral"'), "topology", "must be one of"),
    ],
)
def test_each_mistake_names_key_bound_and_fix(
    tmp_path: Path, edit: tuple[str, str], where: str, says: str
) -> None:
    assert edit[0] in BASE
    text = problems_of(tmp_path, BASE.replace(edit[0], edit[1], 1))
    assert where in text
    assert says in text
    assert "fix:" in text


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        BASE.replace("max_run_s = 180", "max_run_s = 900")
        .replace("valve_lead_s = 0.5", "valve_lead_s = 9")
        .replace("hysteresis_c = 0.5", "hysteresis_c = 0.5\nbogus = 1")
    )
    out = problems_of(tmp_path, text)
    assert out.count("✗") == 3
    assert "max_run_s" in out and "valve_lead_s" in out and "bogus" in out


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    out = problems_of(tmp_path, 'topology = "crossover"\n[control\nvalve_lead_s = 1\n')
    assert "c.toml:2" in out and "invalid TOML" in out


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    # Not "run without -c": with no config zcw no longer falls back to a built-in one.
    assert "file not found" in str(info.value) and "zcw setup" in str(info.value)


@pytest.mark.parametrize(
    ("topology", "edit", "where"),
    [
        ("drain", ("", ""), "pump"),  # drain forbids a pump
        ("return_line", ("valve_relay = 1", "# no valve"), None),  # allowed: pump-only loop
        ("crossover", ("valve_relay = 1", "# no valve"), "loops.bathroom.valve_relay"),
    ],
)
def test_topology_rules(
    topology: str, edit: tuple[str, str], where: str | None, tmp_path: Path
) -> None:
    text = BASE.replace('topology = "crossover"', f'topology = "{topology}"')
    if edit[0]:
        text = text.replace(edit[0], edit[1], 1)
    path = tmp_path / "c.toml"
    path.write_text(text)
    if where is None:
        load_config(path)
        return
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(p.where == where for p in info.value.problems)


def test_duplicate_sensor_roles_and_relays(tmp_path: Path) -> None:
    data = tomllib.loads((ROOT / "config" / "two-loops.toml").read_text())
    data["loops"][1]["sensor"] = "far_cold"
    data["loops"][1]["valve_relay"] = 1
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    wheres = {p.where for p in info.value.problems}
    assert {"loops.near.sensor", "loops.near.valve_relay"} <= wheres


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["topology", "control", "pump", "loops", "bridge", "x", "sensors", "mqtt"]),
        st.recursive(
            st.none().map(lambda _: "v")
            | st.booleans()
            | st.integers(-5, 1000)
            | st.floats(allow_nan=False)
            | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=12), inner, max_size=3)
            ),
            max_leaves=8,
        ),
    )
)
def test_random_documents_only_ever_raise_config_error(data: dict[str, object]) -> None:
    try:
        parse_config(data)
    except ConfigError as exc:
        assert exc.problems
        assert format_problems(exc)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, 2),  # no config anywhere: it says where it looked
        ("topology = 3\n", 2),
        ("[[loops]]\nname = 'Bad Name'\n", 2),
        ("not toml at all ===", 2),
    ],
)
def test_config_check_command(tmp_path: Path, content: str | None, code: int) -> None:
    args = [sys.executable, "-m", "zcw", "config", "check"]
    if content is not None:
        path = tmp_path / "c.toml"
        path.write_text(content)
        args += ["-c", str(path)]
    env = {k: v for k, v in os.environ.items() if k != "ZCW_CONFIG"}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    assert out.returncode == code, out
    assert "Traceback" not in out.stdout + out.stderr


def test_config_check_examples_and_missing_file(tmp_path: Path) -> None:
    for path in EXAMPLES:
        out = subprocess.run(
            [sys.executable, "-m", "zcw", "config", "check", "-c", str(path)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "zcw", "config", "check", "-c", str(tmp_path / "x.toml")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "file not found" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("valve_lead_s = 0.5", "valve_lead_s = 0.5\nvalve_leed_s = 1"), "control.valve_leed_s"),
        (("max_run_s = 180", 'max_run_s = "long"'), "loops.bathroom.max_run_s"),
        (("max_run_s = 180", "max_run_s = 900"), "loops.bathroom.max_run_s"),
        (('sensor = "bathroom"', ""), "loops.bathroom.sensor"),
        # A sensor named but not in [sensors] (a typo): the key and the table, not the wiring.
        (
            ('sensor = "bathroom"', 'sensor = "bathrom"'),
            "loops.bathroom.sensor: sensor 'bathrom' is not in the [sensors] table",
        ),
        (("[control]", "[control"), "c.toml:"),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "bound",
        "missing-loop-sensor",
        "loop-sensor-not-in-sensors-table",
        "invalid-toml",
    ],
)
def test_config_check_exits_2_naming_key_and_fix(
    tmp_path: Path, edit: tuple[str, str], needle: str
) -> None:
    path = tmp_path / "c.toml"
    assert edit[0] in BASE
    path.write_text(BASE.replace(edit[0], edit[1], 1))
    out = subprocess.run(
        [sys.executable, "-m", "zcw", "config", "check", "-c", str(path)],
        capture_output=True,
        text=True,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 2
    assert needle in text and "fix:" in text
    assert "Traceback" not in text


CLAMP = BASE.replace('sensor_mount = "valve_body"', 'sensor_mount = "pipe_clamp"', 1)


@pytest.mark.parametrize(
    ("edit", "warned"),
    [
        (("", ""), True),  # a clamp on PPR, no T_cold
        (('pipe = "ppr_20x2.8"', 'pipe = "pex_1/2"'), True),
        (('pipe = "ppr_20x2.8"', ""), True),  # pipe unknown: assume plastic
        (('pipe = "ppr_20x2.8"', 'pipe = "cu_1/2_l"'), False),  # copper: the wall is no lag
        (("# cold_sensor", "cold_sensor"), False),  # T_cold guards the limit
        (('sensor_mount = "pipe_clamp"', 'sensor_mount = "valve_body"'), False),
        (('sensor_mount = "pipe_clamp"', ""), False),  # not said: no guess
        (('topology = "crossover"', 'topology = "return_line"'), False),  # no cold line
    ],
    ids=["ppr", "pex", "unknown-pipe", "copper", "t-cold", "valve-body", "unsaid", "return"],
)
def test_a_clamp_on_plastic_without_t_cold_is_warned_about(
    tmp_path: Path, edit: tuple[str, str], warned: bool
) -> None:
    path = tmp_path / "c.toml"
    text = CLAMP.replace(edit[0], edit[1], 1) if edit[0] else CLAMP
    # A T_cold probe needs its ROM id too (an extra one does no harm where it is unused).
    path.write_text(text.replace("[sensors]\n", '[sensors]\nbathroom_cold = "28aa00000000000f"\n'))
    cfg = load_config(path)
    found = advice(cfg)
    assert bool(found) == warned
    if warned:
        assert found[0].where == "loops.bathroom.sensor_mount"
        assert "valve_body" in found[0].fix and "loops.bathroom.cold_sensor" in found[0].fix


def test_config_check_prints_the_warning_and_still_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CLAMP)
    out = subprocess.run(
        [sys.executable, "-m", "zcw", "config", "check", "-c", str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "valid" in out.stdout and "warning:" in out.stdout
    assert "loops.bathroom.sensor_mount" in out.stdout


def test_secrets_never_appear_in_repr_logs_or_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    from zcw.app.compose import build_adapters
    from zcw.app.sim import build_sim
    from zcw.app.state_json import status_dict

    secret = "hunter2-very-secret"
    pw_file = tmp_path / "mqtt.password"
    pw_file.write_text(secret + "\n")
    pw_file.chmod(0o644)  # readable by everyone: zcw must warn about it
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(
        BASE.replace('path = "/var/lib/zcw/history.db"', f'path = "{tmp_path / "h.db"}"')
        + f'\n[mqtt]\nhost = "127.0.0.1"\nport = 1\nusername = "zcw"\npassword_file = "{pw_file}"\n'
    )
    with caplog.at_level(logging.DEBUG):
        cfg = load_config(cfg_path)
        assert cfg.mqtt is not None and cfg.mqtt.resolved_password() == secret
        assert secret not in repr(cfg)
        rig = build_sim(
            cfg.model_copy(update={"bridge": cfg.bridge.model_copy(update={"port": "sim"})})
        )
        adapters = build_adapters(cfg, rig.daemon)
        status = rig.daemon.tick()
        assert secret not in json.dumps(status_dict(status))
        assert secret not in repr(adapters.tasks) + repr(rig.daemon)
        if adapters.store is not None:
            adapters.store.close()
    assert "readable by everyone" in caplog.text
    assert secret not in caplog.text


def test_pipe_and_flow_hints_give_a_transit_estimate() -> None:
    from zcw.app.wiring import transit_estimate_s, wiring_from_config

    # R0: 15 m of PPR 20×2.8 (2.44 L) at 8 L/min: hot water after ≈ 26 s; the estimate errs long
    estimate = transit_estimate_s(15, "ppr_20x2.8", 8.0)
    assert estimate is not None and 26.0 <= estimate <= 45.0
    assert transit_estimate_s(None, "ppr_20x2.8", 8.0) is None
    cfg = load_config(ROOT / "config" / "crossover.toml")
    assert wiring_from_config(cfg).params.loops[0].transit_hint_s == estimate
