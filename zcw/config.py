"""The config file: pydantic models loaded from TOML, with cross-field safety checks.

Unknown keys are errors and units live in the names (``max_run_s``, ``ready_c``). Loading
collects *every* problem before giving up, and each problem names its dotted key path (or the
TOML line), the bound, and the fix, so `zcw config check` can print them all at once.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Collection, Sequence
from datetime import date
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zcw.domain.calendar import parse_days, parse_hhmm
from zcw.errors import ConfigError, ConfigProblem

__all__ = [
    "Config",
    "ConfigError",
    "ConfigProblem",
    "config_for_house_loops",
    "default_config",
    "format_problems",
    "load_config",
    "parse_config",
]

RELAY_CHANNELS = (0, 4)  # the bridge drives the pump plus up to 4 valves
BRIDGE_CAP_S = 600
LOOP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ROM_ID = re.compile(r"^[0-9a-f]{16}$")

Channel = Annotated[int, Field(ge=RELAY_CHANNELS[0], le=RELAY_CHANNELS[1])]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ControlConfig(_Model):
    """[control]: timing and limits of the cycle."""

    socket: Path | None = None
    valve_lead_s: float = Field(0.5, ge=0, le=5)
    valve_lag_s: float = Field(0.5, ge=0, le=5)
    min_rest_s: float = Field(30, ge=0, le=3600)
    ignition_timeout_s: float = Field(30, ge=5, le=120)
    cold_line_max_c: float = Field(38.0, ge=20, le=40)
    hysteresis_c: float = Field(0.5, ge=0.5, le=10)
    sensor_period_s: float = Field(1.0, ge=0.1, le=10)
    stuck_after_s: float = Field(60, ge=5, le=600)
    # Keep-warm windows re-heat when the loop reads this far under ready_c, at most this often.
    keep_warm_drop_c: float = Field(3.0, ge=1, le=20)
    keep_warm_min_interval_s: float = Field(600, ge=60, le=7200)


class PumpConfig(_Model):
    """[pump]: the booster pump's relay, and an optional flow hint."""

    relay: Channel = 0
    flow_lpm: float | None = Field(None, ge=0.5, le=40)


class HeaterConfig(_Model):
    """[heater]: optional outlet sensor (T_out) for the heater-must-fire check."""

    outlet_sensor: str | None = None
    kind: Literal["gas", "electric"] = "gas"


class BridgeConfig(_Model):
    """[bridge]: where the Pico is, or "sim" for the built-in simulated bridge."""

    port: str = "sim"
    sim_house: str = "R0"
    baud: int = Field(115200, ge=9600, le=4_000_000)
    host_timeout_s: float = Field(2.0, ge=0.5, le=3.0)


class StoreConfig(_Model):
    """[store]: the SQLite history file."""

    path: Path | None = None


class MqttConfig(_Model):
    """[mqtt]: broker connection and Home Assistant discovery."""

    host: str
    port: int = Field(1883, ge=1, le=65535)
    base_topic: str = "zcw"
    discovery_prefix: str = "homeassistant"
    discovery: Literal["device", "entity"] = "device"
    device_id: str = "zcw"
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_file: Path | None = None
    tls_ca: Path | None = None

    @field_validator("base_topic", "discovery_prefix")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not v or any(c in v for c in "#+") or v.startswith("/") or v.endswith("/"):
            raise ValueError("must be a plain topic without wildcards or leading/trailing '/'")
        return v

    def resolved_password(self) -> str | None:
        """The password: $ZCW_MQTT_PASSWORD, else password_file, else the config file."""
        env = os.environ.get("ZCW_MQTT_PASSWORD")
        if env:
            return env
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password


class LoopConfig(_Model):
    """[[loops]]: one far tap with its valve and sensor."""

    name: str
    ready_c: float = Field(36.0, ge=25, le=60)
    max_run_s: float = Field(180, ge=10, le=BRIDGE_CAP_S)
    sensor: str | None = None
    valve_relay: Channel | None = None
    cold_sensor: str | None = None
    pipe_length_m: float | None = Field(None, ge=0.5, le=100)
    pipe: str | None = None
    sensor_tau_s: float | None = Field(None, ge=0, le=300)
    # Where the loop sensor sits: on the brass valve body, immersed in the flow, or clamped
    # on the pipe itself. Only advice follows from it (see advice()).
    sensor_mount: Literal["valve_body", "immersion", "pipe_clamp"] | None = None
    # A short hot draw with the pump off (点动: open the hot tap until the burner lights, then
    # close it) asks for a pre-heat of this loop. Needs the heater outlet sensor.
    tapflick: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not LOOP_NAME.match(v):
            raise ValueError(
                "must be lowercase letters, digits and _ (starting with a letter, ≤ 32 chars)"
            )
        return v


