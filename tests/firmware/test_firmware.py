"""Run the firmware checks under CPython (one test each) and under real MicroPython."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import fw_checks  # the firmware's own checks (MicroPython-compatible, untyped)
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIRMWARE_FILES = sorted((ROOT / "firmware_bridge").glob("*.py"))


def tool(name: str) -> Path:
    path = BIN / name
    assert path.exists(), (
        f"{name} is missing from the venv; install the dev extras: pip install -e '.[dev]'"
    )
    return path


@pytest.mark.parametrize("check", fw_checks.CHECKS, ids=lambda c: c.__name__)
def test_firmware_check_under_cpython(check: Callable[[], None]) -> None:
    check()


def test_firmware_checks_under_micropython() -> None:
    out = subprocess.run(
        [str(tool("micropython")), str(ROOT / "tests" / "firmware" / "fw_checks.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(fw_checks.CHECKS)} passed, 0 failed" in out.stdout


@pytest.mark.parametrize("path", FIRMWARE_FILES, ids=lambda p: p.name)
def test_mpy_cross_accepts_every_firmware_file(path: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(tool("mpy-cross")), "-o", str(tmp_path / "out.mpy"), str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
