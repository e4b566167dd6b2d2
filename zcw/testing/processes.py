"""Child processes in tests and `hil/` scripts: end them for good, whatever happened."""

from __future__ import annotations

import subprocess
from typing import Any


def reap(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """Kill, wait for and close a child even when an assertion failed: one left running, or
    a pipe left open, surfaces later as another test's ResourceWarning."""
    proc.kill()
    proc.wait(timeout=timeout_s)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