class ScheduleConfig(_Model):
    """[[schedule]]: a pre-heat, "hot at ``at`` on ``days``" (zcw starts early by the loop's
    time-to-hot)."""

    loop: str | None = None
    at: str
    days: str = "daily"

    @field_validator("at")
    @classmethod
    def _at(cls, v: str) -> str:
        parse_hhmm(v)
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: str) -> str:
        parse_days(v)
        return v


class KeepWarmConfig(_Model):
    """[[keep_warm]]: keep a loop hot between ``from`` and ``to`` on ``days`` (巡航)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    loop: str | None = None
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    days: str = "daily"

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        parse_hhmm(v)
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: str) -> str:
        parse_days(v)
        return v


class AwayConfig(_Model):
    """[[away]]: away from ``from`` to ``to`` (dates, both included)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    first: date = Field(alias="from")
    last: date = Field(alias="to")


class LearningConfig(_Model):
    """[learning]: learn when hot water is drawn, and pre-heat just before (zcw.domain.habits).

    ``off``: nothing is learned; ``suggest``: draws are learned and ``zcw schedule suggest``
    shows the plan; ``learned``: the plan runs (source ``learned``, so away mode stops it).
    ``zcw schedule learned on|off`` overrides the mode at run time, kept in the store.
    """

    mode: Literal["off", "suggest", "learned"] = "suggest"
    # Public holidays: learned and planned as rest days (like a weekend).
    holidays: list[date] = Field(default_factory=list)
    # A habit is planned when it recurs on at least this share of the days of its kind.
    min_share: float = Field(0.4, ge=0.1, le=1.0)
    # A habit not seen for this many weeks is no longer planned.
    forget_weeks: int = Field(3, ge=1, le=12)


class Config(_Model):
    """The whole file."""

    topology: Literal["crossover", "return_line", "drain"] = "crossover"
    timezone: str = "UTC"
    control: ControlConfig = ControlConfig()
    pump: PumpConfig | None = None
    heater: HeaterConfig | None = None
    bridge: BridgeConfig = BridgeConfig()
    sensors: dict[str, str] = Field(default_factory=dict)
    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig | None = None
    loops: list[LoopConfig] = Field(min_length=1)
    schedule: list[ScheduleConfig] = Field(default_factory=list)
    keep_warm: list[KeepWarmConfig] = Field(default_factory=list)
    away: list[AwayConfig] = Field(default_factory=list)
    learning: LearningConfig = LearningConfig()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("not a known IANA time zone, e.g. 'Asia/Shanghai'") from exc
        return v

    def loop(self, name: str) -> LoopConfig:
        for lc in self.loops:
            if lc.name == name:
                return lc
        raise KeyError(name)

    @cached_property
    def socket_path(self) -> Path:
        if self.control.socket is not None:
            return self.control.socket.expanduser()
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            return Path(runtime) / "zcw.sock"
        return Path(f"/tmp/zcw-{os.getuid()}.sock")

    @cached_property
    def store_path(self) -> Path:
        if self.store.path is not None:
            return self.store.path.expanduser()
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "zcw" / "history.db"


# --------------------------------------------------------------------------- cross-field checks


