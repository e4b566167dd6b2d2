"""Child processes in tests and `hil/` scripts: read what they print, end them for good."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any


def reap(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """Kill, wait for and close a child even when an assertion failed: one left running, or
    a pipe left open, surfaces later as another test's ResourceWarning."""
    proc.kill()
    proc.wait(timeout=timeout_s)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def start_emulator(link: Path, *, cwd: Path, house: str = "R0") -> subprocess.Popen[str]:
    """The emulated Pico as its own process (``python -m hil.emulator``), its pty behind the
    stable name ``link``, as a udev rule names a real one. It prints ``pty …`` first, and
    takes fault commands on its stdin."""
    return subprocess.Popen(
        [sys.executable, "-m", "hil.emulator", "--house", house, "--link", str(link)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def read_until(fd: int, needle: bytes, timeout_s: float) -> bytes:
    """Read a child's output (a pipe or a pty) until ``needle`` shows; fail with its tail."""
    buf = b""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if needle in buf:
                return buf
    raise AssertionError(f"{needle!r} not seen in {timeout_s} s; got tail {buf[-2000:]!r}")


def config_with_socket(sock: Path) -> str:
    """The built-in default config with its control socket moved to ``sock``."""
    text = resources.files("zcw").joinpath("default.toml").read_text(encoding="utf-8")
    if "[control]" not in text:
        return text + f'\n[control]\nsocket = "{sock}"\n'
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("socket"):
            continue
        lines.append(line)
        if line.strip() == "[control]":
            lines.append(f'socket = "{sock}"')
    return "\n".join(lines) + "\n"
