"""`zcw bridge flash` against the emulated Pico: SAFE, mpremote's copy and reset, the check.

mpremote itself is a stand-in here (a script that records what it was asked and "resets" the
emulator): there is no Pico on this machine. What is tested is zcw's side: a running bridge
is asked into safe mode first, the right files go, board.py stays unless asked, and the
version the bridge reports afterwards is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from zcw.app.flash import files_to_copy, firmware_dir, firmware_version
from zcw.testing.processes import reap, start_emulator

ROOT = Path(__file__).resolve().parents[2]


def test_flash_asks_a_running_bridge_into_safe_mode_copies_resets_and_checks(
    tmp_path: Path,
) -> None:
    link = tmp_path / "bridge"
    emulator = start_emulator(link, cwd=ROOT)
    log = tmp_path / "mpremote.log"
    marker = tmp_path / "reset"
    fake = tmp_path / "mpremote"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys, pathlib\n"
        f"pathlib.Path({str(log)!r}).open('a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"if sys.argv[-1] == 'reset': pathlib.Path({str(marker)!r}).touch()\n"
    )
    fake.chmod(0o755)

    def reset_when_asked() -> None:  # what mpremote's reset does to a real Pico
        end = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert emulator.stdin is not None
        emulator.stdin.write("reboot\n")
        emulator.stdin.flush()

    try:
        assert emulator.stdout is not None and emulator.stdout.readline().startswith("pty ")
        threading.Thread(target=reset_when_asked, daemon=True).start()
        command = ["bridge", "flash", "--port", str(link), "--mpremote", str(fake)]
        out = subprocess.run(
            [sys.executable, "-m", "zcw", *command],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "asking it into safe mode" in out.stdout
        wanted = firmware_version(firmware_dir())
        assert f"runs firmware {wanted}, protocol 2: done" in out.stdout
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        copied = calls[0][calls[0].index("cp") + 1 : -1]
        assert calls[0][:4] == ["connect", str(link), "fs", "cp"] and calls[0][-1] == ":"
        assert sorted(Path(f).name for f in copied) == sorted(
            p.name for p in files_to_copy(firmware_dir(), with_board=False)
        )
        assert "board.py" not in {Path(f).name for f in copied}
        assert "fake_hal.py" not in {Path(f).name for f in copied}
        assert calls[1] == ["connect", str(link), "reset"]
    finally:
        reap(emulator)
