"""What a newcomer meets on a fresh machine: where the config is looked for, no silent
simulator, and simulations that never touch a real install's store or socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zcw.config import (
    config_for_house_loops,
    load_config,
    simulation_config,
)
from zcw.testing.processes import read_until, reap

ZCW = [sys.executable, "-m", "zcw"]
ROOT = Path(__file__).resolve().parents[2]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A user with no config anywhere: no $ZCW_CONFIG, an empty home and config dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZCW_", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_RUNTIME_DIR=str(home / "run"),
        **extra,
    )
    (home / "run").mkdir(exist_ok=True)
    return env


def zcw(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZCW, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("command", [["run"], ["bridge", "info"], ["status"]])
def test_with_no_config_zcw_says_where_it_looked_and_what_to_do(
    tmp_path: Path, command: list[str]
) -> None:
    out = zcw(clean_env(tmp_path), *command)
    assert out.returncode == 2, out
    text = " ".join((out.stdout + out.stderr).split())
    assert "no config file found" in text
    assert "$ZCW_CONFIG (not set), /etc/zcw/zcw.toml" in text
    assert f"{tmp_path}/.config/zcw/zcw.toml" in text
    assert "zcw setup" in text and "zcw run --sim" in text
    assert "Traceback" not in text


def test_zcw_config_and_a_global_dash_c_are_both_honoured(tmp_path: Path) -> None:
    cfg = tmp_path / "mine.toml"
    cfg.write_text((ROOT / "config" / "crossover.toml").read_text())
    env = clean_env(tmp_path, ZCW_CONFIG=str(cfg))
    checked = zcw(env, "config", "check")
    assert checked.returncode == 0 and f"{cfg}: valid" in checked.stdout
    # `zcw -c FILE status` (before the subcommand) as well as after it.
    no_daemon = zcw(clean_env(tmp_path), "-c", str(cfg), "status")
    said = no_daemon.stdout + no_daemon.stderr
    assert no_daemon.returncode == 1 and "no zcw daemon is running" in said
    assert zcw(env, "status").returncode == 1


def test_a_mistyped_house_says_which_exist_and_names_ignore_case(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    bad = zcw(env, "run", "--sim", "h5")
    text = bad.stdout + bad.stderr
    assert bad.returncode != 0 and "unknown house 'h5'; available: H1, H2, H3, H4, R0" in text
    assert "Traceback" not in text
    assert zcw(env, "bridge", "info", "--sim", "h4").returncode == 0


def test_a_simulation_of_a_real_config_gets_its_own_store_and_socket(tmp_path: Path) -> None:
    real = load_config(ROOT / "config" / "crossover.toml")
    sim = simulation_config(real, "R0")
    assert sim.store_path != real.store_path and sim.socket_path != real.socket_path
    assert "sim" in str(sim.store_path) and "sim" in sim.socket_path.name
    h4 = simulation_config(config_for_house_loops(("far", "near"), "H4"), "H4")
    assert h4.store_path != sim.store_path and h4.socket_path != sim.socket_path
    # A config written for simulation keeps a store or socket it names.
    named = simulation_config(
        real.model_copy(
            update={
                "bridge": real.bridge.model_copy(update={"port": "sim"}),
                "store": real.store.model_copy(update={"path": tmp_path / "h.db"}),
                "control": real.control.model_copy(update={"socket": None}),
            }
        ),
        "R0",
    )
    assert named.store_path == tmp_path / "h.db" and named.socket_path == sim.socket_path


def test_two_simulated_houses_run_side_by_side_and_status_finds_its_own(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    procs = []
    try:
        for house in ("R0", "h4"):
            proc = subprocess.Popen(
                [*ZCW, "run", "--sim", house, "--speed", "5"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
            procs.append(proc)
            assert proc.stderr is not None
            read_until(proc.stderr.fileno(), b"control socket at", 30.0)
        for house, loop in (("R0", "bathroom"), ("H4", "far")):
            out = zcw(env, "status", "--sim", house, "--json")
            assert out.returncode == 0, out
            assert loop in out.stdout
        for house in ("r0", "h4"):  # each in its own store, none in a real install's
            assert (tmp_path / "state" / "zcw" / "sim" / house / "history.db").exists()
        assert not (tmp_path / "state" / "zcw" / "history.db").exists()
        ambiguous = zcw(env, "status")  # two simulations and no config: say so
        assert ambiguous.returncode == 2
        procs[1].send_signal(signal.SIGINT)
        procs[1].wait(timeout=20)
        only = zcw(env, "status", "--json")  # one simulation left: that one is meant
        assert only.returncode == 0 and "bathroom" in only.stdout
    finally:
        for proc in procs:
            reap(proc)
