"""The strategies `zcw bench` compares (docs/benchmark.md).

- ``zcw``: the real daemon (controller, safety supervisor, simulated bridge) with the config
  the house implies (:mod:`hil.house_config`: its topology, pump, sensors and mounts), in
  lockstep with the plant;
- ``oracle``: the physical limit: stops the instant the *true* water at the valve reaches
  ``ready_c``, and answers "already hot" (moves nothing) where it is there already;
- ``timer``: a fixed 120 s run;
- ``aquastat``: a normally-open thermostatic valve (closes at 40 °C, reopens at 35 °C, wax
  element τ 8 s) with the pump on a 120 s timer;
- ``threshold``: stops when the loop sensor reads ≥ 38 °C (600 s timeout).
"""

from __future__ import annotations

import math
from typing import Protocol

from hil.house_config import config_for_house
from hil.plant import Plant
from hil.sim_hardware import SimHardware
from zcw.app.clock import SteppedClock
from zcw.app.daemon import Daemon
from zcw.app.wiring import wiring_from_config
from zcw.domain.controller import Phase
from zcw.domain.model import Request, Source

TIMEOUT_S = 600.0
LEARNING_TAIL_S = 70.0
# A commissioning cycle and the minutes it watches the sensor after it (WATCH_S).
COMMISSION_LIMIT_S = 700.0


class Strategy(Protocol):
    """Drives one plant through a day; the runner measures."""

    name: str
    plant: Plant

    def begin(self, loop: str) -> None: ...

    def tick(self, dt_s: float) -> None: ...

    @property
    def active(self) -> bool: ...

    def idle(self, dt_s: float) -> None: ...


class _PlantStrategy:
    """Shared plumbing for the strategies that drive the plant directly."""

    name = "base"

    def __init__(self, plant: Plant, ready_c: float) -> None:
        self.plant = plant
        self.ready_c = ready_c
        self.loop = ""
        self.elapsed_s = 0.0
        self.running = False

    def begin(self, loop: str) -> None:
        self.loop, self.elapsed_s, self.running = loop, 0.0, True
        self.plant.set_valve(loop, True)
        self.plant.set_pump(True)

    def stop(self) -> None:
        self.plant.set_pump(False)
        self.plant.set_valve(self.loop, False)
        self.running = False

    def tick(self, dt_s: float) -> None:
        self.plant.advance(dt_s)
        self.elapsed_s += dt_s
        if self.running and (self.should_stop() or self.elapsed_s >= TIMEOUT_S):
            self.stop()

    def should_stop(self) -> bool:
        raise NotImplementedError

    @property
    def active(self) -> bool:
        return self.running

    def idle(self, dt_s: float) -> None:
        self.plant.advance(dt_s)


class Oracle(_PlantStrategy):
    name = "oracle"

    def begin(self, loop: str) -> None:
        if self.plant.water_at_valve_c(loop) >= self.ready_c:
            self.loop, self.elapsed_s, self.running = loop, 0.0, False  # already hot
            return
        super().begin(loop)

    def should_stop(self) -> bool:
        return self.plant.water_at_valve_c(self.loop) >= self.ready_c


class Timer(_PlantStrategy):
    name = "timer"

    def should_stop(self) -> bool:
        return self.elapsed_s >= 120.0


class Threshold(_PlantStrategy):
    name = "threshold"

    def should_stop(self) -> bool:
        return self.plant.sensor_c(self.loop) >= 38.0


class Aquastat(_PlantStrategy):
    """The valve is the thermostat: its wax element lags the water by τ 8 s."""

    name = "aquastat"
    TAU_S = 8.0

    def begin(self, loop: str) -> None:
        super().begin(loop)
        self.element_c = self.plant.water_at_valve_c(loop)

    def tick(self, dt_s: float) -> None:
        water = self.plant.water_at_valve_c(self.loop) if self.loop else 0.0
        if self.running:
            self.element_c = water + (self.element_c - water) * math.exp(-dt_s / self.TAU_S)
            if self.element_c >= 40.0:
                self.plant.set_valve(self.loop, False)
            elif self.element_c <= 35.0:
                self.plant.set_valve(self.loop, True)
        super().tick(dt_s)

    def should_stop(self) -> bool:
        return self.elapsed_s >= 120.0


class Zcw:
    """The real daemon on a simulated bridge, ticking at 4 Hz in lockstep with the plant."""

    name = "zcw"
    TICK_S = 0.25

    def __init__(self, plant: Plant, ready_c: float) -> None:
        self.plant = plant
        cfg = config_for_house(plant.house)
        self.clock = SteppedClock()
        wiring = wiring_from_config(cfg)
        self.hardware = SimHardware(
            plant,
            self.clock,
            pump_channel=wiring.pump_channel,
            valve_channels={ch: loop for loop, ch in wiring.valve_channels.items()},
            sensors=wiring.sensor_names,
        )
        self.daemon = Daemon(wiring, self.hardware, self.clock)
        self.daemon.tick()

    def begin(self, loop: str) -> None:
        self.daemon.submit(Request("start", Source.SCHEDULE, loop))
        self.daemon.tick()

    def commission(self, loop: str) -> bool:
        """`zcw commission LOOP`, as the installer runs it once: a watched cycle from a cooled
        pipe. True if it measured the loop."""
        before = self.daemon.controller.learned[loop]
        self.daemon.submit(Request("commission", Source.CLI, loop))
        for _ in range(int(COMMISSION_LIMIT_S / self.TICK_S)):
            self.tick(self.TICK_S)
            learned = self.daemon.controller.learned[loop]
            if learned.commissioned and learned != before:
                return True
            status = self.daemon.status
            ended = ("rejected", "cycle_aborted", "cycle_stopped")
            if status is not None and any(e.kind in ended for e in status.events):
                return False
        return False

    def tick(self, dt_s: float) -> None:
        steps = max(1, round(dt_s / self.TICK_S))
        for _ in range(steps):
            self.clock.advance(dt_s / steps)
            self.daemon.tick()

    @property
    def active(self) -> bool:
        return self.daemon.controller.phase is not Phase.IDLE

    def idle(self, dt_s: float) -> None:
        # The first minute after a cycle runs at the full tick rate, as the real daemon does:
        # the controller learns its sensor's lag from it. Beyond that, one coarse jump, and a
        # few ticks to freshen the sensors before the next trigger: 4 Hz over hours buys nothing.
        fine = min(dt_s, LEARNING_TAIL_S)
        self.tick(fine)
        rest = dt_s - fine
        if rest > 0:
            self.clock.advance(max(rest - 5.0, 0.0))
            self.daemon.tick()
            self.tick(min(rest, 5.0))


STRATEGIES: dict[str, type[_PlantStrategy] | type[Zcw]] = {
    "zcw": Zcw,
    "oracle": Oracle,
    "timer": Timer,
    "aquastat": Aquastat,
    "threshold": Threshold,
}


def make(name: str, plant: Plant, ready_c: float) -> Strategy:
    return STRATEGIES[name](plant, ready_c)
