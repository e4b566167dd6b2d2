"""``python -m hil.footprint``: what the daemon costs a Pi, measured here and scaled by arithmetic.

For each configuration ("none": the bridge, the history and the control socket only; "all":
plus MQTT to a mosquitto, a Mi Home proxy plug (python-miio) against the emulated plug, Bemfa
against a second mosquitto, and schedules with keep-warm), a real ``zcw run`` process talks to
the emulated Pico (``python -m hil.emulator``, its own process, real time, house R0) and is
measured from outside through /proc:

- **READY**: from the process's start to ``READY=1`` on a fake ``NOTIFY_SOCKET`` (what
  systemd waits for with ``Type=notify``: the tick runs and the bridge answered);
- **idle**: RSS (and its peak), CPU over ``--idle-s`` seconds with nothing happening, as a
  share of one core, threads and open descriptors;
- **one cycle**: the CPU a cycle costs on top of idling, from ``zcw start`` to its end.

The daemon runs as installed: its modules byte-compiled beforehand, as pip compiles them on
a Pi (where the unit's ``ProtectSystem=strict`` would not let it write them at run time
either). An environment with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise have it compile
every zcw module from source at each start, start-up CPU a Pi never spends.

The Pi figures are arithmetic, not measurements: CPU time and start-up scale with
single-core speed (``PI_SLOWDOWN``, measured here against published figures; see
``pi_factors``), memory does not (the same 64-bit CPython and libraries on Raspberry Pi OS).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hil.soak.resources import cpu_s, fd_count, rss_mb, thread_count
from zcw.adapters.control_socket import request
from zcw.errors import ControlSocketError
from zcw.testing.broker import PASSWORD, USERNAME, Broker
from zcw.testing.miio_device import MiioDevice
from zcw.testing.processes import reap

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "00112233445566778899aabbccddeeff"

# Python n-body (the Computer Language Benchmarks Game program), 5,000,000 steps, on a
# Raspberry Pi 4 (Cortex-A72, 1.5 GHz, performance governor): 158.3 s (C. Mehta, "Performance
# Analysis of Languages on Raspberry Pi", chaitanyamehta.github.io; its Python version is not
# stated: an older CPython than 3.11 makes the estimates below pessimistic).
PI4_NBODY_5M_S = 158.3
# Single-core sysbench cpu, events/s (leoncode.co.uk, "Raspberry Pi CPU Benchmarks"):
# Pi 4 1477.83, Pi 3B+ 687.45, so a Pi 3B+ core is taken as 2.15× slower than a Pi 4's.
PI4_OVER_PI3BPLUS = 1477.83 / 687.45
# The Zero 2 W has the Pi 3B+'s Cortex-A53 at 1.0 GHz instead of 1.4 GHz (assumption: speed
# in proportion to the clock; same cores, same L2 size).
PI3BPLUS_OVER_ZERO2W = 1.4 / 1.0


def nbody_s(steps: int) -> float:
    """Seconds for ``steps`` steps of the Benchmarks Game's Python n-body, here."""
    pi, days = 3.141592653589793, 365.24
    solar = 4 * pi * pi
    bodies = [
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], solar),
        (
            [4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01],
            [1.66007664274403694e-03 * days, 7.69901118419740425e-03 * days,
             -6.90460016972063023e-05 * days],
            9.54791938424326609e-04 * solar,
        ),
        (
            [8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01],
            [-2.76742510726862411e-03 * days, 4.99852801234917238e-03 * days,
             2.30417297573763929e-05 * days],
            2.85885980666130812e-04 * solar,
        ),
        (
            [1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01],
            [2.96460137564761618e-03 * days, 2.37847173959480950e-03 * days,
             -2.96589568540237556e-05 * days],
            4.36624404335156298e-05 * solar,
        ),
        (
            [1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01],
            [2.68067772490389322e-03 * days, 1.62824170038242295e-03 * days,
             -9.51592254519715870e-05 * days],
            5.15138902046611451e-05 * solar,
        ),
    ]  # fmt: skip
    pairs = [(bodies[i], bodies[j]) for i in range(5) for j in range(i + 1, 5)]
    started = time.perf_counter()
    dt = 0.01
    for _ in range(steps):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx, dy, dz = x1 - x2, y1 - y2, z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1m, b2m = m1 * mag, m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for r, [vx, vy, vz], _m in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz
    return time.perf_counter() - started


