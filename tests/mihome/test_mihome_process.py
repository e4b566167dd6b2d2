"""`zcw run --sim -c FILE --speed 10` with a proxy plug, as a user runs it: a real process,
the emulated plug on 127.0.0.x, and `zcw monitor`/`status`/`history` over the socket."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from conftest import TOKEN

from zcw.testing.miio_device import MiioDevice
from zcw.testing.processes import reap

ZCW = [sys.executable, "-m", "zcw"]


def wait_for(predicate: Any, timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Monitor:
    """What `zcw monitor` reads, in a thread: every event with the time it arrived."""

    def __init__(self, sock: Path) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(str(sock))
        self._sock.sendall(b'{"cmd": "monitor"}\n')
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError), self._sock.makefile("rb") as f:
            for line in f:
                item = json.loads(line)
                if "event" in item:
                    self.events.append((time.monotonic(), item["event"]))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def first(self, kind: str, source: str | None = None) -> float | None:
        for t, e in list(self.events):
            if e.get("event") == kind and source in (None, e.get("source")):
                return t
        return None


def test_zcw_run_sim_with_a_proxy_plug(tmp_path: Path) -> None:
    sock = tmp_path / "zcw.sock"
    token_file = tmp_path / "plug.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    default = (Path(__file__).parents[2] / "zcw" / "default.toml").read_text()
    with MiioDevice(token=TOKEN) as plug:
        cfg = tmp_path / "zcw.toml"
        cfg.write_text(
            default.replace("[control]", f'[control]\nsocket = "{sock}"').replace(
                "min_rest_s = 30", "min_rest_s = 0"
            )
            + f'\n[store]\npath = "{tmp_path / "history.db"}"\n'
            + f'\n[[mihome.proxy]]\nhost = "{plug.host}"\nname = "零冷水"\n'
            + f'token_file = "{token_file}"\npoll_s = 0.5\n'
        )
        cfg.chmod(0o600)
        proc = subprocess.Popen(
            [*ZCW, "run", "--sim", "-c", str(cfg), "--speed", "10"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        err: list[bytes] = []
        assert proc.stderr is not None
        pipe = proc.stderr
        threading.Thread(target=lambda: err.extend(iter(pipe.readline, b"")), daemon=True).start()
        try:
            wait_for(lambda: sock.exists() and len(plug.log()) >= 2, 30, "the daemon polling")
            monitor = Monitor(sock)
            time.sleep(0.5)
            t0 = time.monotonic()
            plug.user_set(True)
            wait_for(lambda: monitor.first("cycle_started", "mihome"), 3, "cycle_started")
            latency = (monitor.first("cycle_started", "mihome") or 0.0) - t0
            assert latency <= 0.5 + 0.5
            wait_for(lambda: monitor.first("hot_ready"), 20, "hot_ready")
            hot_at = monitor.first("hot_ready") or 0.0
            wait_for(lambda: not plug.on, 3, "the plug switched off")
            assert plug.switched_to() == [False]
            assert abs(plug.log("set_properties")[0].at - hot_at) < 0.5  # sent at hot_ready

            def history() -> dict[str, Any]:
                out = subprocess.run(
                    [*ZCW, "history", "--json", "-c", str(cfg)], capture_output=True, text=True
                )
                return dict(json.loads(out.stdout))

            wait_for(lambda: history()["cycles"], 10, "the cycle in the history")
            assert history()["cycles"][0]["source"] == "mihome"

            plug.silent = True
            t_silent = time.monotonic()

            def faults() -> list[dict[str, Any]]:
                out = subprocess.run(
                    [*ZCW, "status", "--json", "-c", str(cfg)], capture_output=True, text=True
                )
                return list(json.loads(out.stdout)["faults"])

            wait_for(lambda: any(f["code"] == "mihome_offline" for f in faults()), 10, "the fault")
            assert time.monotonic() - t_silent < 10.0
            fault = next(f for f in faults() if f["code"] == "mihome_offline")
            assert plug.host in fault["message"] and "零冷水" in fault["message"]
            # A monitor still connected at shutdown makes the control server log a
            # CancelledError traceback (not Mi Home's doing); the server notices a closed
            # client at its next write, within 2 s.
            monitor.close()
            time.sleep(2.5)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
            assert proc.returncode == 0
        finally:
            reap(proc)
    text = b"".join(err).decode()
    assert "relays off" in text and "Traceback" not in text
    assert TOKEN not in text
    print(f"\n`zcw run --sim --speed 10`: plug on → cycle_started {latency * 1000:.0f} ms")


def test_without_python_miio_zcw_run_says_what_to_install(tmp_path: Path) -> None:
    cfg = tmp_path / "zcw.toml"
    default = (Path(__file__).parents[2] / "zcw" / "default.toml").read_text()
    cfg.write_text(
        default.replace("[control]", f'[control]\nsocket = "{tmp_path / "s"}"')
        + f'\n[store]\npath = "{tmp_path / "h.db"}"\n'
        + f'\n[[mihome.proxy]]\nhost = "127.0.0.1"\ntoken = "{TOKEN}"\n'
    )
    cfg.chmod(0o600)
    hide = (
        "import sys; sys.modules['miio'] = None; from zcw.cli import main; "
        "sys.exit(main(['run', '--sim', '-c', sys.argv[1], '--speed', '10']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", hide, str(cfg)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 1, text
    assert "python-miio cannot be imported" in text and "mihome extra" in text
    assert "Traceback" not in text and TOKEN not in text
