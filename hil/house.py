"""Simulated houses: load ``hil/houses/*.toml`` into typed, validated parameter sets.

Every physical parameter is named with its unit (see ``hil/houses/README.md``). Unknown keys
and wrong types are errors that name the key, like the daemon's own config.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from zcw.errors import ZcwError

HOUSES_DIR = Path(__file__).parent / "houses"


class HouseError(ZcwError, ValueError):
    """A house file that cannot be used; the message names the key and the fix."""


@dataclass(frozen=True, slots=True)
class PipeRun:
    """A straight run of one pipe type."""

    pipe: str
    length_m: float
    insulation_mm: float = 0.0
    u_w_per_mk: float | None = None


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """Where and how a sensor is mounted, and its response (docs/physics.md §4)."""

    mount: Literal["valve_body", "clamp", "immersion"]
    tau_s: float
    kappa: float = 1.0
    offset_c: float = 0.0


@dataclass(frozen=True, slots=True)
class HeaterSpec:
    """The water heater (docs/physics.md §2.2–2.3)."""

    kind: Literal["gas", "electric"]
    setpoint_c: float
    ignition_s: float = 3.0
    c_hx_kj_per_k: float = 2.8
    p_max_kw: float = 28.0
    p_min_kw: float = 3.5
    q_on_lpm: float = 2.5
    q_off_lpm: float = 1.0
    efficiency: float = 0.88
    fail_ignition: bool = False
    ignition_retry_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Tap:
    """One far tap: its own hot and cold (or return) runs, valve and sensors."""

    name: str
    hot: tuple[PipeRun, ...]
    cold: tuple[PipeRun, ...]
    sensor: SensorSpec
    cold_sensor: SensorSpec | None = None
    valve: bool = True


@dataclass(frozen=True, slots=True)
class House:
    """A whole house."""

    name: str
    description: str
    topology: Literal["crossover", "return_line", "drain"]
    ambient_c: float
    mains_c: float
    pump_flow_lpm: float
    heater: HeaterSpec
    taps: tuple[Tap, ...]
    trunk_hot: tuple[PipeRun, ...] = ()
    trunk_cold: tuple[PipeRun, ...] = ()
    outlet_sensor: SensorSpec | None = None
    drain_flow_lpm: float = 6.0
    pump_spinup_s: float = 0.5
    u_scale: float = 1.0
    # The user of this house opens the tap this many seconds (a range, drawn per event) after
    # the cycle stops, i.e. at hot_ready or soon after; None: a while after the trigger.
    draw_after_stop_s: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tap_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.taps)

    def randomised(self, seed: int) -> House:
        """Draw the stochastic parameters of docs/physics.md §6 for one episode."""
        rng = random.Random(seed)

        def sensor(s: SensorSpec) -> SensorSpec:
            return replace(
                s,
                tau_s=s.tau_s * rng.uniform(0.5, 2.0),
                kappa=min(1.0, s.kappa * rng.uniform(0.94, 1.06)) if s.kappa < 1 else 1.0,
                offset_c=rng.uniform(-0.5, 0.5),
            )

        heater = self.heater
        if heater.kind == "gas":
            retry = rng.uniform(15, 20) if rng.random() < 0.01 else 0.0
            heater = replace(
                heater,
                ignition_s=rng.uniform(2.0, 6.0),
                q_on_lpm=heater.q_on_lpm + rng.uniform(-0.2, 0.2),
                ignition_retry_s=retry,
            )
        return replace(
            self,
            name=f"{self.name}#{seed}",
            pump_flow_lpm=self.pump_flow_lpm * rng.uniform(0.9, 1.1),
            heater=heater,
            u_scale=rng.uniform(0.7, 1.3),
            taps=tuple(
                replace(
                    t,
                    sensor=sensor(t.sensor),
                    cold_sensor=sensor(t.cold_sensor) if t.cold_sensor else None,
                )
                for t in self.taps
            ),
        )


def available_houses() -> list[str]:
    return sorted(p.stem for p in HOUSES_DIR.glob("*.toml"))


def load_house(name_or_path: str) -> House:
    """``"R0"`` loads the bundled house; anything with a / or .toml is a path."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and "/" not in name_or_path:
        # House names do not depend on case: "h4" is H4.
        named = {h.lower(): h for h in available_houses()}.get(name_or_path.lower(), name_or_path)
        path = HOUSES_DIR / f"{named}.toml"
        if not path.exists():
            raise HouseError(
                f"unknown house '{name_or_path}'; available: {', '.join(available_houses())}, "
                "or the path of a house TOML file (see hil/houses/README.md)"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HouseError(f"house file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise HouseError(f"{path}: invalid TOML: {exc}") from None
    return _house(data, str(path))


def _take(data: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    allowed = set(getattr(cls, "__dataclass_fields__", {}))
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise HouseError(
            f"{where}: unknown key '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}"
        )
    return dict(data)


def _runs(items: Any, where: str) -> tuple[PipeRun, ...]:
    from hil.plant.pipes import PIPES  # here: hil.plant imports this module

    if not isinstance(items, list):
        raise HouseError(f"{where}: must be a list of pipe runs")
    runs = []
    for i, item in enumerate(items):
        run = PipeRun(**_take(item, PipeRun, f"{where}[{i}]"))
        if run.pipe not in PIPES:
            raise HouseError(
                f"{where}[{i}].pipe: unknown pipe '{run.pipe}'; known: {', '.join(PIPES)}"
            )
        if not 0 < run.length_m <= 200:
            raise HouseError(f"{where}[{i}].length_m: must be in (0, 200] m (got {run.length_m})")
        runs.append(run)
    return tuple(runs)


def _sensor(item: Any, where: str) -> SensorSpec | None:
    if item is None:
        return None
    spec = SensorSpec(**_take(item, SensorSpec, where))
    if spec.mount not in ("valve_body", "clamp", "immersion"):
        raise HouseError(
            f"{where}.mount: must be valve_body, clamp or immersion (got {spec.mount!r})"
        )
    return spec


def _range(item: Any, where: str) -> tuple[float, float] | None:
    if item is None:
        return None
    ok = isinstance(item, list) and len(item) == 2
    if not ok or not all(isinstance(v, int | float) and 0 <= v <= 600 for v in item):
        raise HouseError(f"{where}: must be [low, high] seconds, 0…600 (got {item!r})")
    low, high = float(item[0]), float(item[1])
    if high < low:
        raise HouseError(f"{where}: low must not exceed high (got {item!r})")
    return low, high


def _house(data: dict[str, Any], where: str) -> House:
    try:
        d = _take(data, House, where)
        heater = HeaterSpec(**_take(d.pop("heater"), HeaterSpec, f"{where}: heater"))
        taps = []
        for i, t in enumerate(d.pop("taps")):
            t = _take(t, Tap, f"{where}: taps[{i}]")
            taps.append(
                Tap(
                    name=t["name"],
                    hot=_runs(t["hot"], f"taps[{i}].hot"),
                    cold=_runs(t.get("cold", []), f"taps[{i}].cold"),
                    sensor=_sensor(t["sensor"], f"taps[{i}].sensor")
                    or SensorSpec("immersion", 2.0),
                    cold_sensor=_sensor(t.get("cold_sensor"), f"taps[{i}].cold_sensor"),
                    valve=bool(t.get("valve", True)),
                )
            )
        special = ("trunk_hot", "trunk_cold", "outlet_sensor", "draw_after_stop_s")
        return House(
            **{k: v for k, v in d.items() if k not in special},
            draw_after_stop_s=_range(d.get("draw_after_stop_s"), "draw_after_stop_s"),
            heater=heater,
            taps=tuple(taps),
            trunk_hot=_runs(d.get("trunk_hot", []), "trunk_hot"),
            trunk_cold=_runs(d.get("trunk_cold", []), "trunk_cold"),
            outlet_sensor=_sensor(d.get("outlet_sensor"), "outlet_sensor"),
        )
    except KeyError as exc:
        raise HouseError(f"{where}: missing key {exc}") from None
    except TypeError as exc:
        raise HouseError(f"{where}: {exc}") from None