def _cross_checks(cfg: Config) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    add = problems.append
    c = cfg.control

    if cfg.topology == "drain":
        if cfg.pump is not None:
            add(
                ConfigProblem(
                    "pump",
                    "the drain topology has no pump (mains pressure pushes the water)",
                    'remove the [pump] table, or set topology = "crossover"',
                )
            )
    elif cfg.pump is None:
        add(
            ConfigProblem(
                "pump",
                f"the {cfg.topology} topology needs a pump",
                "add a [pump] table with relay = 0 (the bridge's pump channel)",
            )
        )

    names = [lc.name for lc in cfg.loops]
    for name in sorted({n for n in names if names.count(n) > 1}):
        add(
            ConfigProblem(
                f"loops.{name}.name",
                f"loop name '{name}' is used more than once",
                "give every [[loops]] entry its own name",
            )
        )

    channels: dict[int, str] = {}
    if cfg.pump is not None:
        channels[cfg.pump.relay] = "pump.relay"
    roles: dict[str, str] = {}
    if cfg.heater is not None and cfg.heater.outlet_sensor:
        roles[cfg.heater.outlet_sensor] = "heater.outlet_sensor"

    for lc in cfg.loops:
        key = f"loops.{lc.name}"
        if lc.sensor is None:
            add(
                ConfigProblem(
                    f"{key}.sensor",
                    "every loop needs a sensor (T_loop): without a valid "
                    "reading the valve may never open (I4)",
                    f'add sensor = "{lc.name}" and map it under [sensors]',
                )
            )
        if lc.valve_relay is None and cfg.topology != "return_line":
            add(
                ConfigProblem(
                    f"{key}.valve_relay",
                    f"every loop needs a valve in the {cfg.topology} topology",
                    "add valve_relay = 1 (a free relay channel 1…4)",
                )
            )
        if lc.valve_relay is not None:
            other = channels.get(lc.valve_relay)
            if other is not None:
                add(
                    ConfigProblem(
                        f"{key}.valve_relay",
                        f"relay channel {lc.valve_relay} is already used by {other}",
                        "give every relay its own channel 0…4",
                    )
                )
            channels[lc.valve_relay] = f"{key}.valve_relay"
        for role_key, sensor in (
            (f"{key}.sensor", lc.sensor),
            (f"{key}.cold_sensor", lc.cold_sensor),
        ):
            if sensor is None:
                continue
            if sensor in roles:
                add(
                    ConfigProblem(
                        role_key,
                        f"sensor '{sensor}' is already used as {roles[sensor]}",
                        "each sensor has one role: use a different sensor name",
                    )
                )
            roles[sensor] = role_key
        if cfg.topology == "crossover" and lc.ready_c > c.cold_line_max_c:
            add(
                ConfigProblem(
                    f"{key}.ready_c",
                    f"must be ≤ control.cold_line_max_c = "
                    f"{c.cold_line_max_c:g} °C in the crossover topology (got {lc.ready_c:g}): "
                    "the water at the valve goes straight into the cold line",
                    f'set ready_c = {c.cold_line_max_c:g} or less, or use topology = "return_line"',
                )
            )
        if lc.ready_c - c.hysteresis_c <= 20:
            add(
                ConfigProblem(
                    f"{key}.ready_c",
                    f"ready_c − control.hysteresis_c = "
                    f"{lc.ready_c - c.hysteresis_c:g} °C is too low to tell hot from cold",
                    "raise ready_c or lower control.hysteresis_c",
                )
            )
        if lc.tapflick and (cfg.heater is None or not cfg.heater.outlet_sensor):
            add(
                ConfigProblem(
                    f"{key}.tapflick",
                    "a tap-flick is seen as the heater outlet warming while the pump is off, "
                    "so it needs the heater outlet sensor (T_out)",
                    "fit a DS18B20 on the heater's outlet pipe and set [heater] outlet_sensor = "
                    '"heater_out", or set tapflick = false',
                )
            )
        elif lc.tapflick and cfg.heater is not None and cfg.heater.kind == "electric":
            add(
                ConfigProblem(
                    f"{key}.tapflick",
                    "a storage tank's outlet is always hot, so a short draw never shows there",
                    "set tapflick = false (tap-flick needs a gas heater, whose burner lights)",
                )
            )
        if c.valve_lead_s + c.valve_lag_s >= lc.max_run_s:
            add(
                ConfigProblem(
                    f"{key}.max_run_s",
                    f"must be longer than valve_lead_s + valve_lag_s "
                    f"({c.valve_lead_s + c.valve_lag_s:g} s)",
                    "raise max_run_s",
                )
            )

    if cfg.bridge.port != "sim" and cfg.sensors:
        for name, rom in cfg.sensors.items():
            if not ROM_ID.match(rom.lower().replace("-", "")):
                add(
                    ConfigProblem(
                        f"sensors.{name}",
                        f"'{rom}' is not a DS18B20 ROM id",
                        'use the 16 hex digits `zcw bridge info` shows, e.g. "28ff4a1b6b160301"',
                    )
                )
    roms = [r.lower() for r in cfg.sensors.values()]
    for name, rom in cfg.sensors.items():
        if roms.count(rom.lower()) > 1:
            add(
                ConfigProblem(
                    f"sensors.{name}",
                    f"ROM id {rom} is given to more than one sensor",
                    "each physical sensor has one name",
                )
            )
    timed: list[tuple[str, str | None]] = [
        (f"schedule[{i}].loop", e.loop) for i, e in enumerate(cfg.schedule)
    ] + [(f"keep_warm[{i}].loop", e.loop) for i, e in enumerate(cfg.keep_warm)]
    for where, loop in timed:
        if loop is not None and loop not in names:
            add(
                ConfigProblem(
                    where,
                    f"'{loop}' is not a loop of this config",
                    f"use one of: {', '.join(names)} (or leave loop out for the first)",
                )
            )
    for i, away in enumerate(cfg.away):
        if away.last < away.first:
            add(
                ConfigProblem(
                    f"away[{i}].to",
                    f"ends ({away.last}) before it starts ({away.first})",
                    "swap from and to",
                )
            )
    if (
        cfg.mqtt is not None
        and cfg.mqtt.password is not None
        and cfg.mqtt.password_file is not None
    ):
        add(
            ConfigProblem(
                "mqtt.password",
                "give the password either inline or in password_file, not both",
                "keep password_file (safer) and remove password",
            )
        )
    return problems


