"""What a newcomer meets on a fresh machine: where the config is looked for, no silent
simulator, and simulations that never touch a real install's store or socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zcw.config import (
    config_for_house_loops,
    load_config,
    simulation_config,
)
from zcw.testing.processes import config_with_socket, read_until, reap, start_emulator

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


@pytest.mark.parametrize("command", [["run"], ["bridge", "info"], ["status"], ["config", "check"]])
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
    assert "None" not in text  # `config check` once printed "None: invalid"


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


def test_an_invalid_toml_hint_keeps_its_brackets(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[pump\nrelay = 0\n")
    out = zcw(clean_env(tmp_path), "config", "check", "-c", str(bad))
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "tables look like [name], arrays of tables like [[loops]]" in " ".join(text.split())


def daemon(
    tmp_path: Path, *extra: str, min_rest_s: float = 30.0
) -> tuple[subprocess.Popen[bytes], Path]:
    """`zcw run --sim` at 5× with its own state, socket and store under tmp_path."""
    sock = tmp_path / "zcw.sock"
    cfg = tmp_path / "c.toml"
    text = config_with_socket(sock).replace("min_rest_s = 30", f"min_rest_s = {min_rest_s:g}")
    assert f"min_rest_s = {min_rest_s:g}" in text  # the default config still says 30
    cfg.write_text(text + f'\n[store]\npath = "{tmp_path / "h.db"}"\n')
    proc = subprocess.Popen(
        [*ZCW, "run", "-c", str(cfg), "--speed", "5", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path),
    )
    assert proc.stderr is not None
    read_until(proc.stderr.fileno(), b"control socket at", 30.0)
    return proc, cfg


def test_refusals_say_what_to_do_and_none_or_inf_never_leak(tmp_path: Path) -> None:
    # The rest must outlast two CLI calls on a loaded machine (30 s at 5× was 6 s: too short).
    proc, cfg = daemon(tmp_path, min_rest_s=600.0)
    env = clean_env(tmp_path)
    try:
        unknown = zcw(env, "start", "garage", "-c", str(cfg))
        assert unknown.returncode == 1
        assert (
            "not started garage: there is no such loop; the loops are: bathroom" in unknown.stdout
        )
        started = zcw(env, "start", "-c", str(cfg))  # may come before the first reading: held
        assert started.returncode == 0, started
        assert "heating bathroom" in started.stdout
        assert zcw(env, "stop", "-c", str(cfg)).returncode == 0
        rest = zcw(env, "start", "-c", str(cfg))
        assert rest.returncode == 1
        assert "the pump rests between cycles; try again in" in rest.stdout
        # Commissioning refused the same way ends on a sentence, not the bare code "rest".
        refused = zcw(env, "commission", "-c", str(cfg))
        said = " ".join(refused.stdout.split())
        assert refused.returncode == 1, refused
        assert "not started bathroom: the pump rests between cycles; try again in" in said
        assert (
            "commissioning did not start, so nothing was measured: the pump rests between "
            "cycles. Run `zcw commission bathroom` again after the rest (it ends in"
        ) in said
        assert not refused.stdout.rstrip().endswith(": rest"), refused.stdout
        status = zcw(env, "status", "-c", str(cfg))
        assert status.returncode == 0
        assert "None" not in status.stdout and "inf" not in status.stdout
        assert "last cycle: bathroom" in status.stdout and "stopped on request" in status.stdout
        reset = zcw(env, "reset", "-c", str(cfg))
        assert reset.returncode == 0 and "no latched fault to clear" in reset.stdout
        away = zcw(env, "mode", "away", "-c", str(cfg))
        assert away.returncode == 0 and "mode is now away" in away.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        reap(proc)
    # The daemon is gone: the history is still there to read.
    history = zcw(env, "history", "-c", str(cfg))
    assert history.returncode == 0, history
    assert "stopped on request" in history.stdout


def test_monitor_follows_events_and_the_daemon_stops_cleanly_under_it(tmp_path: Path) -> None:
    proc, cfg = daemon(tmp_path)
    monitor = subprocess.Popen(
        [*ZCW, "monitor", "-c", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path),
    )
    try:
        assert monitor.stdout is not None and proc.stderr is not None
        read_until(monitor.stdout.fileno(), b"state idle", 20.0)
        zcw(clean_env(tmp_path), "start", "-c", str(cfg))
        seen = read_until(monitor.stdout.fileno(), b"hot water at bathroom", 60.0)
        # The state is printed when it changes, not once a second.
        assert seen.count(b"state idle") <= 2
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert b"Traceback" not in err and b"CancelledError" not in err
    finally:
        reap(proc)
        reap(monitor)


def test_a_config_dir_the_user_may_not_read_is_a_clear_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /etc/zcw is 0750 root:zcw: for a user outside group zcw, stat() itself is refused.
    from zcw import config as zc

    def refuse(self: Path) -> bool:
        if str(self).startswith("/etc/zcw"):
            raise PermissionError(13, "Permission denied", str(self))
        return False

    monkeypatch.delenv("ZCW_CONFIG", raising=False)
    monkeypatch.setattr(Path, "exists", refuse)
    assert zc.find_config(None) == Path("/etc/zcw/zcw.toml")
    monkeypatch.undo()

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(zc.ConfigError, match="permission denied") as err:
        zc.load_config(Path("/etc/zcw/zcw.toml"))
    # Both causes, the usual first: not in group zcw yet; then a file not the group's.
    assert "sudo usermod -aG zcw $USER" in str(err.value)
    assert "sudo chgrp zcw /etc/zcw/zcw.toml" in str(err.value)


def test_status_shows_the_bridge_offline_before_the_stale_sensors_it_causes() -> None:
    from zcw.domain import faults as F
    from zcw.domain.controller import Controller
    from zcw.domain.model import LoopParams, Params

    c = Controller(Params(loops=(LoopParams("bathroom"),)))
    c.raise_external_fault(F.sensor_invalid("bathroom", "loop", "stale"))
    c.raise_external_fault(F.bridge_offline())
    fault = c.snapshot().fault
    assert fault is not None and fault.code == "bridge_offline"


def until_exit(
    env: dict[str, str], args: list[str], code: int, timeout_s: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run `zcw ARGS` until it exits with ``code`` (the daemon sees a sensor change within a
    few sensor periods); fail with the last output if it never does."""
    end = time.monotonic() + timeout_s
    while True:
        out = zcw(env, *args)
        if out.returncode == code or time.monotonic() > end:
            assert out.returncode == code, out
            return out
        time.sleep(0.5)