def pi_factors(steps: int = 250_000) -> dict[str, float]:
    """How many times slower than this machine's core each Pi's core is, for CPython."""
    here_5m = nbody_s(steps) * 5_000_000 / steps
    pi4 = PI4_NBODY_5M_S / here_5m
    return {
        "nbody_5M_here_s": round(here_5m, 1),
        "pi4": round(pi4, 2),
        "pi3bplus": round(pi4 * PI4_OVER_PI3BPLUS, 2),
        "zero2w": round(pi4 * PI4_OVER_PI3BPLUS * PI3BPLUS_OVER_ZERO2W, 2),
    }


class Notify:
    """A fake systemd notify socket: the time each message arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)

    def wait_for(self, message: str, timeout_s: float) -> float | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if message in data.decode(errors="replace").splitlines():
                return time.monotonic()
        return None

    def drain(self) -> None:
        self.sock.settimeout(0.0)
        try:
            while True:
                self.sock.recv(4096)
        except (BlockingIOError, TimeoutError):
            pass
        finally:
            self.sock.settimeout(0.1)

    def close(self) -> None:
        self.sock.close()


def _emulator(tmp: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil.emulator", "--house", "R0", "--link", str(tmp / "bridge")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("pty "):
        raise RuntimeError(f"the emulator did not start: {first!r}")
    sensors: dict[str, str] = json.loads(proc.stdout.readline())["sensors"]
    # Its relay lines are not needed, but it must never block on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, sensors


def _config(tmp: Path, sensors: dict[str, str], extra: str) -> Path:
    cfg = tmp / "zcw.toml"
    sensor_lines = "\n".join(f'{n} = "{r}"' for n, r in sensors.items())
    cfg.write_text(
        f"""
topology = "crossover"
timezone = "UTC"

[control]
socket = "{tmp / "zcw.sock"}"
min_rest_s = 30
hysteresis_c = 0.5

[pump]
relay = 0
flow_lpm = 8.0

[bridge]
port = "{tmp / "bridge"}"

[sensors]
{sensor_lines}

[store]
path = "{tmp / "history.db"}"

[[loops]]
name = "bathroom"
ready_c = 36.0
sensor = "bathroom"
valve_relay = 1
{extra}
"""
    )
    cfg.chmod(0o600)
    return cfg


def _integrations(ha: Broker, bemfa: Broker, plug: MiioDevice) -> str:
    # Configured and running, but due hours from now: a cycle of theirs inside the idle
    # window would be counted as idling.
    def at(hours: float) -> str:
        return time.strftime("%H:%M", time.gmtime(time.time() + hours * 3600))

    return f"""
[[schedule]]
loop = "bathroom"
at = "{at(6)}"
days = "mon-fri"

[[schedule]]
loop = "bathroom"
at = "{at(9)}"

[[keep_warm]]
loop = "bathroom"
from = "{at(3)}"
to = "{at(5)}"

[mqtt]
host = "127.0.0.1"
port = {ha.auth_port}
username = "{USERNAME}"
password = "{PASSWORD}"

[[mihome.proxy]]
host = "{plug.host}"
token = "{TOKEN}"
poll_s = 1.0

