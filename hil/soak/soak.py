"""The soak: the whole daemon for days of simulated time, every trigger and every fault at once.

What runs, and on which clock:

- **accelerated (lockstep)**: the plant and the emulated Pico (the firmware's own ``Bridge`` on
  a manual clock, behind a real pty), the daemon's real ``SerialBridge`` on a stepped clock,
  the ``Daemon`` tick, the history store, the schedule (its wall and monotonic clocks follow
  simulated time) and MQTT's state (its wall clock too). A step moves the plant and the
  firmware (one pass every 50 ms of simulated time while anything moves, 250 ms when idle),
  waits until the link's reader thread has taken every byte the firmware wrote, then ticks
  the daemon once (every 0.25 s of simulated time while anything moves, every 1 s when idle).
- **real time**: the two mosquitto brokers, the MQTT and Bemfa clients, the emulated Mi plug
  (miIO over UDP) and the control socket. Their own timers (poll intervals, reconnect
  backoffs) run on the wall clock. When the soak needs one of them to act (a trigger on its
  way in, a reconnection after a broker restart or a replug), it drops to 1× real time until
  it has (see ``realtime_s`` in the summary).

The invariants are judged on the emulated Pico's own relay record (:mod:`hil.soak.oracle`),
the answers, cycles and faults on the daemon's events (:mod:`hil.soak.ledger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import json
import logging
import logging.handlers
import math
import random
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import serial

from hil.emulator import Emulator, rom_for
from hil.house import load_house
from hil.plant import Plant
from hil.soak.ledger import Ledger
from hil.soak.link import CountingSerial, EmulatorTaps, LinkSync
from hil.soak.oracle import OracleParams, RelayOracle
from hil.soak.resources import Sampler, cpu_s, fd_kinds, thread_names
from hil.soak.world import BEMFA_TOPIC, World
from zcw.adapters.bridge.link import SerialBridge
from zcw.adapters.control_socket import ControlServer
from zcw.adapters.control_socket import request as control_request
from zcw.app.clock import SteppedClock
from zcw.app.compose import Adapters, Clocks, build_adapters
from zcw.app.control import ControlHandler
from zcw.app.daemon import Daemon, Status
from zcw.app.hardware import bindings_for
from zcw.app.mihome_bridge import MihomeBridge
from zcw.app.mqtt_bridge import MqttBridge
from zcw.app.wiring import wiring_from_config
from zcw.config import Config, load_config
from zcw.domain.controller import Phase
from zcw.domain.model import Request, Source
from zcw.ports import HardwareState

log = logging.getLogger("hil.soak")

DAY_S = 86400.0
TICKS_WRAP_MS = 2**30
# Fine steps while anything moves, coarse ones when idle (the dead-man is 2 s: ≤ 1 s).
ACTIVE_STEP_S, ACTIVE_PASS_MS = 0.25, 50
IDLE_STEP_S, IDLE_PASS_MS = 1.0, 250
RESTART_S = 2.0  # systemd's RestartSec in zcw.service
TZ = "Europe/Berlin"
# Starts a day before a DST change, so even a one-day soak crosses it: spring (02:00 → 03:00)
# for even seeds, autumn (03:00 → 02:00) for odd ones.
STARTS = (
    datetime(2026, 3, 28, 9, 0, tzinfo=ZoneInfo(TZ)),
    datetime(2026, 10, 24, 9, 0, tzinfo=ZoneInfo(TZ)),
)

# How often each thing happens, per simulated day. Every kind also happens once early on
# (within the first simulated day), so a one-day soak sees them all.
TRIGGERS: dict[str, float] = {
    "button": 8,
    "mqtt": 8,
    "mihome": 6,
    "bemfa": 6,
    "cli": 8,
    "burst": 2,  # two sources at once
    "stop": 4,
    "mode": 1,
    "reset": 2,
    "draw": 10,  # someone draws hot water (the pipe gets hot, then cools)
    "flick": 3,  # a tap-flick at the near tap: open until the burner lights, then close
}
# Sources the daemon asks for itself, from what it sees: the learned pre-heat (from the
# habit below, once two days of it are seen) and the tap-flick (a flick at the near tap, whose
# water is cold). Listed in the summary even when a short soak has none yet.
OWN_SOURCES = ("learned", "tapflick")
# A habit to learn: someone showers at the far tap every day at 07:30 ± 10 minutes.
HABIT_LOOP, HABIT_LOCAL_S, HABIT_JITTER_S = "far", 7.5 * 3600, 600.0
FLICK_LOOP = "near"

FAULTS: dict[str, float] = {
    "sensor": 8,
    "cold_line_hot": 1,
    "loop_over_limit": 1,
    "heater_fails": 0.5,
    "unplug": 1,
    "reboot": 1,
    "garbage": 3,
    "broker_kill": 1,
    "wrong_password": 0.5,
    "bemfa_down": 0.5,
    "plug_silent": 0.5,
    "wall_jump": 0.3,
    "disk_full": 0.5,
    "read_only": 0.5,
    "freeze": 2,
    "kill": 1,
}
SENSOR_FAULTS = ("power_on_85", "disconnected", "crc_error", "zero", "stuck", "missing")


@dataclass
class Options:
    days: float = 1.0
    seed: int = 1
    house: str = "H4"
    workdir: Path | None = None
    progress: bool = False
    ticks_before_wrap_s: float = 3600.0  # the Pico's counter wraps this long after the start
    rate_scale: float = 1.0  # × every trigger and fault rate (0: only the schedule acts)


@dataclass
class Incarnation:
    """One run of the daemon process, from its start to its kill or the end of the soak."""

    daemon: Daemon
    link: SerialBridge
    sync: LinkSync
    adapters: Adapters
    server: ControlServer
    tasks: list[asyncio.Task[None]]
    dead: threading.Event
    frozen: bool = False
    status: Status | None = None
    online: bool = False


class LogCounter(logging.Handler):
    """Counts records by level, keeps the last warnings, and every exception logged."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levels: Counter[str] = Counter()
        self.last: deque[str] = deque(maxlen=30)
        self.exceptions: list[str] = []
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string in a log call is a bug too
            msg = str(record.msg)
        key = f"{record.name}: {record.msg}"[:60]
        if key in self.messages or len(self.messages) < 300:  # bounded over a month
            self.messages[key] += 1
        self.last.append(f"{record.levelname} {record.name}: {msg}"[:300])
        if record.exc_info and len(self.exceptions) < 20:
            self.exceptions.append(f"{record.name}: {msg}\n{self.format(record)}"[-3000:])
        elif record.exc_info:
            self.exceptions.append("…")


