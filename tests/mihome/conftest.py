"""Fixtures for the Mi Home tests: an emulated plug, and a live simulated daemon that runs
the adapters ``build_adapters`` makes of a config, as ``zcw run`` does."""

from __future__ import annotations

import asyncio
import contextlib
import time
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from zcw.app.compose import Adapters, build_adapters
from zcw.app.sim import SimRig, build_sim
from zcw.config import Config, parse_config
from zcw.domain.faults import Fault
from zcw.testing.live import LiveSim
from zcw.testing.miio_device import MiioDevice

TOKEN = "00112233445566778899aabbccddeeff"


@pytest.fixture
def plug() -> Iterator[MiioDevice]:
    with MiioDevice(token=TOKEN) as device:
        yield device


def sim_config(
    tmp_path: Path, mihome: dict[str, Any], *, loop: dict[str, Any] | None = None, **control: Any
) -> Config:
    """The built-in one-loop config with ``[mihome]``; ``loop`` and ``control`` override keys."""
    data = tomllib.loads(resources.files("zcw").joinpath("default.toml").read_text())
    data["control"].update({"min_rest_s": 0, "socket": str(tmp_path / "zcw.sock")} | control)
    data["loops"][0].update(loop or {})
    data["store"] = {"path": str(tmp_path / "history.db")}
    data["mihome"] = mihome
    return parse_config(data)


def proxy(device: MiioDevice, **keys: Any) -> dict[str, Any]:
    return {"proxy": [{"host": device.host, "token": TOKEN, "poll_s": 0.5} | keys]}


class Live:
    """A LiveSim whose adapters were built by the composition root, plus what tests ask."""

    def __init__(self, sim: LiveSim, adapters: Adapters) -> None:
        self.sim = sim
        self.adapters = adapters
        self.stamps: list[tuple[float, str, str | None]] = []  # (monotonic, kind, source)

        def record(status: Any) -> None:
            now = time.monotonic()
            for e in status.events:
                self.stamps.append((now, e.kind, str(e.source) if e.source else None))

        sim.do(lambda: sim.daemon.observe(record))

    @property
    def rig(self) -> SimRig:
        rig: SimRig = self.sim.rig
        return rig

    def faults(self) -> list[Fault]:
        status = self.sim.daemon.status
        return list(status.snapshot.faults) if status else []

    def fault(self, code: str) -> Fault | None:
        return next((f for f in self.faults() if f.code == code), None)

    def events(self, kind: str | None = None, source: str | None = None) -> list[float]:
        return [t for t, k, s in list(self.stamps) if kind in (None, k) and source in (None, s)]

    def wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Wait for ``predicate``; return when (time.monotonic()) it became true."""
        self.sim.wait_for(predicate, timeout_s, what)
        return time.monotonic()


@contextlib.contextmanager
def live(cfg: Config, *, speed: float = 10.0, rig: Any = None) -> Iterator[Live]:
    """The daemon with ``cfg``'s adapters; on ``rig`` (e.g. an emulated bridge, in real
    time) if given, else on the simulated house in lockstep at ``speed``."""
    rig = rig or build_sim(cfg)
    sim = LiveSim(rig, speed=speed)
    with sim:
        # Built in the loop's thread, as `zcw run` builds them before the loop: the store's
        # SQLite connection then lives where the observers run.
        adapters = sim.do(lambda: build_adapters(cfg, rig.daemon))
        for run in adapters.tasks:
            sim.spawn(run())
        for close in adapters.closers:

            async def closing(close: Callable[[], Awaitable[None]] = close) -> None:
                await close()

            sim.spawn(asyncio.sleep(0), close=closing)

        async def close_store() -> None:
            if adapters.store is not None:
                adapters.store.close()

        sim.spawn(asyncio.sleep(0), close=close_store)
        yield Live(sim, adapters)


# The four answers a start request gets (every request exactly one).
ANSWERS = ("cycle_started", "joined", "already_hot", "rejected")


def answers(lv: Live) -> int:
    """How many answers zcw gave to requests from the plug."""
    return sum(len(lv.events(k, "mihome")) for k in ANSWERS)


def settle(lv: Live, plug: MiioDevice) -> None:
    """Wait until zcw has read the plug once more (so it knows the plug's state)."""

    def reads() -> int:
        return sum(r.method.startswith("get_") for r in plug.log())

    n = reads()
    lv.wait(lambda: reads() > n, 5, "a poll")