[mihome.bemfa]
topic = "zcw006"
key = "footprint0bemfa0key"
host = "127.0.0.1"
port = {bemfa.port}
tls = false
"""


def measure(name: str, extra: str, tmp: Path, idle_s: float) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    emulator, sensors = _emulator(tmp)
    notify = Notify(tmp / "notify.sock")
    cfg = _config(tmp, sensors, extra)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path))
    env.pop("WATCHDOG_USEC", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: see the module's docstring
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zcw", "run", "-c", str(cfg), "--no-dashboard"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        ready = notify.wait_for("READY=1", 60.0)
        if ready is None:
            raise RuntimeError(f"{name}: no READY=1 within 60 s")
        ready_cpu = cpu_s(proc.pid)  # what a slower core stretches; the rest is waiting
        time.sleep(15.0)  # connections made, first readings, MQTT discovery published
        notify.drain()
        pid = proc.pid
        cpu0, t0 = cpu_s(pid), time.monotonic()
        rss_samples = []
        while time.monotonic() - t0 < idle_s:
            time.sleep(1.0)
            rss_samples.append(rss_mb(pid))
        idle_cpu = (cpu_s(pid) - cpu0) / (time.monotonic() - t0)
        threads, fds = thread_count(pid), fd_count(pid)
        with open(f"/proc/{pid}/status") as f:
            hwm = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM"))
        cycle_cpu, cycle_s = _one_cycle(tmp / "zcw.sock", pid, idle_cpu)
        return {
            "config": name,
            "ready_s": round(ready - started, 2),
            "ready_cpu_s": round(ready_cpu, 2),
            "idle_rss_mb": round(sum(rss_samples) / len(rss_samples), 1),
            "peak_rss_mb": round(hwm, 1),
            "idle_cpu_pct": round(100 * idle_cpu, 2),
            "cycle_cpu_s": round(cycle_cpu, 2),
            "cycle_s": round(cycle_s, 1),
            "threads": threads,
            "fds": fds,
        }
    finally:
        reap(proc)
        notify.close()
        reap(emulator)


def _one_cycle(sock: Path, pid: int, idle_cpu: float) -> tuple[float, float]:
    """CPU a cycle costs beyond idling: from `zcw start` until the daemon is idle again."""
    cpu0, t0 = cpu_s(pid), time.monotonic()
    reply = request(sock, {"cmd": "start"}, timeout_s=10.0)
    kinds = [e.get("event_type") for e in reply.get("events", [])]
    if "cycle_started" not in kinds:
        raise RuntimeError(f"the cycle did not start: {reply}")
    deadline = t0 + 240.0
    while time.monotonic() < deadline:
        time.sleep(1.0)
        try:
            status = request(sock, {"cmd": "status"}, timeout_s=5.0)["status"]
        except (OSError, ControlSocketError, KeyError):
            continue
        if status["phase"] == "idle":
            break
    duration = time.monotonic() - t0
    return max(0.0, cpu_s(pid) - cpu0 - idle_cpu * duration), duration


def run(idle_s: float, calibrate: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="zcw-footprint-"))
    # What pip does at install (into __pycache__, which git ignores); the libraries in the
    # venv were compiled when they were installed.
    compileall.compile_dir(ROOT / "zcw", quiet=1)
    rows = [measure("none", "", tmp / "none", idle_s)]
    with (
        Broker(tmp / "mqtt") as ha,
        Broker(tmp / "bemfa") as bemfa,
        MiioDevice(token=TOKEN) as plug,
    ):
        rows.append(measure("all", _integrations(ha, bemfa, plug), tmp / "all", idle_s))
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": os.uname().machine,
        "cores": os.cpu_count(),
        "rows": rows,
    }
    if calibrate:
        factors = pi_factors()
        out["pi_factors"] = factors
        for row in rows:
            for pi in ("pi3bplus", "zero2w"):
                k = factors[pi]
                # The waiting (for the bridge's answer, the broker) takes as long on a Pi; the
                # CPU time to get there is k times longer.
                row[f"{pi}_ready_s"] = round(row["ready_s"] + row["ready_cpu_s"] * (k - 1), 1)
                row[f"{pi}_idle_cpu_pct"] = round(row["idle_cpu_pct"] * k, 2)
                row[f"{pi}_cycle_cpu_s"] = round(row["cycle_cpu_s"] * k, 1)
    return out


def table(result: dict[str, Any]) -> str:
    lines = [
        "| integrations | READY (CPU to it) | idle RSS (peak) | idle CPU | CPU per cycle "
        "| threads, fds |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['config']} | {r['ready_s']} s ({r['ready_cpu_s']} s) "
            f"| {r['idle_rss_mb']} MB ({r['peak_rss_mb']}) "
            f"| {r['idle_cpu_pct']} % | {r['cycle_cpu_s']} s over {r['cycle_s']} s "
            f"| {r['threads']}, {r['fds']} |"
        )
    if "pi_factors" in result:
        f = result["pi_factors"]
        lines += [
            "",
            f"Pi factors (× this machine's CPU time): Pi 4 {f['pi4']}, Pi 3B+ {f['pi3bplus']}, "
            f"Zero 2 W {f['zero2w']} (n-body here: {f['nbody_5M_here_s']} s for 5M steps)",
            "",
            "| integrations | Pi 3B+: READY, idle CPU, CPU/cycle | Zero 2 W: READY, idle CPU, "
            "CPU/cycle |",
            "|---|---|---|",
        ]
        for r in result["rows"]:
            lines.append(
                f"| {r['config']} | {r['pi3bplus_ready_s']} s, {r['pi3bplus_idle_cpu_pct']} %, "
                f"{r['pi3bplus_cycle_cpu_s']} s | {r['zero2w_ready_s']} s, "
                f"{r['zero2w_idle_cpu_pct']} %, {r['zero2w_cycle_cpu_s']} s |"
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.footprint", description=__doc__)
    ap.add_argument("--idle-s", type=float, default=60.0, help="idle window (default 60 s)")
    ap.add_argument("--no-calibrate", action="store_true", help="skip the Pi arithmetic")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(args.idle_s, not args.no_calibrate)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