class Soak:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.work = opts.workdir or Path(tempfile.mkdtemp(prefix="zcw-soak-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.end_s = opts.days * DAY_S
        self.clock = SteppedClock()
        self.epoch = STARTS[opts.seed % 2].timestamp()
        self.wall_offset = 0.0
        self.step_lock = threading.RLock()
        self.inc: Incarnation | None = None
        self.injected: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()  # triggers that reached Daemon.submit
        self.undelivered: Counter[str] = Counter()
        self.submitted: Counter[str] = Counter()
        self.events: list[tuple[float, int, str, dict[str, Any]]] = []
        self._seq = 0
        self.fine_until = 0.0
        self.realtime_s = 0.0
        self.store_faults: dict[str, bool] = {"disk_full": False, "read_only": False}
        self.store_fault_windows = 0
        self.exceptions: Counter[str] = Counter()
        self.cli_replies: Counter[str] = Counter()
        self.bg: set[asyncio.Task[Any]] = set()
        self.last_sched_s = -1.0
        self.wraps = 0
        self.kills = 0
        self.logs = LogCounter()
        self._sync_timeouts = 0

    # -- clocks ------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now_s()

    def wall_s(self) -> float:
        return self.epoch + self.clock.now_s() + self.wall_offset

    # -- set-up --------------------------------------------------------------------------------

    def _config(self) -> Config:
        sensors = {n: rom_for(n) for n in ("far", "near", "far.cold", "heater_out")}
        sensor_lines = "\n".join(f'"{n}" = "{r}"' for n, r in sensors.items())
        text = f"""
topology = "crossover"
timezone = "{TZ}"

[control]
socket = "{self.work / "zcw.sock"}"
min_rest_s = 30
hysteresis_c = 0.5

[pump]
relay = 0
flow_lpm = 3.2

[heater]
outlet_sensor = "heater_out"
kind = "gas"

[bridge]
port = "{self.work / "bridge"}"
host_timeout_s = 2.0

[sensors]
{sensor_lines}

[store]
path = "{self.work / "history.db"}"

[[loops]]
name = "far"
ready_c = 36.0
max_run_s = 300
sensor = "far"
cold_sensor = "far.cold"
valve_relay = 1

[[loops]]
name = "near"
ready_c = 36.0
max_run_s = 180
sensor = "near"
valve_relay = 2
tapflick = true

[learning]
mode = "learned"

[[schedule]]
loop = "far"
at = "06:50"
days = "daily"

[[schedule]]
loop = "near"
at = "02:30"
days = "daily"

[[schedule]]
loop = "near"
at = "19:00"
days = "mon-fri"

[[keep_warm]]
loop = "near"
from = "17:30"
to = "18:30"
days = "daily"
{self.world.config_toml()}
"""
        path = self.work / "zcw.toml"
        path.write_text(text)
        path.chmod(0o600)
        return load_config(path)

    def _setup(self) -> None:
        for suffix in ("", "-wal", "-shm"):  # a soak starts from an empty history
            Path(f"{self.work / 'history.db'}{suffix}").unlink(missing_ok=True)
        self.world = World(self.work / "world")
        self.cfg = self._config()
        self.wiring = wiring_from_config(self.cfg)
        house = load_house(self.opts.house)
        self.plant = Plant(house)
        ticks_start = TICKS_WRAP_MS - int(self.opts.ticks_before_wrap_s * 1000)
        self.emu = Emulator(
            self.plant,
            config={"host_timeout_ms": int(self.cfg.bridge.host_timeout_s * 1000)},
            link_path=self.work / "bridge",
            ticks_start_ms=ticks_start,
            manual_clock=True,
        )
        self.taps = EmulatorTaps(self.emu, lambda: self.inc.sync if self.inc is not None else None)
        self.sensors = {s: rom_for(s) for s in self.wiring.sensor_names}
        params = self.wiring.params
        self.ledger = Ledger(
            default_loop=params.default_loop,
            # held two sensor periods, then answered at the next tick (+ a step of slack)
            answer_within_s=2 * params.sensor_period_s + 2 * ACTIVE_STEP_S + IDLE_STEP_S,
        )
        limits = {b.channel: b.limit_c for b in bindings_for(self.cfg, self.wiring, self.sensors)}
        self.oracle = RelayOracle(
            OracleParams(
                pump=self.wiring.pump_channel or 0,
                valves=dict(self.wiring.valve_channels),
                loop_sensor={lc.name: lc.sensor or lc.name for lc in self.cfg.loops},
                cold_sensor={lc.name: lc.cold_sensor for lc in self.cfg.loops if lc.cold_sensor},
                valve_lead_s=params.valve_lead_s,
                valve_lag_s=params.valve_lag_s,
                max_run_s=max(lp.max_run_s for lp in params.loops),
                host_timeout_s=self.cfg.bridge.host_timeout_s,
                bound_limit_c={loop: limits[ch] for loop, ch in self.wiring.valve_channels.items()},
                cold_line_max_c=params.cold_line_max_c,
                sensor_period_s=params.sensor_period_s,
            )
        )
        self.longest_cycle_s = (
            max(lp.max_run_s for lp in params.loops)
            + params.valve_lead_s
            + params.valve_lag_s
            + 2 * params.sensor_period_s
            + 5.0
        )
        self.sampler = Sampler(self.cfg.store_path, warmup_days=min(0.25, self.opts.days / 4))
        for kind, rate in {**TRIGGERS, **FAULTS}.items():
            rate *= self.opts.rate_scale
            if rate <= 0:
                continue
            first = self.rng.uniform(0.05, 0.95) * min(DAY_S, self.end_s)
            self._schedule(first, kind)
            self._schedule_next(first, kind, rate)
        local0 = datetime.fromtimestamp(self.epoch, ZoneInfo(TZ))
        self.habit_first_s = (HABIT_LOCAL_S - (local0.hour * 3600 + local0.minute * 60)) % DAY_S
        self._schedule(self.habit_first_s, "habit", day=0)

    def _schedule(self, at: float, what: str, **kw: Any) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, self._seq, what, kw))

    def _schedule_next(self, after: float, kind: str, rate: float) -> None:
        at = after + self.rng.expovariate(rate / DAY_S)
        if at < self.end_s:
            self._schedule(at, kind, _rate=rate)

    # -- one daemon process ------------------------------------------------------------------

    async def _incarnate(self) -> None:
        sync = LinkSync(self.step_lock)
        dead = threading.Event()

        def opener(port: str, baud: int) -> serial.Serial:
            if dead.is_set():
                raise serial.SerialException("this process was killed")
            return CountingSerial(port, baud, sync)

        link = SerialBridge(
            str(self.emu.port),
            baud=self.cfg.bridge.baud,
            sensors=self.sensors,
            bindings=bindings_for(self.cfg, self.wiring, self.sensors),
            pump_lock=self.cfg.topology == "crossover",
            host_timeout_s=self.cfg.bridge.host_timeout_s,
            clock=self.clock.now_s,
            opener=opener,
        )
        daemon = Daemon(self.wiring, link, self.clock)
        adapters = build_adapters(
            self.cfg, daemon, clocks=Clocks(wall=self.wall_s, mono=self.clock.now_s)
        )
        handler = ControlHandler(daemon, adapters.store, adapters.schedule)
        server = ControlServer(self.cfg.socket_path, handler.handle, handler.stream)
        await server.start()
        # The schedule and the learning are checked by the soak every simulated second
        # instead of by their own tasks, which wait one wall-clock second between checks.
        own = [a.run for a in (adapters.schedule, adapters.learning) if a is not None]
        tasks = [asyncio.create_task(run()) for run in adapters.tasks if run not in own]
        inc = Incarnation(daemon, link, sync, adapters, server, tasks, dead)
        self._hook(inc)
        self.inc = inc
        self._apply_store_faults()

    def _hook(self, inc: Incarnation) -> None:
        daemon, ledger = inc.daemon, self.ledger
        submit = daemon.submit

        def counted_submit(request: Request) -> None:
            ledger.request(request, self.now())
            self.submitted[str(request.source)] += 1
            submit(request)

        daemon.submit = counted_submit  # type: ignore[method-assign]
        poll = inc.link.poll

        def counted_poll() -> HardwareState:
            hw = poll()
            for press in hw.presses:
                loop = daemon.buttons.get(press.button)
                if loop is not None:
                    request = (
                        Request("stop", Source.BUTTON)
                        if press.long
                        else Request("start", Source.BUTTON, loop)
                    )
                    ledger.request(request, self.now())
                    self.submitted["button"] += 1
            inc.online = hw.online
            return hw

        inc.link.poll = counted_poll  # type: ignore[method-assign]

        def observe(status: Status) -> None:
            inc.status = status
            now = self.now()
            ledger.status(status, now, store_faulted=any(self.store_faults.values()))
            self.oracle.daemon_status(now, status.snapshot.phase is Phase.IDLE, status.healthy)

        daemon.observe(observe)

    def _bridges(self, kind: type[Any]) -> list[Any]:
        inc = self.inc
        if inc is None:
            return []
        owners = [getattr(task, "__self__", None) for task in inc.adapters.tasks]
        return [owner for owner in owners if isinstance(owner, kind)]

    async def _kill(self) -> None:
        """SIGKILL: no shutdown at all. The port closes under the link (nothing more is
        written: no relays-off), the MQTT connection drops without a DISCONNECT (the broker
        sends the will), the control socket file stays behind, the store is not closed."""
        inc = self.inc
        if inc is None:
            return
        running = inc.status is not None and inc.status.snapshot.phase is not Phase.IDLE
        self.ledger.daemon_killed(running, self.now())
        self.oracle.daemon_gone()
        for bridge in self._bridges(MqttBridge):
            client = getattr(bridge.link, "_client", None)
            sock = client.socket() if client is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        mihome = self._bridges(MihomeBridge)
        self.inc = None
        self._sync_timeouts += inc.sync.timeouts
        inc.dead.set()
        port = inc.sync.port
        if port is not None:
            port.kill()
        await asyncio.to_thread(inc.link.close)  # its relays-off writes fail: the port is gone
        for task in inc.tasks:
            task.cancel()
        await asyncio.gather(*inc.tasks, return_exceptions=True)
        for bridge in mihome:
            for plug in bridge.plugs:
                await plug.worker.close(2.0)
        await inc.server.close()
        with contextlib.suppress(OSError):  # the socket file a killed process leaves behind
            stale = socket.socket(socket.AF_UNIX)
            stale.bind(str(self.cfg.socket_path))
            stale.close()
        del inc
        gc.collect()

    async def _shutdown(self) -> None:
        """SIGTERM at the end of the soak: what ``zcw.app.runner.serve`` does."""
        inc = self.inc
        if inc is None:
            return
        inc.daemon.shutdown()
        for close in inc.adapters.closers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close(), 5.0)
        if inc.tasks:
            await asyncio.wait(inc.tasks, timeout=5.0)
        for task in inc.tasks:
            task.cancel()
        await asyncio.gather(*inc.tasks, return_exceptions=True)
        if inc.adapters.store is not None:
            inc.adapters.store.close()
        await inc.server.close()
        self.inc = None

    # -- stepping ------------------------------------------------------------------------------

    def _active(self) -> bool:
        inc = self.inc
        if any(self.emu.hal.relays.values()) or self.now() < self.fine_until:
            return True
        if inc is None or self.ledger.pending():
            return True
        status = inc.status
        return status is None or status.snapshot.phase is not Phase.IDLE

    async def _step(self, dt: float, pass_ms: int) -> None:
        ms = max(1, round(dt * 1000))
        self.clock.advance(ms / 1000)  # frames the reader takes now are stamped at the step's end
        before = self.emu.ticks_ms()
        with self.step_lock:
            self.emu.advance(ms, min(pass_ms, ms))
            self.taps.flush()
        if self.emu.ticks_ms() < before:
            self.wraps += 1
        hal = self.emu.hal
        history, frames = hal.history[:], hal.frames[:]
        rx = self.taps.rx[:]
        del hal.history[:], hal.frames[:], self.taps.rx[:]
        now = self.now()
        self.oracle.feed(history, frames, rx, now)
        inc = self.inc
        if inc is not None and not inc.frozen:
            self.oracle.check_i7(now)
            inc.sync.wait()
            inc.daemon.tick()
            if inc.adapters.schedule is not None and now - self.last_sched_s >= 1.0:
                self.last_sched_s = now
                try:
                    inc.adapters.schedule.check()
                    if inc.adapters.learning is not None:
                        inc.adapters.learning.check()
                except Exception:
                    log.exception("schedule or learning check failed")
        self.ledger.check_running(now, self.longest_cycle_s)
        hour = int(now // 3600)
        if hour > len(self.sampler.samples) - 1:
            self.sampler.sample(now / DAY_S)
            if self.opts.progress:
                self._progress()
            del self.world.plug.requests[:-100]  # the emulated plug's log (the harness's)
            status = inc.status if inc is not None else None
            if status is not None and any(f.latching for f in status.snapshot.faults):
                # A user resets a latched fault within the hour, as Home Assistant's button
                # or `zcw reset` would.
                self._schedule(now, "reset")
        await asyncio.sleep(0)

    async def _run_for(self, seconds: float, *, fine: bool = False) -> None:
        end = self.now() + seconds
        while self.now() < end - 1e-9:
            active = fine or self._active()
            dt = ACTIVE_STEP_S if active else IDLE_STEP_S
            await self._step(min(dt, end - self.now()), ACTIVE_PASS_MS if active else IDLE_PASS_MS)

    async def _realtime_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """1× real time (fine steps) until ``done()`` or the wall-clock timeout."""
        deadline = time.monotonic() + timeout_s
        last = time.monotonic()
        while not done():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
            wall = time.monotonic()
            dt = min(max(wall - last, 0.01), ACTIVE_STEP_S)
            last = wall
            self.realtime_s += dt
            await self._step(dt, ACTIVE_PASS_MS)
        return True

    def _progress(self) -> None:
        days = self.now() / DAY_S
        print(
            f"[soak seed {self.opts.seed}] day {days:6.2f}  cycles "
            f"{self.ledger.counts['cycles_finished']}  violations {self.oracle.violation_count}"
            f"  pending {self.ledger.pending()}  rss {self.sampler.samples[-1][1]:.1f} MB",
            file=sys.stderr,
            flush=True,
        )

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        wall0, cpu0 = time.monotonic(), cpu_s()
        self._setup()
        try:
            await self._incarnate()
            await self._realtime_until(self._online, 10.0)
            self.fds_at_start, self.threads_at_start = fd_kinds(), thread_names()
            # SIGUSR1 ends the soak early, with its summary of the days it ran (a long run
            # that must stop by a deadline still reports; `days` says how far it got).
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self._finish_now)
            while self.now() < self.end_s:
                if self.events and self.events[0][0] <= self.now():
                    at, _, kind, kw = heapq.heappop(self.events)
                    rate = kw.pop("_rate", None)
                    if rate is not None:
                        self._schedule_next(at, kind, rate)
                    await self._act(kind, kw)
                    continue
                active = self._active()
                dt = ACTIVE_STEP_S if active else IDLE_STEP_S
                if self.events:
                    dt = min(dt, max(self.events[0][0] - self.now(), 0.01))
                dt = min(dt, self.end_s - self.now())
                await self._step(dt, ACTIVE_PASS_MS if active else IDLE_PASS_MS)
            settle = await self._settle()
            summary = self._summary(settle)
            await self._shutdown()
        finally:
            await self._teardown()
        summary["wall_s"] = round(time.monotonic() - wall0, 1)
        summary["cpu_s"] = round(cpu_s() - cpu0, 1)
        summary["speed_x"] = round(self.end_s / max(summary["wall_s"], 1e-9), 1)
        return summary

    def _finish_now(self) -> None:
        log.warning("SIGUSR1: ending the soak at day %.2f", self.now() / DAY_S)
        self.end_s = self.now()

    def _online(self) -> bool:
        inc = self.inc
        return (
            inc is not None and inc.online and inc.status is not None and inc.status.bridge_online
        )

    async def _settle(self) -> dict[str, Any]:
        """Heal everything, reset, and give the daemon time: what is left must be nothing."""
        for name in self.sensors:
            self.emu.inject_sensor(name, None)
            self.emu.force_temp(name, None)
        self.plant.fail_ignition(False)
        for loop in self.plant.loops:
            self.plant.set_draw(loop, 0.0)
        if self.emu.hal.fd < 0:
            self.emu.replug()
        for which in ("ha", "bemfa"):
            broker = self.world.ha_broker if which == "ha" else self.world.bemfa_broker
            if broker.proc is None:
                self.world.start_broker(which)
        if self.world.wrong_password:
            self.world.set_password(False)
        self.world.plug.silent = False
        for kind in self.store_faults:
            self.store_faults[kind] = False
        self._apply_store_faults()
        if self.inc is None:
            await self._incarnate()
        inc = self.inc
        assert inc is not None
        if inc.frozen:
            self._thaw()
        await self._realtime_until(self._online, 10.0)
        await self._realtime_until(self._everything_connected, 30.0)
        inc.daemon.submit(Request("mode", Source.CLI, mode="auto"))
        await self._run_for(600.0)  # cycles under way end, faults that were healed clear
        await self._realtime_until(self._everything_connected, 30.0)
        if self.inc is not None:  # what is still latched, a user resets
            self.inc.daemon.submit(Request("reset", Source.CLI))
        await self._run_for(60.0)
        # The daemon's own calendar (pre-heats, keep-warm, the learned plan) still starts
        # cycles while the soak settles: one begun in its last minute is under way, not
        # unended. Let it end (its cap and stop sequence bound it) before counting.
        waited = 0.0
        while self.ledger.open_start is not None and waited < self.longest_cycle_s:
            await self._run_for(1.0)
            waited += 1.0
        status = self.inc.status if self.inc is not None else None
        faults = [f"{f.code}:{f.loop or '-'}" for f in status.snapshot.faults] if status else []
        return {
            "faults_still_shown": faults,
            "phase_at_end": str(status.snapshot.phase) if status else "none",
            "connected_at_end": self._everything_connected(),
        }

    def _everything_connected(self) -> bool:
        inc = self.inc
        if inc is None or inc.status is None:
            return False
        shown = {f.code for f in inc.status.snapshot.faults}
        return (
            self.world.ha.availability == "online"
            and not shown & {"mqtt_auth", "mqtt_unreachable", "mqtt_refused", "mqtt_tls"}
            and not shown & {"mihome_offline", "bemfa_unreachable", "bemfa_refused"}
            and self._online()
        )

    async def _teardown(self) -> None:
        with contextlib.suppress(Exception):
            await self._shutdown()
        for task in list(self.bg):
            task.cancel()
        await asyncio.gather(*self.bg, return_exceptions=True)
        with contextlib.suppress(Exception):
            self.emu.close()
        with contextlib.suppress(Exception):
            self.world.close()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.exceptions["asyncio"] += 1
        log.error("asyncio: %s", context.get("message"), exc_info=context.get("exception"))

    # -- what happens ------------------------------------------------------------------------

    async def _act(self, kind: str, kw: dict[str, Any]) -> None:
        action = getattr(self, f"_do_{kind}")
        await action(**kw)

    def _inject(self, kind: str) -> None:
        self.injected[kind] += 1
        self.fine_until = max(self.fine_until, self.now() + 5.0)

    def _running(self) -> list[str]:
        inc = self.inc
        if inc is None or inc.status is None:
            return []
        return [n for n, v in inc.status.snapshot.loops.items() if v.state == "heating"]

    def _faults_shown(self) -> set[str]:
        inc = self.inc
        if inc is None or inc.status is None:
            return set()
        return {f.code for f in inc.status.snapshot.faults}

    async def _await_submit(self, source: str, timeout_s: float, trigger: str = "") -> bool:
        before = self.submitted[source]
        ok = await self._realtime_until(lambda: self.submitted[source] > before, timeout_s)
        (self.delivered if ok else self.undelivered)[trigger or source] += 1
        return ok

    def _loop_name(self) -> str:
        return self.rng.choice(self.wiring.params.loop_names)

    # triggers

    async def _do_button(self) -> None:
        if self.emu.hal.fd < 0:
            self.undelivered["button"] += 1  # unplugged: the press goes nowhere
            return
        index = self.rng.randrange(len(self.wiring.params.loop_names))
        self._inject("trigger:button")
        self.emu.press_button(index)
        await self._run_for(2.0, fine=True)

    async def _do_mqtt(self, action: str = "start") -> None:
        if self.world.ha.availability != "online" or self.inc is None:
            self.undelivered["mqtt"] += 1
            return
        loop = self._loop_name()
        payload = (
            json.dumps({"action": action, "loop": loop}) if self.rng.random() < 0.7 else action
        )
        self._inject(f"trigger:mqtt:{action}")
        if self.world.ha.publish("zcw/set", payload):
            await self._await_submit("mqtt", 3.0)

    async def _do_mihome(self) -> None:
        plug = self.world.plug
        if plug.on or plug.silent or self.inc is None or "mihome_offline" in self._faults_shown():
            self.undelivered["mihome"] += 1
            return
        self._inject("trigger:mihome")
        plug.user_set(True)
        await self._await_submit("mihome", 3.0)

    async def _do_bemfa(self) -> None:
        if self.inc is None or self.world.bemfa_broker.proc is None:
            self.undelivered["bemfa"] += 1
            return
        if {"bemfa_unreachable", "bemfa_refused"} & self._faults_shown():
            self.undelivered["bemfa"] += 1
            return
        self._inject("trigger:bemfa")
        if self.world.mihome.publish(BEMFA_TOPIC, "on"):
            await self._await_submit("mihome", 3.0, "bemfa")

    async def _do_cli(self, cmd: str = "start") -> None:
        if self.inc is None:
            self.undelivered["cli"] += 1
            return
        req: dict[str, Any] = {"cmd": cmd}
        if cmd == "start" and self.rng.random() < 0.7:
            req["loop"] = self._loop_name()
        elif cmd == "mode":
            req["mode"] = self.rng.choice(("away", "auto"))
        self._inject(f"trigger:cli:{cmd}")
        self._background(self._cli(req))
        await self._await_submit("cli", 3.0)

    async def _cli(self, req: dict[str, Any]) -> None:
        try:
            reply = await asyncio.to_thread(
                control_request, self.cfg.socket_path, req, timeout_s=10.0
            )
            self.cli_replies["ok" if reply.get("ok") else "refused"] += 1
        except Exception as exc:  # the daemon may be killed meanwhile: the CLI says so
            self.cli_replies[type(exc).__name__] += 1

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.bg.add(task)
        task.add_done_callback(self.bg.discard)

    async def _do_burst(self) -> None:
        """Two triggers at once, from two sources (a button and MQTT, say)."""
        first, second = self.rng.sample(["button", "mqtt", "cli", "mihome", "bemfa"], 2)
        self._inject("trigger:burst")
        for kind in (first, second):
            await getattr(self, f"_do_{kind}")()

    async def _do_stop(self) -> None:
        how = self.rng.choice(("mqtt", "cli", "long_press", "plug_off", "bemfa_off"))
        self._inject(f"stop:{how}")
        if how == "mqtt":
            await self._do_mqtt("stop")
        elif how == "cli":
            await self._do_cli("stop")
        elif how == "long_press" and self.emu.hal.fd >= 0:
            self.emu.press_button(self.rng.randrange(2), long=True)
            await self._run_for(3.0, fine=True)
        elif how == "plug_off" and self.world.plug.on and not self.world.plug.silent:
            self.world.plug.user_set(False)
            await self._realtime_until(lambda: False, 1.5)
        elif how == "bemfa_off":
            self.world.mihome.publish(BEMFA_TOPIC, "off")
            await self._realtime_until(lambda: False, 0.3)

    async def _do_mode(self) -> None:
        """Away for a while (automatic starts are refused), then back."""
        self._inject("mode:away")
        if self.rng.random() < 0.5:
            await self._do_cli("mode")
        elif self.inc is not None:
            self.world.ha.publish("zcw/set", json.dumps({"mode": "away"}))
            await self._await_submit("mqtt", 3.0)
            self._schedule(self.now() + self.rng.uniform(600, 6 * 3600), "mqtt_mode_auto")

    async def _do_mqtt_mode_auto(self) -> None:
        if self.inc is not None and self.world.ha.publish("zcw/set", json.dumps({"mode": "auto"})):
            await self._await_submit("mqtt", 3.0)

    async def _do_reset(self) -> None:
        self._inject("reset")
        if self.rng.random() < 0.5:
            await self._do_cli("reset")
        else:
            await self._do_mqtt("reset")

    async def _do_draw(self) -> None:
        loop = self._loop_name()
        self._inject("draw")
        self.plant.set_draw(loop, self.rng.uniform(4.0, 8.0))
        self._schedule(self.now() + self.rng.uniform(20, 400), "draw_end", loop=loop)

    async def _do_draw_end(self, loop: str) -> None:
        self.plant.set_draw(loop, 0.0)

    async def _do_habit(self, day: int) -> None:
        """The daily shower the learned pre-heat should learn, then keep hot ahead of."""
        self._inject("draw:habit")
        self.plant.set_draw(HABIT_LOOP, self.rng.uniform(5.0, 8.0))
        self._schedule(self.now() + self.rng.uniform(90, 240), "draw_end", loop=HABIT_LOOP)
        nominal = self.habit_first_s + (day + 1) * DAY_S
        at = nominal + self.rng.uniform(-HABIT_JITTER_S, HABIT_JITTER_S)
        if at < self.end_s:
            self._schedule(max(at, self.now() + 600), "habit", day=day + 1)

    async def _do_flick(self) -> None:
        """Open the near tap until the burner lights, then close it (as week.py's user does);
        a pipe that is warm already is not flicked (nobody flicks for hot water they have)."""
        if self.plant.water_at_valve_c(FLICK_LOOP) >= 32.0 or self._running():
            return
        heater = self.plant.house.heater
        hold = heater.ignition_s + heater.ignition_retry_s + self.rng.uniform(1.5, 3.0)
        self._inject("trigger:flick")
        self.plant.set_draw(FLICK_LOOP, 6.0)
        self._schedule(self.now() + hold, "draw_end", loop=FLICK_LOOP)

    # faults

    async def _do_sensor(self) -> None:
        if self.rng.random() < 0.5 and not self._running():
            await self._start_cycle()
        name = self.rng.choice(("far", "near", "far", "near", "far.cold", "heater_out"))
        kind = self.rng.choice(SENSOR_FAULTS)
        self._inject(f"sensor:{kind}")
        self.emu.inject_sensor(name, kind)
        self._schedule(self.now() + self.rng.uniform(3, 900), "sensor_heal", name=name)

    async def _do_sensor_heal(self, name: str) -> None:
        self.emu.inject_sensor(name, None)

    async def _start_cycle(self) -> None:
        """Aim a fault at a running cycle: start one from the control socket first."""
        if self.inc is not None:
            self._background(self._cli({"cmd": "start", "loop": self._loop_name()}))
            await self._await_submit("cli", 3.0)
            await self._run_for(self.rng.uniform(1, 60), fine=True)

    async def _do_cold_line_hot(self) -> None:
        if self.rng.random() < 0.7 and not self._running():
            await self._start_cycle()
        self._inject("cold_line_hot")
        self.emu.force_temp("far.cold", self.rng.uniform(38.0, 45.0))
        self._schedule(self.now() + self.rng.uniform(3, 120), "force_heal", name="far.cold")

    async def _do_loop_over_limit(self) -> None:
        if self.rng.random() < 0.7 and not self._running():
            await self._start_cycle()
        name = self._loop_name()
        self._inject("loop_over_limit")
        self.emu.force_temp(name, self.rng.uniform(36.5, 60.0))
        self._schedule(self.now() + self.rng.uniform(3, 120), "force_heal", name=name)

    async def _do_force_heal(self, name: str) -> None:
        self.emu.force_temp(name, None)

    async def _do_heater_fails(self) -> None:
        self._inject("heater_fails")
        self.plant.fail_ignition(True)
        if not self._running():
            await self._start_cycle()
        self._schedule(self.now() + self.rng.uniform(120, 1800), "heater_heal")

    async def _do_heater_heal(self) -> None:
        self.plant.fail_ignition(False)

    def _later(self, kind: str) -> None:
        """This fault cannot come now (the same one is under way): it comes a little later."""
        self._schedule(self.now() + self.rng.uniform(600, 1800), kind)

    async def _do_unplug(self) -> None:
        if self.emu.hal.fd < 0:
            return self._later("unplug")
        self._inject("bridge_unplug")
        self.emu.unplug()
        self._schedule(self.now() + self.rng.uniform(2, 600), "replug")

    async def _do_replug(self) -> None:
        self.emu.replug()
        await self._realtime_until(self._online, 5.0)

    async def _do_reboot(self) -> None:
        if self.emu.hal.fd < 0:
            return self._later("reboot")
        self._inject("bridge_reboot")
        self.emu.reboot()

    async def _do_garbage(self) -> None:
        if self.emu.hal.fd < 0:
            return self._later("garbage")
        self._inject("bridge_garbage")
        fw_protocol = sys.modules.get("protocol")
        junk = [
            bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 200))) + b"\n",
            b"$T,28ff,notanumber,ok*ZZZZ\n",
            b"x" * 3000 + b"\n",
        ]
        if fw_protocol is not None:
            junk += [
                fw_protocol.encode(9, "T", (rom_for("far"), "abc", "ok")),
                fw_protocol.encode(9, "R", ("-1x",)),
                fw_protocol.encode(9, "NAK", ("nope",)),
                fw_protocol.encode(9, "BTN", ("9", "S")),
                fw_protocol.encode(9, "INFO", ("9.9", "1", "notanint")),
            ]
        for _ in range(self.rng.randrange(1, 6)):
            self.taps.garbage(self.rng.choice(junk))

    async def _do_broker_kill(self) -> None:
        if self.world.ha_broker.proc is None or self.world.wrong_password:
            return self._later("broker_kill")
        self._inject("broker_kill")
        self.world.kill_broker("ha")
        self._schedule(self.now() + self.rng.uniform(60, 3600), "broker_start")

    async def _do_broker_start(self) -> None:
        self.world.start_broker("ha")
        await self._realtime_until(self._mqtt_back, 15.0)

    def _mqtt_back(self) -> bool:
        return self.world.ha.availability == "online" and self._mqtt_up()

    def _mqtt_up(self) -> bool:
        return not {"mqtt_auth", "mqtt_unreachable", "mqtt_refused"} & self._faults_shown()

    async def _do_wrong_password(self) -> None:
        if self.world.wrong_password or self.world.ha_broker.proc is None:
            return self._later("wrong_password")
        self._inject("mqtt_wrong_password")
        self.world.set_password(True)
        await self._realtime_until(lambda: "mqtt_auth" in self._faults_shown(), 12.0)
        self._schedule(self.now() + self.rng.uniform(600, 7200), "password_back")

    async def _do_password_back(self) -> None:
        if self.world.ha_broker.proc is None:
            self.world.start_broker("ha")
        self.world.set_password(False)
        await self._realtime_until(self._mqtt_back, 15.0)

    async def _do_bemfa_down(self) -> None:
        if self.world.bemfa_broker.proc is None:
            return self._later("bemfa_down")
        self._inject("bemfa_down")
        self.world.kill_broker("bemfa")
        self._schedule(self.now() + self.rng.uniform(60, 3600), "bemfa_up")

    async def _do_bemfa_up(self) -> None:
        self.world.start_broker("bemfa")
        await self._realtime_until(
            lambda: not {"bemfa_unreachable", "bemfa_refused"} & self._faults_shown(), 20.0
        )

    async def _do_plug_silent(self) -> None:
        if self.world.plug.silent:
            return self._later("plug_silent")
        self._inject("mihome_plug_silent")
        self.world.plug.silent = True
        await self._realtime_until(lambda: "mihome_offline" in self._faults_shown(), 8.0)
        self._schedule(self.now() + self.rng.uniform(60, 3600), "plug_back")

    async def _do_plug_back(self) -> None:
        self.world.plug.silent = False
        await self._realtime_until(lambda: "mihome_offline" not in self._faults_shown(), 40.0)

    async def _do_wall_jump(self) -> None:
        jump = self.rng.uniform(3600, 2 * DAY_S)
        self._inject("wall_clock_jump")
        self.wall_offset += jump
        self._schedule(self.now() + self.rng.uniform(600, 6 * 3600), "wall_back", jump=jump)

    async def _do_wall_back(self, jump: float) -> None:
        self.wall_offset -= jump

    async def _do_disk_full(self) -> None:
        await self._store_fault("disk_full")

    async def _do_read_only(self) -> None:
        await self._store_fault("read_only")

    async def _store_fault(self, kind: str) -> None:
        if any(self.store_faults.values()):
            return self._later(kind)
        self._inject(f"store_{kind}")
        self.store_faults[kind] = True
        self.store_fault_windows += 1
        self._apply_store_faults()
        self._schedule(self.now() + self.rng.uniform(600, 4 * 3600), "store_heal", kind=kind)

    async def _do_store_heal(self, kind: str) -> None:
        self.store_faults[kind] = False
        self._apply_store_faults()

    def _apply_store_faults(self) -> None:
        """The daemon's own connection: full (no new page may be allocated) or read-only.
        Both are real SQLite failures through the real store; the recorder must carry on."""
        inc = self.inc
        store = inc.adapters.store if inc is not None else None
        if store is None:
            return
        db = store.db
        if self.store_faults["disk_full"]:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {int(pages)}")
        else:
            db.execute("PRAGMA max_page_count = 4294967294")
        db.execute(f"PRAGMA query_only = {1 if self.store_faults['read_only'] else 0}")

    async def _do_freeze(self) -> None:
        """SIGSTOP for 5 s: no tick, no reader; the bridge's dead-man must act."""
        inc = self.inc
        if inc is None:
            return self._later("freeze")
        if self.rng.random() < 0.5 and not self._running():
            await self._start_cycle()
            inc = self.inc
            if inc is None:
                return
        self._inject("daemon_frozen_5s")
        inc.frozen = True
        port = inc.sync.port
        if port is not None:
            port.frozen.set()
        await self._run_for(5.0, fine=True)
        self._thaw()

    def _thaw(self) -> None:
        inc = self.inc
        if inc is None:
            return
        inc.frozen = False
        port = inc.sync.port
        if port is not None:
            port.frozen.clear()

    async def _do_kill(self) -> None:
        if self.inc is None:
            return self._later("kill")
        if self.rng.random() < 0.5 and not self._running():
            await self._start_cycle()
        self._inject("daemon_sigkill")
        self.kills += 1
        await self._kill()
        # systemd: RestartSec=2 s, then the interpreter and zcw start (≈ 0.5–1.5 s on a Pi).
        await self._run_for(RESTART_S + self.rng.uniform(0.5, 1.5), fine=True)
        await self._incarnate()
        await self._realtime_until(self._online, 5.0)

    # -- the summary ---------------------------------------------------------------------------

    def _summary(self, settle: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        gc.collect()
        growth = self.sampler.growth()
        db = self._db_facts()
        by_source = Counter(
            {
                k.split(":", 1)[1]: v
                for k, v in self.ledger.requests.items()
                if k.startswith("start:")
            }
        )
        for name in OWN_SOURCES:
            by_source.setdefault(name, 0)
        unanswered = self.ledger.unanswered(now)
        exceptions_logged = len(self.logs.exceptions)
        counts = self.ledger.counts
        summary: dict[str, Any] = {
            "days": round(now / DAY_S, 3),
            "days_asked": self.opts.days,
            "seed": self.opts.seed,
            "house": self.opts.house,
            "start_local": STARTS[self.opts.seed % 2].isoformat(),
            "invariant_violations": self.oracle.violation_count,
            "violations_by_rule": {
                k.removeprefix("violation_"): v
                for k, v in self.oracle.counts.items()
                if k.startswith("violation_")
            },
            "violations": [v.as_dict() for v in self.oracle.violations[:20]],
            "unanswered_requests": unanswered,
            "unhandled_exceptions": exceptions_logged + self.exceptions["unraisable"],
            "exceptions_by_kind": dict(self.exceptions),
            **growth,
            "requests_by_source": dict(sorted(by_source.items())),
            "requests": dict(sorted(self.ledger.requests.items())),
            "answers": dict(sorted(self.ledger.answers.items())),
            "answer_latency_max_s": round(self.ledger.answer_latency_max_s, 2),
            "late_answers": counts["late_answers"],
            "answers_without_request": counts["answers_without_request"],
            "requests_lost_in_kill": counts["requests_lost_in_kill"],
            "triggers_delivered": dict(sorted(self.delivered.items())),
            "triggers_not_delivered": dict(sorted(self.undelivered.items())),
            "cli_replies": dict(self.cli_replies),
            "faults_injected": dict(sorted(self.injected.items())),
            "pico_tick_wraps": self.wraps,
            "daemon_kills": self.kills,
            "faults_raised_by_code": dict(sorted(self.ledger.faults_seen.items())),
            "fault_ledger_mismatches": counts["fault_ledger_mismatches"],
            "cycles_started": counts["cycles_started"],
            "cycles_finished": counts["cycles_finished"],
            "cycles_cut_by_kill": counts["cycles_cut_by_kill"],
            "cycles_overlong": counts["cycles_overlong"],
            "cycle_outcomes": {
                k.removeprefix("outcome:"): v
                for k, v in sorted(counts.items())
                if k.startswith("outcome:")
            },
            "cycles_unended": counts["cycles_started"]
            - counts["cycles_finished"]
            - counts["cycles_cut_by_kill"],
            "store_fault_windows": self.store_fault_windows,
            "cycles_finished_while_store_faulted": counts["cycles_finished_while_store_faulted"],
            **db,
            "relay_changes": self.oracle.relay_changes,
            "oracle_counts": {
                k: v for k, v in self.oracle.counts.items() if not k.startswith("violation_")
            },
            "worst_margins_s": {k: round(v, 3) for k, v in sorted(self.oracle.worst.items())},
            "link_sync_timeouts": self.link_sync_timeouts(),
            "fds_by_kind_at_end": fd_kinds(),
            "fds_by_kind_at_start": self.fds_at_start,
            "threads_at_end": thread_names(),
            "threads_at_start": self.threads_at_start,
            "realtime_s": round(self.realtime_s, 1),
            "mqtt_seen": {
                "events": dict(self.world.ha.events),
                "answers_by_source": dict(self.world.ha.answers),
            },
            "bemfa_offs_seen": self.world.mihome.messages.get(f"{BEMFA_TOPIC}/set", 0),
            "settle": settle,
            "problems": self.ledger.problems[:20],
            "unended_cycles": self.ledger.unended,
            "cycle_open_at_end_s": self.ledger.open_start,
            "log_levels": dict(self.logs.levels),
            "exceptions_logged": self.logs.exceptions[:5],
            "top_warnings": dict(self.logs.messages.most_common(12)),
        }
        return summary

    def link_sync_timeouts(self) -> int:
        inc = self.inc
        return self._sync_timeouts + (inc.sync.timeouts if inc is not None else 0)

    def _db_facts(self) -> dict[str, Any]:
        path = self.cfg.store_path
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
            try:
                integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
                rows = {
                    t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for t in ("cycles", "faults", "temps", "settings", "learned")
                }
            finally:
                db.close()
        except sqlite3.Error as exc:
            return {"db_integrity": f"error: {exc}"}
        finished = self.ledger.counts["cycles_finished"]
        faulted = self.ledger.counts["cycles_finished_while_store_faulted"]
        return {
            "db_integrity": integrity,
            "db_rows": rows,
            # every cycle that ended while the store could write is in it
            "db_cycles_missing": max(0, (finished - faulted) - rows["cycles"]),
        }


def run(opts: Options) -> dict[str, Any]:
    """Run a soak; returns its summary (JSON-ready, no NaN or infinity)."""
    soak = Soak(opts)
    counter = soak.logs
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    root.handlers = [counter]
    root.setLevel(logging.WARNING)
    file_handler = logging.handlers.RotatingFileHandler(
        soak.work / "soak.log", maxBytes=4 * 2**20, backupCount=1
    )
    file_handler.setLevel(logging.WARNING)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook

    def on_thread(args: threading.ExceptHookArgs) -> None:
        soak.exceptions["thread"] += 1
        log.error("thread %s died: %r", args.thread, args.exc_value, exc_info=args.exc_value)

    def on_unraisable(args: Any) -> None:
        soak.exceptions["unraisable"] += 1
        log.error("unraisable: %s %r", args.err_msg, args.exc_value)

    threading.excepthook = on_thread
    sys.unraisablehook = on_unraisable
    # SIGTERM (kill, a CI timeout) tears the soak down as Ctrl-C does: without it the
    # mosquitto brokers it started outlive it.
    on_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        summary = asyncio.run(soak.run())
    finally:
        signal.signal(signal.SIGTERM, on_term)
        threading.excepthook, sys.unraisablehook = thread_hook, unraisable_hook
        root.handlers = saved[1]
        root.setLevel(saved[0])
        file_handler.close()
        if opts.workdir is None:
            shutil.rmtree(soak.work, ignore_errors=True)
    summary["unhandled_exceptions"] = len(counter.exceptions) + soak.exceptions["unraisable"]
    summary["exceptions_by_kind"] = dict(soak.exceptions)
    summary["exceptions_logged"] = counter.exceptions[:5]
    out: dict[str, Any] = _finite(summary)
    return out


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
