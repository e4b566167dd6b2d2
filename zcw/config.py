"""The config file: pydantic models loaded from TOML, with cross-field safety checks.

Unknown keys are errors and units live in the names (``max_run_s``, ``ready_c``). Loading
collects *every* problem before giving up, and each problem names its dotted key path (or the
TOML line), the bound, and the fix, so `zcw config check` can print them all at once.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import ssl
import stat
import tomllib
from collections.abc import Callable, Collection, Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
)

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
    # Per-minute temperatures and cleared faults older than this are deleted (every hour), so
    # the file stays bounded; cycles are kept (the energy and water totals are sums over
    # them). At least 8 days: the energy estimate reads the last 7 days of temperatures.
    retention_days: float = Field(30, ge=8, le=3650)


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


MIIO_TOKEN = re.compile(r"^[0-9a-fA-F]{32}$")
BEMFA_TOPIC = re.compile(r"^[A-Za-z0-9]{1,61}006$")
# Keys whose values are secrets: a config error names them but never shows what they hold.
SECRET_KEYS = frozenset({"password", "token", "key"})
TOKEN_HINT = (
    "a miIO token is 32 hex digits (0-9, a-f), e.g. from a token extractor with QR login "
    "(Xiaomi-cloud-tokens-extractor); it changes when the plug is reset or paired again"
)


_VALUE_FIXES = {
    "token": f"paste the plug's token: {TOKEN_HINT}",
    "topic": "create a switch topic in Bemfa's console named like 'zcw006' and use that name",
}


class MihomeProxyConfig(_Model):
    """[[mihome.proxy]]: a spare Mi Wi-Fi plug that Mi Home and XiaoAI switch for zcw."""

    host: str
    name: str | None = None
    token: str | None = Field(None, repr=False)
    token_env: str | None = None
    token_file: Path | None = None
    kind: Literal["miot", "miio_plug"] = "miot"
    loop: str | None = None
    poll_s: float = Field(1.0, ge=0.5, le=10)
    siid: int = Field(2, ge=1, le=1000)
    piid: int = Field(1, ge=1, le=1000)
    mirror: bool = False

    @field_validator("token")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        if v is not None and not MIIO_TOKEN.match(v):
            raise ValueError("is not a miIO token (32 hex digits)")
        return v

    @property
    def label(self) -> str:
        return self.name or self.host


# Bemfa's MQTT ports as its documentation gives them: plain TCP and MQTT over TLS. The TLS
# port could not be tried against the service from here (README, "Bemfa").
BEMFA_HOST = "bemfa.com"
BEMFA_PORT = 9501
BEMFA_TLS_PORT = 9503


class BemfaConfig(_Model):
    """[mihome.bemfa]: a switch in Bemfa's cloud (巴法云), which Mi Home lists for XiaoAI."""

    topic: str
    key: str | None = Field(None, repr=False)
    key_env: str | None = None
    key_file: Path | None = None
    host: str = BEMFA_HOST
    # None: Bemfa's TLS port with tls, its plain port without (see resolved_port).
    port: int | None = Field(None, ge=1, le=65535)
    # On by default: without TLS the private key, which is the MQTT client id, crosses the
    # internet in clear, and anyone who reads it can switch (and read) zcw's topic.
    # Strict: a TOML string ("no", "false") would otherwise be read as a yes or a no.
    tls: StrictBool = True
    ca_file: Path | None = None  # None: the system's CAs
    loop: str | None = None

    @property
    def resolved_port(self) -> int:
        if self.port is not None:
            return self.port
        return BEMFA_TLS_PORT if self.tls else BEMFA_PORT

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not BEMFA_TOPIC.match(v):
            raise ValueError("must be letters and digits ending in 006 (Bemfa's switch type)")
        return v


