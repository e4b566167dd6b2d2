"""From a clone to a running service, as far as this machine allows: scripts/install-pi into
a temporary root (twice: it must be idempotent), `zcw setup` with flags against the emulated
Pico on its pty, the installed daemon on it, and `zcw status` with no -c."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from zcw.testing.processes import read_until, reap, start_emulator

ROOT = Path(__file__).resolve().parents[2]


def build_leftovers() -> dict[str, int]:
    """What a build of the clone in place writes there (``build/``, ``*.egg-info``), with
    each file's mtime: an install-pi run as root must leave the user's clone as it was."""
    found = [ROOT / "build", *ROOT.glob("*.egg-info"), *ROOT.glob("*.egg-info/*")]
    return {str(p.relative_to(ROOT)): p.stat().st_mtime_ns for p in found if p.exists()}


def test_install_setup_and_status_with_no_dash_c(tmp_path: Path) -> None:
    root = tmp_path / "root"
    clone_before = build_leftovers()
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
    assert build_leftovers() == clone_before  # built out of the clone, not in it

    # The "Pico": the emulator as its own process, its pty behind a stable name.
    link = root / "dev" / "zcw-bridge"
    link.parent.mkdir(parents=True)
    emulator = start_emulator(link, cwd=ROOT)
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


PACKAGES = ("mosquitto", "python3-venv", "gcc", "python3-dev", "systemd")


def fake_machine(tmp_path: Path, lacking: str | None) -> dict[str, str]:
    """A PATH and a $PYTHON that provide everything scripts/debian-packages looks for but
    what ``lacking`` (a Debian package name) would: stub commands, and a python whose
    ensurepip imports and whose include dir holds a Python.h."""
    bin_dir, include = tmp_path / "bin", tmp_path / "include"
    bin_dir.mkdir()
    include.mkdir()
    for tool in ("bash", "dirname", "ls", "sort", "tail", "cat"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    commands = {"mosquitto": "mosquitto", "gcc": "gcc", "systemd": "systemd-analyze"}
    for package, command in commands.items():
        if package != lacking:
            (bin_dir / command).write_text("#!/bin/sh\nexit 0\n")
            (bin_dir / command).chmod(0o755)
    if lacking != "python3-dev":
        (include / "Python.h").write_text("")
    ensurepip = "exit 1" if lacking == "python3-venv" else "exit 0"
    python = tmp_path / "python3"
    python.write_text(
        "#!/bin/sh\n"
        f'case "$2" in *ensurepip*) {ensurepip} ;; *sysconfig*) echo "{include}" ;; esac\n'
    )
    python.chmod(0o755)
    return {"PATH": str(bin_dir), "PYTHON": str(python), "HOME": str(tmp_path)}


@pytest.mark.parametrize("lacking", [None, *PACKAGES])
def test_debian_packages_finds_each_missing_package_by_what_it_provides(
    tmp_path: Path, lacking: str | None
) -> None:
    out = subprocess.run(
        [str(ROOT / "scripts" / "debian-packages"), "--missing"],
        capture_output=True,
        text=True,
        env=fake_machine(tmp_path, lacking),
        timeout=30,
    )
    assert out.returncode == 0 and out.stderr == "", out
    expected = [] if lacking is None else [lacking]
    if lacking == "mosquitto" and os.access("/usr/sbin/mosquitto", os.X_OK):
        # Debian puts it in /usr/sbin, off a normal user's PATH: found there, not missing.
        expected = []
    assert out.stdout.split() == expected


def test_debian_packages_lists_all_on_a_bare_machine(tmp_path: Path) -> None:
    env = fake_machine(tmp_path, "gcc")
    for stub in ("mosquitto", "systemd-analyze"):
        (tmp_path / "bin" / stub).unlink()
    (tmp_path / "include" / "Python.h").unlink()
    (tmp_path / "python3").write_text("#!/bin/sh\nexit 1\n")  # no ensurepip, no sysconfig
    out = subprocess.run(
        [str(ROOT / "scripts" / "debian-packages"), "--missing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    listed = set(out.stdout.split())
    assert out.returncode == 0 and listed >= {"python3-venv", "gcc", "python3-dev", "systemd"}


@pytest.mark.parametrize("lacking", [None, "gcc", "python3-dev"])
def test_debian_packages_installs_what_is_missing_with_one_apt_get(
    tmp_path: Path, lacking: str | None
) -> None:
    """Quiet and no apt-get at all when everything is there; otherwise one `apt-get install`
    of what is missing (through sudo when not root: the fake sudo runs it as given)."""
    env = fake_machine(tmp_path, lacking)
    calls = tmp_path / "calls"
    for name in ("apt-get", "sudo", "systemctl"):
        recorder = tmp_path / "bin" / name
        run_rest = 'exec "$@"' if name == "sudo" else "exit 0"
        recorder.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n{run_rest}\n')
        recorder.chmod(0o755)
    found = shutil.which("id")
    assert found is not None
    (tmp_path / "bin" / "id").symlink_to(found)
    out = subprocess.run(
        [str(ROOT / "scripts" / "debian-packages")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert out.returncode == 0, out
    if lacking is None:
        assert out.stdout == "" and not calls.exists()
    else:
        assert out.stdout == f"==> installing {lacking} (Debian packages)\n"
        # As root apt-get is called directly; otherwise sudo logs a line of its own first.
        made = calls.read_text().splitlines()
        assert [c for c in made if c.startswith("apt-get")] == [
            "apt-get update -qq",
            f"apt-get install -y -qq {lacking}",
        ]


def test_check_in_ci_without_python_313_says_what_to_do_before_installing_anything(
    tmp_path: Path,
) -> None:
    env = fake_machine(tmp_path, None)
    env.update(CI="true", PYENV_ROOT=str(tmp_path / "pyenv"), ZCW_PYTHON313="")
    out = subprocess.run(
        [str(ROOT / "scripts" / "check")], capture_output=True, text=True, env=env, timeout=30
    )
    assert out.returncode == 1, out
    text = " ".join(out.stderr.split())
    assert "no Python 3.13 was found" in text
    assert f"looked at: $ZCW_PYTHON313 (not set), {tmp_path}/pyenv/versions/3.13*" in text
    assert "pyenv install 3.13" in text and "ZCW_PYTHON313=/path/to/python3.13" in text
    assert "without CI=true" in text
    assert out.stdout == ""  # failed first: nothing installed, no linters run
