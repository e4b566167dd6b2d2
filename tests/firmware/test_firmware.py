"""Run the firmware checks under CPython (one test each) and under real MicroPython."""

from __future__ import annotations

import re
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


@pytest.mark.parametrize(
    "check", [c for _, c in fw_checks.CHECKS], ids=[n for n, _ in fw_checks.CHECKS]
)
def test_firmware_check_under_cpython(check: Callable[[], None]) -> None:
    check()


def test_firmware_checks_under_micropython() -> None:
    out = subprocess.run(
        # The unix port's default heap is small; the checks keep minutes of frames.
        [str(tool("micropython")), "-X", "heapsize=64M", str(ROOT / "tests/firmware/fw_checks.py")],
        capture_output=True,
        text=True,
        timeout=600,
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


# A tick value compared or subtracted with plain operators is wrong across the 2**30 wrap.
TICK = r"\b(?:now|now_ms|deadline|since|last_rx|next_\w+|\w*_at)(?:\[\w+\])?"
PLAIN_TICK_MATH = re.compile(rf"{TICK}\s*[-+<>]|[-+<>]=?\s*{TICK}(?!\w|\s*\()")


@pytest.mark.parametrize(
    "path", [p for p in FIRMWARE_FILES if p.name not in ("ticks.py", "fake_hal.py")], ids=str
)
def test_no_plain_tick_arithmetic_in_firmware(path: Path) -> None:
    """Every time comparison goes through ticks.ticks_diff/ticks_add (hal.py: time.ticks_*)."""
    bad = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if "ticks_" in code or code.strip().startswith(('"', "'")):
            continue
        if PLAIN_TICK_MATH.search(code):
            bad.append(f"{path.name}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)