class MihomeConfig(_Model):
    """[mihome]: Xiaomi triggers (XiaoAI, Mi Home scenes) through proxy plugs or Bemfa."""

    proxy: list[MihomeProxyConfig] = Field(default_factory=list)
    bemfa: BemfaConfig | None = None


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
    mihome: MihomeConfig | None = None
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

    @property
    def socket_path(self) -> Path:
        if self.control.socket is not None:
            return self.control.socket.expanduser()
        service = os.environ.get("RUNTIME_DIRECTORY")  # systemd's RuntimeDirectory=zcw
        if service:
            return Path(service.split(":")[0]) / "zcw.sock"
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            return Path(runtime) / "zcw.sock"
        return Path(f"/tmp/zcw-{os.getuid()}.sock")

    @property
    def store_path(self) -> Path:
        if self.store.path is not None:
            return self.store.path.expanduser()
        service = os.environ.get("STATE_DIRECTORY")  # systemd's StateDirectory=zcw
        if service:
            return Path(service.split(":")[0]) / "history.db"
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

    if cfg.bridge.port != "sim":
        # On a real bridge every named sensor needs its ROM id, or the runtime would blame
        # the wiring for what is a missing line in the config.
        named = [(f"loops.{lc.name}.sensor", lc.sensor) for lc in cfg.loops]
        named += [(f"loops.{lc.name}.cold_sensor", lc.cold_sensor) for lc in cfg.loops]
        if cfg.heater is not None:
            named.append(("heater.outlet_sensor", cfg.heater.outlet_sensor))
        for key, sensor in named:
            if sensor is not None and sensor not in cfg.sensors:
                add(
                    ConfigProblem(
                        key,
                        f"sensor '{sensor}' is not in the [sensors] table",
                        f'add {sensor} = "<its ROM id>" under [sensors]; `zcw bridge info` '
                        "lists the ROM ids the bridge sees",
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
    if cfg.mihome is not None:
        problems += _mihome_checks(cfg, cfg.mihome)
    return problems


def _valid_bemfa_key(v: str) -> bool:
    return 0 < len(v) <= 64 and v.isascii() and v.isprintable() and " " not in v


def _secret(
    where: str,
    field: str,
    sources: tuple[str | None, str | None, Path | None],
    *,
    valid: Callable[[str], bool],
    hint: str,
    strict: bool,
) -> tuple[str | None, list[ConfigProblem]]:
    """A secret from exactly one of ``field``, ``field_env`` or ``field_file``.

    Problems name the key and never show the value. With ``strict`` false (`zcw config
    check`), an environment variable that is not set here is not an error: the daemon's
    environment (its systemd unit) may well have it.
    """
    inline, env, file = sources
    named = [
        k
        for k, v in ((field, inline), (f"{field}_env", env), (f"{field}_file", file))
        if v is not None
    ]
    if not named:
        return None, [
            ConfigProblem(
                f"{where}.{field}",
                "is required but missing",
                f'add {field}_file = "/etc/zcw/….{field}" (mode 0600), {field}_env = "VAR" '
                f'or {field} = "…" ({hint})',
            )
        ]
    if len(named) > 1:
        return None, [
            ConfigProblem(
                f"{where}.{named[1]}",
                f"give the {field} once ({' and '.join(named)} are both set)",
                f"keep one of them ({field}_file is the safest)",
            )
        ]
    src = f"{where}.{named[0]}"
    if inline is not None:
        value = inline
    elif env is not None:
        value = os.environ.get(env, "")
        if not value:
            if not strict:
                return None, []
            return None, [
                ConfigProblem(
                    src,
                    f"${env} is not set in zcw's environment",
                    f"set {env} (systemd: Environment= or EnvironmentFile= in zcw.service), "
                    f"or use {field}_file",
                )
            ]
    else:
        assert file is not None
        try:
            value = file.expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, [
                ConfigProblem(src, f"{file}: file not found", f"write the {field} into {file}")
            ]
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            return None, [
                ConfigProblem(
                    src,
                    f"{file} cannot be read ({why})",
                    "make it a text file readable by the user zcw runs as (mode 0600)",
                )
            ]
    value = value.strip()
    if not valid(value):
        holder = "it" if inline is not None else f"${env}" if env is not None else str(file)
        return None, [
            ConfigProblem(src, f"{holder} does not hold a valid {field} (not shown here)", hint)
        ]
    return value, []


def _proxy_where(i: int) -> str:
    return f"mihome.proxy[{i}]"


def mihome_secrets(m: MihomeConfig, *, strict: bool = True) -> tuple[list[str], str | None]:
    """Every proxy's token, in order, and the Bemfa key; ConfigError naming each bad one."""
    tokens: list[str] = []
    problems: list[ConfigProblem] = []
    for i, px in enumerate(m.proxy):
        token, found = _secret(
            _proxy_where(i),
            "token",
            (px.token, px.token_env, px.token_file),
            valid=lambda v: bool(MIIO_TOKEN.match(v)),
            hint=TOKEN_HINT,
            strict=strict,
        )
        tokens.append(token or "")
        problems += found
    key = None
    if m.bemfa is not None:
        b = m.bemfa
        key, found = _secret(
            "mihome.bemfa",
            "key",
            (b.key, b.key_env, b.key_file),
            valid=_valid_bemfa_key,
            hint="the key is your Bemfa private key (私钥), shown in Bemfa's console",
            strict=strict,
        )
        problems += found
    if problems:
        raise ConfigError(problems)
    return tokens, key


def _mihome_checks(cfg: Config, m: MihomeConfig) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    add = problems.append
    if not m.proxy and m.bemfa is None:
        add(
            ConfigProblem(
                "mihome",
                "names no device",
                "add a [[mihome.proxy]] (a Mi Wi-Fi plug) or a [mihome.bemfa] table, or remove "
                "[mihome] (see config/mihome.toml)",
            )
        )
    loops = [lc.name for lc in cfg.loops]
    targets = [(_proxy_where(i), px.loop) for i, px in enumerate(m.proxy)]
    if m.bemfa is not None:
        targets.append(("mihome.bemfa", m.bemfa.loop))
    for where, loop in targets:
        if loop is not None and loop not in loops:
            add(
                ConfigProblem(
                    f"{where}.loop",
                    f"there is no loop named '{loop}'{_suggest(loop, loops)}",
                    f"use one of: {', '.join(loops)} (default: the first)",
                )
            )
    if m.bemfa is not None:
        problems += _bemfa_tls_checks(m.bemfa)
    hosts = [px.host for px in m.proxy]
    for i, px in enumerate(m.proxy):
        if hosts.index(px.host) != i:
            add(
                ConfigProblem(
                    f"{_proxy_where(i)}.host",
                    f"{px.host} is already mihome.proxy[{hosts.index(px.host)}]",
                    "give each plug one [[mihome.proxy]] table",
                )
            )
    try:
        mihome_secrets(m, strict=False)
    except ConfigError as err:
        problems += err.problems
    return problems


def _bemfa_tls_checks(b: BemfaConfig) -> list[ConfigProblem]:
    """``tls``, ``port`` and ``ca_file`` of [mihome.bemfa] that cannot work together."""
    where = "mihome.bemfa"
    if b.ca_file is not None and not b.tls:
        return [
            ConfigProblem(
                f"{where}.ca_file",
                "is set, but tls = false: zcw would never use it",
                f"set tls = true (Bemfa's TLS port is {BEMFA_TLS_PORT}), or remove ca_file",
            )
        ]
    if b.host == BEMFA_HOST and (b.tls, b.port) in ((True, BEMFA_PORT), (False, BEMFA_TLS_PORT)):
        other = BEMFA_TLS_PORT if b.tls else BEMFA_PORT
        kind = "plain MQTT" if b.tls else "MQTT over TLS"
        return [
            ConfigProblem(
                f"{where}.port",
                f"{b.port} is Bemfa's {kind} port, but tls = {str(b.tls).lower()}",
                f"remove port (zcw then uses {other}), or set tls = {str(not b.tls).lower()}",
            )
        ]
    if b.ca_file is not None:
        try:
            ssl.create_default_context(cafile=str(b.ca_file.expanduser()))
        except FileNotFoundError:
            return [
                ConfigProblem(
                    f"{where}.ca_file",
                    f"{b.ca_file}: file not found",
                    "give the PEM file of the CA that signed the server's certificate, or "
                    "remove ca_file to use the system's CAs",
                )
            ]
        except (OSError, ssl.SSLError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return [
                ConfigProblem(
                    f"{where}.ca_file",
                    f"{b.ca_file} is not a readable PEM CA certificate ({why})",
                    "give the PEM file of the CA that signed the server's certificate, or "
                    "remove ca_file to use the system's CAs",
                )
            ]
    return []


def _mihome_advice(cfg: Config) -> list[ConfigProblem]:
    m = cfg.mihome
    if m is None:
        return []
    found = []
    envs = [(f"{_proxy_where(i)}.token_env", px.token_env) for i, px in enumerate(m.proxy)]
    if m.bemfa is not None:
        envs.append(("mihome.bemfa.key_env", m.bemfa.key_env))
    for where, env in envs:
        if env is not None and not os.environ.get(env):
            found.append(
                ConfigProblem(
                    where,
                    f"${env} is not set here, so its value was not checked",
                    f"make sure zcw's environment sets {env} "
                    "(systemd: EnvironmentFile= in zcw.service)",
                )
            )
    return found


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
    problem = _problem_of(err, data)
    given = err.get("input")
    if err["loc"] and str(err["loc"][-1]) in SECRET_KEYS and given is not None:
        # A token or key is named, never shown: the message may end up in a log or a ticket.
        hidden = problem.message.replace(repr(given), "a value not shown, as it is a secret")
        problem = ConfigProblem(problem.where, hidden, problem.fix)
    if err["type"] == "value_error" and err["loc"] and str(err["loc"][-1]) in _VALUE_FIXES:
        problem = ConfigProblem(problem.where, problem.message, _VALUE_FIXES[str(err["loc"][-1])])
    return problem


def _problem_of(err: dict[str, Any], data: dict[str, Any]) -> ConfigProblem:
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
    found: list[ConfigProblem] = _mihome_advice(cfg)
    if cfg.topology != "crossover":
        return found  # no cold line at stake
    for lc in cfg.loops:
        plastic = lc.pipe is None or not lc.pipe.startswith("cu_")
        if lc.sensor_mount == "pipe_clamp" and plastic and lc.cold_sensor is None:
            # docs/physics.md §4: PPR's wall alone delays the reading 40-65 s, PEX's 14 s; no
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


CONFIG_ENV = "ZCW_CONFIG"
SYSTEM_CONFIG = Path("/etc/zcw/zcw.toml")


def config_candidates() -> list[tuple[str, Path | None]]:
    """Where zcw looks for its config, in order: ($what, path or None if unset)."""
    env = os.environ.get(CONFIG_ENV)
    user = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "zcw" / "zcw.toml"
    return [
        (f"${CONFIG_ENV}", Path(env) if env else None),
        ("the system config", SYSTEM_CONFIG),
        ("your user config", user),
    ]


def _present(path: Path) -> bool:
    """There is a file here, readable or not: /etc/zcw is 0750, and a user outside group zcw
    must hear "permission denied" from load_config rather than a traceback from stat."""
    try:
        return path.exists()
    except PermissionError:
        return True


def find_config(explicit: Path | None) -> Path:
    """The config file to use: ``-c FILE``, else ``$ZCW_CONFIG``, else /etc/zcw/zcw.toml,
    else ~/.config/zcw/zcw.toml. Raises ConfigError naming every place it looked."""
    if explicit is not None:
        return explicit
    looked = []
    for what, path in config_candidates():
        if path is None:
            looked.append(f"{what} (not set)")
            continue
        if what.startswith("$") or _present(path):
            return path  # $ZCW_CONFIG is taken as given: a typo in it must not fall through
        looked.append(str(path))
    raise ConfigError(
        [
            ConfigProblem(
                "config",
                f"no config file found; looked at {', '.join(looked)}",
                "run `zcw setup` to write one for your bridge, or pass -c FILE; to try zcw "
                "without hardware, `zcw run --sim` runs a simulated house",
            )
        ]
    )


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
                    "check the path; to write one for your bridge, run `zcw setup` "
                    "(or copy one of config/*.toml)",
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
                    # /etc/zcw is 0750 root:zcw: most often the user is not in group zcw yet.
                    "make it readable by this user: join its group (`sudo usermod -aG zcw "
                    "$USER`, then log in again), or if the file is not the group's, "
                    f"`sudo chgrp zcw {path} && sudo chmod 640 {path}`; meanwhile `sudo zcw …` "
                    "works",
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
    _warn_mihome_secrets(cfg, path)
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


def house_key(house: str) -> str:
    """A simulated house's name for its own store and socket: the bundled name as given
    (R0, H4), or a house file's stem plus a hash of its path, so two files never share."""
    if house.endswith(".toml") or "/" in house:
        digest = hashlib.sha1(str(Path(house).resolve()).encode()).hexdigest()[:8]
        return f"{Path(house).stem}-{digest}"
    return house.lower()


def simulation_paths(house: str) -> tuple[Path, Path]:
    """(store, socket) of a simulated house: never a real install's, never another house's."""
    key = house_key(house)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    sock_dir = Path(runtime) if runtime else Path("/tmp")
    prefix = "zcw-sim" if runtime else f"zcw-{os.getuid()}-sim"
    return Path(state) / "zcw" / "sim" / key / "history.db", sock_dir / f"{prefix}-{key}.sock"


def simulation_sockets() -> list[Path]:
    """The control sockets of the simulations running now (`zcw run --sim`), any house."""
    _, sample = simulation_paths("x")
    pattern = sample.name.removesuffix("-x.sock") + "-*.sock"
    return sorted(p for p in sample.parent.glob(pattern) if p.is_socket())


def simulation_config(cfg: Config, house: str) -> Config:
    """The config a simulation of ``house`` runs with. A simulation never writes into a real
    install's store or takes its socket: a config for a real bridge run with ``--sim`` gets
    the house's own; a config written for simulation (``bridge.port = "sim"``) keeps a store
    or socket it names, and gets the house's own for one it leaves out."""
    store, sock = simulation_paths(house)
    own = cfg.bridge.port == "sim"
    if own and cfg.store.path is not None:
        store = cfg.store.path
    if own and cfg.control.socket is not None:
        sock = cfg.control.socket
    return cfg.model_copy(
        update={
            "store": cfg.store.model_copy(update={"path": store}),
            "control": cfg.control.model_copy(update={"socket": sock}),
        }
    )


def _warn_mihome_secrets(cfg: Config, path: Path) -> None:
    import logging

    m = cfg.mihome
    if m is None:
        return
    inline = any(px.token is not None for px in m.proxy) or (m.bemfa and m.bemfa.key)
    files = [px.token_file for px in m.proxy] + [m.bemfa.key_file if m.bemfa else None]
    for secret_path, what in [(path if inline else None, "config file")] + [
        (f, "token or key file") for f in files
    ]:
        if secret_path is None:
            continue
        try:
            mode = secret_path.expanduser().stat().st_mode
        except OSError:
            continue
        if mode & stat.S_IROTH:
            logging.getLogger("zcw.config").warning(
                "the %s %s holds a Mi Home secret and is readable by everyone; run `chmod o-r %s`",
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