# --------------------------------------------------------------------------- loading


def _suggest(bad: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(bad, list(allowed), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Config
    for part in path:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        inner: Any = ann
        for arg in getattr(ann, "__args__", ()) or ():
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                inner = arg
            for sub in getattr(arg, "__args__", ()) or ():
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    inner = sub
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return model


def _where(loc: Sequence[str | int], data: dict[str, Any]) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int) and parts and parts[-1] == "loops":
            loops = data.get("loops")
            name = None
            if isinstance(loops, list) and part < len(loops) and isinstance(loops[part], dict):
                name = loops[part].get("name")
            parts.append(str(name) if isinstance(name, str) and name else f"[{part}]")
        elif isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(part)
        del i
    return ".".join(parts).replace(".[", "[")


_TYPE_WORDS = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "string_type": "a string (in quotes)",
    "bool_type": "true or false",
    "list_type": "a list ([[...]] tables)",
    "model_type": "a table",
    "dict_type": "a table",
}


def _problem(err: dict[str, Any], data: dict[str, Any]) -> ConfigProblem:
    loc = tuple(err["loc"])
    where = _where(loc, data)
    kind = err["type"]
    given = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model else []
        return ConfigProblem(
            where,
            f"unknown key '{loc[-1]}'{_suggest(str(loc[-1]), allowed)}",
            f"remove it; allowed keys here: {', '.join(allowed)}",
        )
    if kind == "missing":
        return ConfigProblem(
            where, "is required but missing", f"add {loc[-1]} = …; see config/crossover.toml"
        )
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {
            "greater_than_equal": "≥",
            "greater_than": ">",
            "less_than_equal": "≤",
            "less_than": "<",
        }[kind]
        bound = next(iter(ctx.values()), "?")
        why = (
            ": the bridge caps every relay at 600 s"
            if str(loc[-1]) == "max_run_s" and op == "≤"
            else ""
        )
        if str(loc[-1]) == "cold_line_max_c" and op == "≤":
            why = ": 40 °C is the code limit for water entering the cold pipe (IECC C404.8)"
        return ConfigProblem(
            where, f"must be {op} {bound} (got {given!r}){why}", f"set {loc[-1]} {op} {bound}"
        )
    if kind in _TYPE_WORDS:
        return ConfigProblem(
            where,
            f"must be {_TYPE_WORDS[kind]} (got {type(given).__name__} {given!r})",
            f"write {loc[-1]} as {_TYPE_WORDS[kind]}",
        )
    if kind == "literal_error":
        return ConfigProblem(
            where,
            f"must be one of {ctx.get('expected', '?')} (got {given!r})",
            "use one of the listed values",
        )
    if kind == "too_short":
        return ConfigProblem(
            where, "needs at least one entry", "add a [[loops]] table (see config/crossover.toml)"
        )
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return ConfigProblem(where, f"{msg} (got {given!r})", "see the annotated examples in config/")


