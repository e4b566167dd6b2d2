"""From a clone to a running service, as far as this machine allows: scripts/install-pi into
a temporary root (twice: it must be idempotent), `zcw setup` with flags against the emulated
Pico on its pty, the installed daemon on it, and `zcw status` with no -c."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from zcw.testing.processes import read_until, reap

ROOT = Path(__file__).resolve().parents[2]


def test_install_setup_and_status_with_no_dash_c(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for _ in range(2):  # the second run upgrades in place and changes nothing else
        out = subprocess.run(
            [str(ROOT / "scripts" / "install-pi"), "--root", str(root)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-3000:]
    zcw = root / "opt" / "zcw" / ".venv" / "bin" / "zcw"
    assert stat.S_IMODE((root / "etc" / "zcw").stat().st_mode) == 0o750
    assert os.readlink(root / "usr" / "local" / "bin" / "zcw") == "/opt/zcw/.venv/bin/zcw"
    unit = (root / "etc" / "systemd" / "system" / "zcw.service").read_text()
    assert "ExecStart=/opt/zcw/.venv/bin/zcw run -c /etc/zcw/zcw.toml" in unit
    assert (root / "etc" / "udev" / "rules.d" / "99-zcw-bridge.rules").exists()
    assert "sudo zcw setup" in out.stdout

    # The "Pico": the emulator as its own process, its pty behind a stable name.
    link = root / "dev" / "zcw-bridge"
    link.parent.mkdir(parents=True)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "hil.emulator", "--house", "R0", "--link", str(link)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    daemon = None
    try:
        assert emulator.stdout is not None
        assert emulator.stdout.readline().startswith("pty ")
        rom = json.loads(emulator.stdout.readline())["sensors"]["bathroom"]
        config = root / "etc" / "zcw" / "zcw.toml"
        sock = root / "run" / "zcw" / "zcw.sock"
        setup = subprocess.run(
            [
                str(zcw),
                "setup",
                "--port",
                str(link),
                "--loop",
                f"bathroom:1:{rom}",
                "--flow-lpm",
                "8",
                "--timezone",
                "Asia/Shanghai",
                "--socket",
                str(sock),
                "--store",
                str(root / "var" / "lib" / "zcw" / "history.db"),
                "--output",
                str(config),
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        assert f"Written and checked: {config}" in setup.stdout
        assert "systemctl enable --now zcw" in setup.stdout
        checked = subprocess.run(
            [str(zcw), "config", "check", "-c", str(config)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked

        # In a real root this is /etc/zcw/zcw.toml, found with no -c; here $ZCW_CONFIG says so.
        env = dict(os.environ, ZCW_CONFIG=str(config))
        daemon = subprocess.Popen(
            [str(zcw), "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert daemon.stderr is not None
        read_until(daemon.stderr.fileno(), b"bridge online", 30.0)
        status = subprocess.run(
            [str(zcw), "status", "--json"], capture_output=True, text=True, env=env, timeout=30
        )
        assert status.returncode == 0, status
        shown = json.loads(status.stdout)
        assert shown["bridge_online"] is True and "bathroom" in shown["loops"]
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
        assert daemon.returncode == 0
    finally:
        if daemon is not None:
            reap(daemon)
        reap(emulator)
