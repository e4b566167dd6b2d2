"""Build the optional adapters a config asks for, around an existing daemon.

The composition root's one job: turn ``[mqtt]``, ``[store]`` … into running adapters that
observe the daemon or submit to it. Each adapter is returned with how to run and close it,
so the runner can close them in order after the relays are off.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from zcw.adapters.store import Store
from zcw.app.daemon import Daemon
from zcw.app.history import HistoryRecorder
from zcw.app.learning import LearningBridge
from zcw.app.schedule_bridge import ScheduleBridge
from zcw.config import Config

log = logging.getLogger("zcw")


@dataclass
class Adapters:
    """Background tasks to run, and closers to call at shutdown (relays are already off)."""

    tasks: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    store: Store | None = None
    schedule: ScheduleBridge | None = None
    learning: LearningBridge | None = None


@dataclass(frozen=True)
class Clocks:
    """The wall and monotonic clocks the adapters read. Production takes the defaults; a
    simulation that runs faster than real time (``hil.soak``) hands in its own, so the history,
    the schedule and MQTT's state all follow simulated time."""

    wall: Callable[[], float] = time.time
    mono: Callable[[], float] = time.monotonic

    def wall_dt(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)


def loop_identities(cfg: Config) -> dict[str, str]:
    """What each loop is, for its learning: its sensor's ROM id on a real bridge, or the
    simulated house and sensor."""
    out = {}
    for lc in cfg.loops:
        sensor = lc.sensor or lc.name
        rom = cfg.sensors.get(sensor)
        out[lc.name] = rom.lower() if rom else f"sim:{cfg.bridge.sim_house}:{sensor}"
    return out


def build_adapters(cfg: Config, daemon: Daemon, *, clocks: Clocks | None = None) -> Adapters:
    clocks = clocks or Clocks()
    out = Adapters()
    recorder: HistoryRecorder | None = None
    try:
        out.store = Store(cfg.store_path)
    except (sqlite3.Error, OSError) as exc:
        # History is worth having but never worth not heating water for.
        log.error("history store %s unavailable (%s); running without history", cfg.store_path, exc)
    else:
        recorder = HistoryRecorder(
            out.store,
            wall_clock=clocks.wall,
            params=daemon.wiring.params,
            heater=cfg.heater.kind if cfg.heater is not None else "gas",
            timezone=cfg.timezone,
            retention_s=cfg.store.retention_days * 86400.0,
        )
        try:
            recorder.restore(daemon.controller.restore_learned, loop_identities(cfg))
            recorder.restore_heated(daemon.controller.restore_heated)
        except sqlite3.Error as exc:
            log.error("could not read learned parameters from %s (%s)", cfg.store_path, exc)
        daemon.observe(recorder)

    # Always there, even with no [[schedule]] in the file: entries can be added at run time.
    out.schedule = ScheduleBridge(daemon, cfg, out.store, wall=clocks.wall_dt, mono=clocks.mono)
    out.tasks.append(out.schedule.run)
    out.closers.append(out.schedule.close)

    # Learned pre-heat and tap-flick: an observer (draws, flicks) and a check once a second.
    out.learning = LearningBridge(
        daemon, cfg, out.store, wall=clocks.wall_dt, lead_s=out.schedule.lead_s
    )
    out.tasks.append(out.learning.run)
    out.closers.append(out.learning.close)

    if cfg.mqtt is not None:
        # Imported only when configured: paho and the payloads cost start-up CPU (README,
        # "Footprint").
        from zcw.adapters.mqtt_client import MqttSettings
        from zcw.adapters.mqtt_payloads import Topics
        from zcw.app.calendar_commands import CalendarCommands
        from zcw.app.mqtt_bridge import MqttBridge

        m = cfg.mqtt
        settings = MqttSettings(
            host=m.host,
            port=m.port,
            username=m.username,
            password=m.resolved_password(),
            tls_ca=m.tls_ca,
            client_id=f"zcw-{m.device_id}",
        )
        bridge = MqttBridge(
            daemon,
            settings,
            Topics(m.base_topic, m.discovery_prefix),
            device_id=m.device_id,
            discovery=m.discovery,
            announced_file=cfg.store_path.parent / "mqtt-announced.json",
            totals=recorder.totals if recorder is not None else None,
            commands=CalendarCommands(out.schedule, out.learning),
            wall_clock=clocks.wall,
        )
        out.tasks.append(bridge.run)
        out.closers.append(bridge.close)

    if cfg.mihome is not None:
        # Lazy: python-miio costs start-up time and memory, only worth it when configured.
        from zcw.app.mihome_bridge import build_mihome

        mihome = build_mihome(cfg, daemon)
        out.tasks.append(mihome.run)
        out.closers.append(mihome.close)
    return out