def test_status_and_reset_exit_1_while_a_fault_is_active(tmp_path: Path) -> None:
    """A real config on the emulated Pico (its own process, as a Pico is): a sensor pulled
    off the bus makes `zcw status` exit 1 and show the fault; `zcw reset` cannot clear what
    is still there, says so and exits 1; once the sensor is back, both exit 0 again."""
    from zcw.app.setup import Answers, LoopAnswer, render

    link = tmp_path / "zcw-bridge"
    emulator = start_emulator(link, cwd=ROOT)
    proc = None
    try:
        assert emulator.stdin is not None and emulator.stdout is not None
        assert emulator.stdout.readline().startswith("pty ")
        rom = json.loads(emulator.stdout.readline())["sensors"]["bathroom"]
        cfg = tmp_path / "zcw.toml"
        answers = Answers(
            port=str(link),
            loops=[LoopAnswer("bathroom", 1, rom)],
            flow_lpm=8.0,
            socket=str(tmp_path / "zcw.sock"),
            store=str(tmp_path / "history.db"),
        )
        cfg.write_text(render(answers))
        env = clean_env(tmp_path, ZCW_CONFIG=str(cfg))
        proc = subprocess.Popen(
            [*ZCW, "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stderr is not None
        read_until(proc.stderr.fileno(), b"bridge online", 30.0)
        until_exit(env, ["status"], 0)

        emulator.stdin.write("fault bathroom disconnected\n")
        emulator.stdin.flush()
        status = until_exit(env, ["status"], 1)
        assert "state fault" in status.stdout
        assert "fault sensor_invalid: The loop sensor on loop 'bathroom'" in status.stdout
        assert "disconnected" in status.stdout and "→ Check the sensor wiring" in status.stdout
        as_json = zcw(env, "status", "--json")
        assert as_json.returncode == 1 and json.loads(as_json.stdout)["state"] == "fault"

        reset = zcw(env, "reset")
        assert reset.returncode == 1, reset
        assert "reset: no latched fault to clear" in reset.stdout
        assert "still active: sensor_invalid: The loop sensor on loop 'bathroom'" in reset.stdout
        assert "→ Check the sensor wiring" in reset.stdout

        emulator.stdin.write("heal bathroom\n")
        emulator.stdin.flush()
        until_exit(env, ["status"], 0)
        assert zcw(env, "reset").returncode == 0
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert proc.returncode == 0
    finally:
        if proc is not None:
            reap(proc)
        reap(emulator)