def parse_config(data: dict[str, Any], *, source: str = "config") -> Config:
    """Validate already-parsed TOML data; raise ConfigError listing every problem."""
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(dict(e), data) for e in exc.errors()]) from None
    problems = _cross_checks(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def advice(cfg: Config) -> list[ConfigProblem]:
    """What a valid config still gets wrong for the plumbing it describes: warnings, not
    errors (zcw runs, but it cannot keep its promise without the fix)."""
    found: list[ConfigProblem] = []
    if cfg.topology != "crossover":
        return found  # no cold line at stake
    for lc in cfg.loops:
        plastic = lc.pipe is None or not lc.pipe.startswith("cu_")
        if lc.sensor_mount == "pipe_clamp" and plastic and lc.cold_sensor is None:
            # PHYSICS.md §4: PPR's wall alone delays the reading 40-65 s, PEX's 14 s; no
            # estimate inverts a wall, and a late stop is hot water in the cold line (the
            # unseen house r0-clamp: 119 of 120 events over the limit).
            found.append(
                ConfigProblem(
                    f"loops.{lc.name}.sensor_mount",
                    "a sensor clamped on plastic pipe reads hot water 14-65 s after it "
                    "arrives, so water over cold_line_max_c will enter the cold line",
                    f'move the sensor onto the brass valve body (sensor_mount = "valve_body"), '
                    f"or fit a probe on the cold side of the valve "
                    f"(loops.{lc.name}.cold_sensor)",
                )
            )
    return found


def load_config(path: Path) -> Config:
    """Read and validate a TOML config file; every failure is a ConfigError, never a traceback."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    where,
                    "file not found",
                    "create it (copy one of config/*.toml), or run without -c "
                    "to use the built-in default",
                )
            ]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem(where, "is a directory, not a file", "pass the path of the .toml file")]
        ) from None
    except PermissionError:
        raise ConfigError(
            [
                ConfigProblem(
                    where,
                    "permission denied",
                    f"make it readable by this user (e.g. `sudo chgrp zcw {path}`)",
                )
            ]
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(where, f"cannot be read ({exc.strerror})", "check the path")]
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            [ConfigProblem(where, "is not UTF-8 text", "save the file as UTF-8")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = f":{m.group(1)}" if m else ""
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(
            [
                ConfigProblem(
                    f"{where}{line}",
                    f"invalid TOML: {reason}",
                    "fix the syntax on that line (strings need quotes, tables "
                    "look like [name], arrays of tables like [[loops]])",
                )
            ]
        ) from None
    cfg = parse_config(data, source=where)
    _warn_secrets(cfg, path)
    return cfg


def _warn_secrets(cfg: Config, path: Path) -> None:
    import logging

    log = logging.getLogger("zcw.config")
    mqtt = cfg.mqtt
    if mqtt is None:
        return
    for secret_path, what in (
        (path, "config file") if mqtt.password else (None, ""),
        (mqtt.password_file, "password file"),
    ):
        if secret_path is None:
            continue
        try:
            mode = secret_path.stat().st_mode
        except OSError:
            continue
        if mode & stat.S_IROTH:
            log.warning(
                "the %s %s holds a secret and is readable by everyone; run `chmod o-r %s`",
                what,
                secret_path,
                secret_path,
            )


def _default_text() -> str:
    return resources.files("zcw").joinpath("default.toml").read_text(encoding="utf-8")


def default_config() -> Config:
    """The built-in default: one loop, simulated bridge, reference house R0."""
    return parse_config(tomllib.loads(_default_text()), source="built-in default")


def config_for_house_loops(
    loops: Sequence[str], house: str, *, sensors: Collection[str] = ()
) -> Config:
    """A default simulated config with one loop per tap of ``house`` (valves on channels 1…n).

    ``sensors`` are the house's installed sensors: a ``<tap>.cold`` sensor becomes that loop's
    T_cold guard and ``heater_out`` the heater's T_out, as an installer would wire them.
    """
    data = tomllib.loads(_default_text())
    data["bridge"] = {**data.get("bridge", {}), "port": "sim", "sim_house": house}
    template = data["loops"][0]
    data["loops"] = [
        {**template, "name": name, "sensor": name, "valve_relay": i + 1}
        | ({"cold_sensor": f"{name}.cold"} if f"{name}.cold" in sensors else {})
        for i, name in enumerate(loops)
    ]
    if "heater_out" in sensors:
        data["heater"] = {"outlet_sensor": "heater_out"}
    return parse_config(data, source=f"default for house {house}")


def format_problems(err: ConfigError) -> str:
    """One line per problem (plus its fix), ready to print."""
    lines = []
    for p in err.problems:
        lines.append(f"  ✗ {p.where}: {p.message}")
        lines.append(f"    fix: {p.fix}")
    return "\n".join(lines)
