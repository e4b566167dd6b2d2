"""What Mi Home costs and how fast it answers: daemon RSS and start-up, with and without
``[mihome]``, python-miio's import and install weight, and the miIO poll round trip.

Usage: ``python -m hil.bench_mihome [RUNS] [POLLS]``. Each daemon is a real
``zcw run --sim -c FILE --speed 10`` process; with ``[mihome]`` it polls an emulated plug
(``zcw.testing.miio_device``) on 127.0.0.x. Start-up runs from spawning the process to its
first control tick ("state=idle" in its log); RSS is read from /proc 3 s later. The round
trip is ``MiioPlug.read()`` against the same emulated plug, and the trigger latency is a
switch-on in the emulator until the daemon's answer, through the composition root.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import random
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.bench_stats import percentile, summary_ms
from zcw.testing.miio_device import MiioDevice
from zcw.testing.processes import reap

TOKEN = "00112233445566778899aabbccddeeff"
DEFAULT = Path(__file__).resolve().parents[1] / "zcw" / "default.toml"


def config(folder: Path, host: str | None, poll_s: float = 1.0) -> Path:
    text = DEFAULT.read_text().replace("[control]", f'[control]\nsocket = "{folder / "s"}"')
    text += f'\n[store]\npath = "{folder / "h.db"}"\n'
    if host is not None:
        text += f'\n[[mihome.proxy]]\nhost = "{host}"\ntoken = "{TOKEN}"\npoll_s = {poll_s}\n'
    path = folder / "zcw.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(m.group(1)) / 1024 if m else float("nan")


def one_daemon(cfg: Path) -> tuple[float, float]:
    """(seconds to the first tick, RSS in MB 3 s later) of one `zcw run` process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zcw", "run", "--sim", "-c", str(cfg), "--speed", "10"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        fd, buf = proc.stderr.fileno(), b""
        while b"state=idle" not in buf:
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("the daemon did not start within 60 s")
            if select.select([fd], [], [], 0.5)[0]:
                buf += os.read(fd, 65536)
        started = time.perf_counter() - t0
        time.sleep(3.0)
        rss = rss_mb(proc.pid)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        return started, rss
    finally:
        reap(proc)


def daemons(runs: int) -> None:
    labels = {"without [mihome]": False, "with one proxy plug": True}
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    with tempfile.TemporaryDirectory() as tmp, MiioDevice(token=TOKEN) as plug:
        for i in range(runs):  # interleaved, each in a fresh folder
            for label, with_plug in labels.items():
                folder = Path(tmp) / f"{i}-{with_plug}"
                folder.mkdir()
                cfg = config(folder, plug.host if with_plug else None)
                results[label].append(one_daemon(cfg))
    rows = [
        (label, statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
        for label, rs in results.items()
    ]
    print(f"daemon (`zcw run --sim -c FILE --speed 10`), median of {runs} runs:")
    for label, start_s, rss in rows:
        print(f"  {label:<20} start-up {start_s:.2f} s   RSS {rss:.1f} MB")
    print(
        f"  difference           start-up +{rows[1][1] - rows[0][1]:.2f} s   "
        f"RSS +{rows[1][2] - rows[0][2]:.1f} MB"
    )


def import_cost(runs: int) -> None:
    code = (
        "import time; t = time.perf_counter(); "
        "from zcw.adapters.mihome.miio_client import load_codec; load_codec(); "
        "print(time.perf_counter() - t)"
    )
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    print(
        f"import of python-miio (through zcw's client), median of {runs}: "
        f"{statistics.median(times) * 1000:.0f} ms"
    )


def install_weight() -> None:
    """Installed size of python-miio and what it pulls in that zcw itself does not need."""

    def closure(name: str) -> set[str]:
        seen: set[str] = set()
        todo = [name]
        while todo:
            n = re.split(r"[ ;<>=!\[~(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
            if n in seen:
                continue
            try:
                dist = md.distribution(n)
            except md.PackageNotFoundError:
                continue
            seen.add(n)
            todo += [r for r in (dist.requires or []) if "extra ==" not in r]
        return seen

    core = set()
    for req in md.distribution("zcw").requires or []:
        if "extra ==" not in req:
            core |= closure(req)
    extra = closure("python-miio") - core
    total = 0
    for n in extra:
        for f in md.distribution(n).files or []:
            with_path = Path(str(f.locate()))
            if with_path.is_file():
                total += with_path.stat().st_size
    print(
        f"installed by zcw[mihome] beyond zcw: {len(extra)} packages, {total / 2**20:.1f} MB "
        f"({', '.join(sorted(extra))})"
    )


def round_trip(polls: int) -> None:
    from zcw.adapters.mihome.miio_client import MiioPlug

    with MiioDevice(token=TOKEN) as plug:
        client = MiioPlug(plug.host, TOKEN)
        client.read()  # the hello
        ms = []
        for _ in range(polls):
            t0 = time.perf_counter()
            client.read()
            ms.append((time.perf_counter() - t0) * 1000.0)
    print(f"miIO poll round trip (get_properties, loopback emulator), {polls} polls:")
    print(summary_ms(ms))


def trigger_latency(edges: int, poll_s: float = 1.0) -> None:
    """Switch-on in the emulator → the daemon's answer, through the composition root."""
    import tomllib

    from zcw.app.compose import build_adapters
    from zcw.app.sim import build_sim
    from zcw.config import parse_config
    from zcw.testing.live import LiveSim

    rng = random.Random(0)
    answered: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, MiioDevice(token=TOKEN) as plug:
        data = tomllib.loads(DEFAULT.read_text())
        data["control"] |= {"min_rest_s": 0, "socket": f"{tmp}/s"}
        data["mihome"] = {"proxy": [{"host": plug.host, "token": TOKEN, "poll_s": poll_s}]}
        cfg = parse_config(data)
        rig = build_sim(cfg)

        def record(status: object) -> None:
            for e in status.events:  # type: ignore[attr-defined]
                if str(e.source) == "mihome":
                    answered.append(time.monotonic())

        rig.daemon.observe(record)
        with LiveSim(rig, speed=10) as sim:
            adapters = sim.do(
                lambda: build_adapters(
                    cfg.model_copy(
                        update={"store": cfg.store.model_copy(update={"path": Path(tmp) / "h.db"})}
                    ),
                    rig.daemon,
                )
            )
            for run in adapters.tasks:
                sim.spawn(run())
            latencies = []
            for _ in range(edges):
                time.sleep(poll_s + rng.uniform(0.0, poll_s))
                n = len(answered)
                t0 = time.monotonic()
                plug.user_set(True)
                sim.wait_for(lambda n=n: len(answered) > n, 5, "an answer")  # type: ignore[misc]
                latencies.append((answered[n] - t0) * 1000.0)
                sim.wait_for(lambda: not plug.on, 30, "the plug off")
            for close in adapters.closers:
                sim.call(close())  # type: ignore[arg-type]
            if adapters.store is not None:
                sim.do(adapters.store.close)
    print(f"plug switched on → the daemon's answer, poll_s = {poll_s:g}, {edges} edges:")
    print(summary_ms(latencies) + f"   (p90 {percentile(latencies, 0.9):.0f} ms)")


def main(runs: int = 5, polls: int = 1000) -> None:
    install_weight()
    import_cost(runs)
    round_trip(polls)
    trigger_latency(30)
    daemons(runs)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
