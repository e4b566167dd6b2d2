"""The `zcw` command as a user runs it: real processes, a real pty for the dashboard."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

from zcw.testing.processes import config_with_socket as with_socket
from zcw.testing.processes import read_until as _read_until
from zcw.testing.processes import reap

ZCW = [sys.executable, "-m", "zcw"]


def test_version() -> None:
    out = subprocess.run([*ZCW, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("zcw ")


def test_client_without_daemon_says_so_and_exits_1(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(with_socket(tmp_path / "none.sock"))
    for cmd in (["status"], ["start"], ["stop"], ["reset"]):
        out = subprocess.run([*ZCW, *cmd, "-c", str(cfg)], capture_output=True, text=True)
        assert out.returncode == 1, out
        text = out.stdout + out.stderr
        assert "no zcw daemon is running" in text
        assert "Traceback" not in text


def test_plain_logging_without_a_terminal_and_clean_ctrl_c(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path), XDG_STATE_HOME=str(tmp_path))
    proc = subprocess.Popen(
        [*ZCW, "run", "--sim", "--speed", "20"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stderr is not None
        _read_until(proc.stderr.fileno(), b"state=idle", 30.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        reap(proc)
    assert proc.returncode == 0
    assert b"relays off" in err
    assert b"Traceback" not in err


def test_dashboard_key_starts_a_cycle_that_ends_safe(tmp_path: Path) -> None:
    """A person at the terminal presses 's'; the simulated loop heats; 'q' quits cleanly."""
    env = dict(
        os.environ,
        XDG_RUNTIME_DIR=str(tmp_path),
        XDG_STATE_HOME=str(tmp_path),
        COLUMNS="120",
        LINES="40",
        TERM="xterm-256color",
    )
    pid, fd = pty.fork()
    if pid == 0:  # child: the dashboard on a real terminal
        os.execvpe(sys.executable, [*ZCW, "run", "--sim", "--speed", "10"], env)
    try:
        _read_until(fd, b"[s] start", 30.0)
        _read_until(fd, " °C".encode(), 30.0)  # the first sensor conversion has arrived
        os.write(fd, b"s")
        _read_until(fd, b"HEATING", 20.0)
        screen = _read_until(fd, b"outcome hot", 60.0)
        assert b"time to hot" in screen
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_control_socket_commands_against_a_running_daemon(tmp_path: Path) -> None:
    """`zcw start` / `zcw status --json` talk to `zcw run --sim` over the Unix socket."""
    import json
    import stat

    sock = tmp_path / "zcw.sock"
    cfg = tmp_path / "c.toml"
    cfg.write_text(with_socket(sock) + f'\n[store]\npath = "{tmp_path / "h.db"}"\n')
    # Slow enough that the cycle started below is still running while a loaded machine
    # spawns the client processes that look at it (25 s of plumbing = 12.5 s here).
    proc = subprocess.Popen(
        [*ZCW, "run", "-c", str(cfg), "--speed", "2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        _read_until(proc.stderr.fileno(), b"state=idle", 30.0)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
        text = subprocess.run([*ZCW, "status", "-c", str(cfg)], capture_output=True, text=True)
        # What an installer checks after a week; a fresh install has learned nothing yet.
        # (Asked before the first cycle: one that ended would already have taught a transit.)
        assert "learned: sensor lag not yet, transit not yet" in text.stdout
        out = subprocess.run([*ZCW, "start", "-c", str(cfg)], capture_output=True, text=True)
        assert out.returncode == 0, out
        assert "heating bathroom" in out.stdout
        again = subprocess.run([*ZCW, "start", "-c", str(cfg)], capture_output=True, text=True)
        assert "bathroom joined the cycle already running" in again.stdout
        status = json.loads(
            subprocess.run(
                [*ZCW, "status", "--json", "-c", str(cfg)], capture_output=True, text=True
            ).stdout
        )
        assert status["state"] == "heating"
        assert set(status["loops"]["bathroom"]["learned"]) >= {"sensor_tau_s", "transit_s"}
        bad = subprocess.run(
            [*ZCW, "start", "garage", "-c", str(cfg)], capture_output=True, text=True
        )
        assert bad.returncode == 1 and "there is no such loop" in bad.stdout
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert not sock.exists()
    finally:
        reap(proc)


def test_commission_over_the_socket_prints_the_verdict_and_status_remembers_it(
    tmp_path: Path,
) -> None:
    """`zcw commission` against `zcw run --sim` (R0, fast-forwarded): before it, status says
    the loop is not commissioned; it streams the cycle, then prints the verdict and figures;
    after it, status shows the verdict (kept in what the loop learned)."""
    sock = tmp_path / "zcw.sock"
    cfg = tmp_path / "c.toml"
    cfg.write_text(with_socket(sock) + f'\n[store]\npath = "{tmp_path / "h.db"}"\n')
    proc = subprocess.Popen(
        [*ZCW, "run", "-c", str(cfg), "--speed", "25"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        _read_until(proc.stderr.fileno(), b"state=idle", 30.0)
        before = subprocess.run([*ZCW, "status", "-c", str(cfg)], capture_output=True, text=True)
        assert "not commissioned" in before.stdout
        out = subprocess.run(
            [*ZCW, "commission", "-c", str(cfg)], capture_output=True, text=True, timeout=180
        )
        assert out.returncode == 0, out
        assert "commissioning bathroom" in out.stdout
        assert "bathroom: sensor reads the water: good" in out.stdout
        assert "measured: transit" in out.stdout and "sensor lag" in out.stdout
        after = subprocess.run([*ZCW, "status", "-c", str(cfg)], capture_output=True, text=True)
        assert "commissioned: sensor reads the water: good" in after.stdout
        assert "not commissioned" not in after.stdout
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        reap(proc)
