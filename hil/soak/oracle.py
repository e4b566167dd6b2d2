"""The invariants, judged on what the emulated Pico itself recorded, never on what zcw believes.

Input, in plant time: the HAL's relay history ``(t, channel, on)``, the frames the firmware
sent (its sensor readings ``T``), and the time of every host frame it received. Each rule
of docs/safety.md that the relay record can show is checked on every change:

- I1: a valve on while the pump is off only within its lead or lag window (crossover);
- I2: the pump never on with every valve closed (state after each firmware pass);
- I3: the pump on no longer than ``max_run_s`` in a stretch, no relay on over 600 s;
- dead-man: every relay off within ``host_timeout`` + 0.5 s of the last host frame;
- I4: a bound valve off within a pass of its sensor reporting an error (85 at power-on,
  disconnected, CRC, all-zero, missing from the bus) or going stale, and never on meanwhile;
- I5: the bound valve off while its loop sensor reads at or over the bridge's limit, and the
  pump and the valve off within ``cold_reaction_s`` of a cold-line reading at the limit;
- I7: nothing on while the daemon's own status says idle (beyond a pass), or after a tick
  that failed.

A violation is kept with its time and words; the counts go into the summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hil.emulator import rom_for

CAP_S = 600.0
PASS_S = 0.05


@dataclass
class Violation:
    rule: str
    t: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "t": round(self.t, 2), "detail": self.detail}


@dataclass
class OracleParams:
    pump: int
    valves: dict[str, int]  # loop -> channel
    loop_sensor: dict[str, str]  # loop -> sensor name
    cold_sensor: dict[str, str]  # loop -> its cold-line sensor name
    valve_lead_s: float
    valve_lag_s: float
    max_run_s: float  # the longest any cycle may pump
    host_timeout_s: float
    bound_limit_c: dict[str, float]  # loop -> the bridge's local limit
    cold_line_max_c: float
    tick_s: float = 0.25
    slack_s: float = 0.35  # a tick and a firmware pass
    cold_reaction_s: float = 1.0
    sensor_period_s: float = 1.0


@dataclass
class RelayOracle:
    p: OracleParams
    on: dict[int, bool] = field(default_factory=dict)
    since: dict[int, float] = field(default_factory=dict)
    last_rx: float = 0.0
    violations: list[Violation] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    worst: dict[str, float] = field(default_factory=dict)  # rule -> worst margin used (s)
    _lone_valve: dict[int, float] = field(default_factory=dict)  # valve on, pump off, since
    _invalid: dict[str, tuple[float, str]] = field(default_factory=dict)  # rom -> (t, why)
    _hot: dict[str, float] = field(default_factory=dict)  # rom at/over its limit since
    _cold_hot: dict[str, float] = field(default_factory=dict)  # cold rom at the limit since
    _seen: dict[str, float] = field(default_factory=dict)  # loop rom -> its last reading
    _silence_told: bool = False
    _idle_since: float | None = None
    _unhealthy_at: float | None = None
    relay_changes: int = 0

    def __post_init__(self) -> None:
        self.channels = [self.p.pump, *self.p.valves.values()]
        for ch in self.channels:
            self.on[ch] = False
            self.since[ch] = 0.0
        self.rom_loop = {rom_for(s): loop for loop, s in self.p.loop_sensor.items()}
        self.cold_rom_loop = {rom_for(s): loop for loop, s in self.p.cold_sensor.items()}

    # -- feeding -------------------------------------------------------------------------

    def feed(
        self,
        history: list[tuple[float, int, bool]],
        frames: list[tuple[float, str, list[str]]],
        rx: list[float],
        now: float,
    ) -> None:
        """One step's worth of the emulator's records, merged in time order."""
        items: list[tuple[float, int, Any]] = []
        items += [(t, 0, None) for t in rx]
        items += [(t, 1, (kind, fields)) for t, kind, fields in frames]
        items += [(t, 2, (ch, on)) for t, ch, on in history]
        items.sort(key=lambda i: (i[0], i[1]))
        i = 0
        while i < len(items):
            t = items[i][0]
            group = []
            while i < len(items) and items[i][0] == t:
                group.append(items[i])
                i += 1
            for _t, kind, data in group:
                if kind == 0:
                    self.last_rx = t
                    self._silence_told = False
                elif kind == 1:
                    self._frame(t, *data)
                else:
                    self._relay(t, *data)
            self._after_pass(t)
        self._check_open(now)

    def _frame(self, t: float, kind: str, fields: list[str]) -> None:
        if kind != "T" or len(fields) != 3:
            return
        rom, raw, status = fields
        loop = self.rom_loop.get(rom)
        cold_loop = self.cold_rom_loop.get(rom)
        if loop is not None:
            self._seen[rom] = t
        if status != "ok":
            if loop is not None and rom not in self._invalid:
                self._invalid[rom] = (t, status)
                self.counts["sensor_error_readings"] += 1
            return
        value_c = int(raw) / 16.0
        if loop is not None:
            self._invalid.pop(rom, None)
            if value_c >= self.p.bound_limit_c[loop]:
                self._hot.setdefault(rom, t)
            else:
                self._hot.pop(rom, None)
        if cold_loop is not None:
            if value_c >= self.p.cold_line_max_c:
                if rom not in self._cold_hot:
                    self.counts["cold_line_at_limit_readings"] += 1
                self._cold_hot.setdefault(rom, t)
            else:
                self._cold_hot.pop(rom, None)

    def _relay(self, t: float, ch: int, on: bool) -> None:
        if ch not in self.on:
            self.on[ch], self.since[ch] = False, 0.0
        was = self.on[ch]
        if was == on:
            return
        self.relay_changes += 1
        if was and not on:
            self._stretch_ended(ch, t)
            if t - self.last_rx > self.p.host_timeout_s + 0.5:
                self._violate(
                    "dead_man",
                    t,
                    f"relay {ch} went off {t - self.last_rx:.2f} s after the last host frame",
                )
            self._note("dead_man_margin", t - self.last_rx)
        self.on[ch] = on
        self.since[ch] = t

    def _stretch_ended(self, ch: int, t: float) -> None:
        length = t - self.since[ch]
        cap = self.p.max_run_s if ch == self.p.pump else CAP_S
        self._note(f"on_stretch_ch{ch}", length)
        if length > cap + self.p.slack_s:
            self._violate("I3", t, f"relay {ch} was on {length:.1f} s in one stretch (cap {cap})")

    def _after_pass(self, t: float) -> None:
        pump_on = self.on[self.p.pump]
        valves_on = [ch for ch in self.p.valves.values() if self.on[ch]]
        if pump_on and not valves_on:
            self._violate("I2", t, "the pump is on with every valve closed")
        for ch in self.p.valves.values():
            lone = self.on[ch] and not pump_on
            if lone and ch not in self._lone_valve:
                self._lone_valve[ch] = t
            elif not lone and ch in self._lone_valve:
                self._check_lone(ch, t, ended=True)
                del self._lone_valve[ch]
        self._check_bound(t)

    def _check_lone(self, ch: int, t: float, *, ended: bool) -> None:
        began = self._lone_valve[ch]
        window = max(self.p.valve_lead_s, self.p.valve_lag_s) + self.p.slack_s
        if ended:
            self._note("I1_window", t - began)
        if t - began > window:
            self._violate(
                "I1", t, f"valve {ch} on with the pump off for {t - began:.2f} s (> {window:.2f})"
            )
            self._lone_valve[ch] = float("inf")  # told once per stretch

    def _check_bound(self, t: float) -> None:
        for rom, (since, why) in self._invalid.items():
            loop = self.rom_loop[rom]
            ch = self.p.valves[loop]
            if self.on[ch] and t - since > PASS_S + 1e-6:
                self._violate("I4", t, f"valve {ch} on {t - since:.2f} s after its sensor: {why}")
                self._invalid[rom] = (float("inf"), why)
        # The firmware's stale rule: no reading for 3 periods closes a bound valve.
        stale_after = 3 * self.p.sensor_period_s + 1.0  # + the conversion and a pass
        for rom, loop in self.rom_loop.items():
            ch = self.p.valves[loop]
            seen = self._seen.get(rom)
            if self.on[ch] and seen is not None and t - seen > stale_after:
                self._violate("I4", t, f"valve {ch} on, its sensor silent for {t - seen:.1f} s")
                self._seen[rom] = float("inf")
        for rom, since in self._hot.items():
            loop = self.rom_loop[rom]
            ch = self.p.valves[loop]
            if self.on[ch] and t - since > PASS_S + 1e-6:
                self._violate("I5", t, f"valve {ch} on {t - since:.2f} s at its local limit")
                self._hot[rom] = float("inf")
        for rom, since in self._cold_hot.items():
            loop = self.cold_rom_loop[rom]
            on = [ch for ch in (self.p.pump, self.p.valves[loop]) if self.on[ch]]
            if on and t - since > self.p.cold_reaction_s:
                self._violate(
                    "I5", t, f"relays {on} on {t - since:.2f} s after the cold line read the limit"
                )
                self._cold_hot[rom] = float("inf")

    def _check_open(self, now: float) -> None:
        """What is still on at the end of a step: stretches, lone valves, silence."""
        for ch in self.channels:
            if self.on[ch]:
                cap = self.p.max_run_s if ch == self.p.pump else CAP_S
                if now - self.since[ch] > cap + self.p.slack_s:
                    self._violate("I3", now, f"relay {ch} on for {now - self.since[ch]:.1f} s")
                    self.since[ch] = float("inf")
        for ch in list(self._lone_valve):
            self._check_lone(ch, now, ended=False)
        self._check_bound(now)
        silent = now - self.last_rx
        if (
            silent > self.p.host_timeout_s + 0.5
            and any(self.on.values())
            and not self._silence_told
        ):
            self._violate("dead_man", now, f"relays on {silent:.2f} s after the last frame")
            self._silence_told = True

    # -- the daemon's own view -----------------------------------------------------------

    def daemon_status(self, now: float, idle: bool, healthy: bool) -> None:
        """I7: after a tick the daemon called idle (or failed), nothing may stay on."""
        if idle and self._idle_since is None:
            self._idle_since = now
        elif not idle:
            self._idle_since = None
        if not healthy and self._unhealthy_at is None:
            self._unhealthy_at = now
        elif healthy:
            self._unhealthy_at = None

    def check_i7(self, now: float) -> None:
        on = [ch for ch in self.channels if self.on[ch]]
        if not on:
            return
        for since, why in ((self._idle_since, "idle"), (self._unhealthy_at, "a failed tick")):
            if since is not None and now - since > self.p.tick_s + PASS_S + 1e-6:
                self._violate("I7", now, f"relays {on} on {now - since:.2f} s after {why}")
                if why == "idle":
                    self._idle_since = float("inf")
                else:
                    self._unhealthy_at = float("inf")

    def daemon_gone(self) -> None:
        self._idle_since = self._unhealthy_at = None

    # -- results -------------------------------------------------------------------------

    def _note(self, what: str, value: float) -> None:
        if value > self.worst.get(what, float("-inf")):
            self.worst[what] = value

    def _violate(self, rule: str, t: float, detail: str) -> None:
        self.counts[f"violation_{rule}"] += 1
        if len(self.violations) < 200:
            self.violations.append(Violation(rule, t, detail))

    @property
    def violation_count(self) -> int:
        return sum(v for k, v in self.counts.items() if k.startswith("violation_"))
