"""Safety supervisor: the last word on relay outputs in the daemon (docs/safety.md, layer 3).

It sits between the controller's wishes and the bridge. It can veto or force OFF; it can
never turn anything ON. It trusts nothing the controller says about the plumbing: it
validates the raw sensor samples itself and keeps its own memory of what it let through,
so a controller that wishes at random still cannot break an invariant:

- I1: a valve open with the pump off only inside the valve-lead / valve-lag windows
  (not in ``drain``, where there is no pump and the valve *is* the flow).
- I2: in ``crossover``, the pump only runs while some valve is open (no deadhead).
- I3: the pump (or, without a pump, a valve) never runs longer than the cycle cap. A stop
  shorter than ``min_rest_s`` does not start a new cycle, so toggling cannot reset the cap.
- I4: a valve is open only while its loop sensor's reading is valid.
- I5: a cold-line reading at or above ``cold_line_max_c`` closes that valve and stops the
  pump; in ``crossover`` a loop with a cold-line sensor opens only while that sensor reads.
- I7: when the controller reports trouble (``force_off``), everything goes OFF.

**A veto holds** (docs/safety.md, layer 3): an output the supervisor turned down stays OFF
until the wish for it is withdrawn, and after an I3 veto also until ``min_rest_s`` has
passed. The next refresh of the same wish never undoes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from zcw.domain.model import Params, Relays, SensorSample, cold_key, loop_key
from zcw.domain.sensors import SensorValidator

# A tick of slack: a valve opened on one tick may see its pump start on the next.
TICK_SLACK_S = 0.3
PUMP = "pump"


@dataclass(frozen=True, slots=True)
class Veto:
    """One thing the supervisor refused, for logs and for the controller to abort on.

    ``new`` is False while an earlier veto still holds an output the controller keeps
    wishing ON: the log says it once, the controller still sees it.
    """

    rule: str
    loop: str | None
    detail: str
    new: bool = True


@dataclass(frozen=True, slots=True)
class _Hold:
    rule: str
    loop: str | None
    detail: str
    until_s: float  # not released before this time, even with the wish withdrawn
    withdrawn: bool = False  # the wish behind it has been withdrawn since the veto


class SafetySupervisor:
    """Filters desired relay states; remembers what it let through and what it vetoed."""

    def __init__(self, params: Params) -> None:
        self._p = params
        self._cap_s = min(max(lp.max_run_s for lp in params.loops), params.bridge_cap_s)
        self._validators = {
            key: SensorValidator(period_s=params.sensor_period_s)
            for lp in params.loops
            for key in (loop_key(lp.name), cold_key(lp.name))
        }
        self._holds: dict[str, _Hold] = {}  # output ("pump" or a loop) -> the veto holding it
        self._run_since: dict[str, float] = {}  # output -> start of its run, gaps merged (I3)
        self._opened_at: dict[str, float] = {}  # output -> its last off→on edge (I1 windows)
        self._off_since: dict[str, float] = {}  # output -> its last on→off edge
        self._out = Relays.off(params.loop_names)

    def __repr__(self) -> str:
        held = ", ".join(f"{k}:{h.rule}" for k, h in self._holds.items()) or "none"
        return f"SafetySupervisor(out={self._out}, holds={held})"

    @property
    def output(self) -> Relays:
        """What the supervisor let through last."""
        return self._out

    def forget_readings(self) -> None:
        """The bridge rebooted: its sensors are fresh, so 85.0 °C is a power-on value again."""
        for validator in self._validators.values():
            validator.reset()

    def filter(
        self,
        desired: Relays,
        now_s: float,
        *,
        readings: Mapping[str, SensorSample],
        force_off: bool = False,
    ) -> tuple[Relays, tuple[Veto, ...]]:
        p = self._p
        wish = {PUMP: desired.pump and p.has_pump}
        wish.update({n: desired.valves.get(n, False) for n in p.loop_names})
        self._release(wish, now_s)
        out = dict(wish)
        vetoes: list[Veto] = []

        def veto(name: str, rule: str, loop: str | None, detail: str, rest: bool = False) -> None:
            if not out[name]:
                return
            out[name] = False
            hold = self._holds.get(name)
            if hold is None:
                until = now_s + p.min_rest_s if rest else now_s
                self._holds[name] = _Hold(rule, loop, detail, until)
                vetoes.append(Veto(rule, loop, detail))

        for name, hold in self._holds.items():  # earlier vetoes still hold their outputs
            if out[name]:
                out[name] = False
                vetoes.append(Veto(hold.rule, hold.loop, hold.detail, new=False))

        if force_off:  # I7
            for name in out:
                veto(name, "I7", None, "controller requested everything off")

        valid = {n: self._check(loop_key(n), readings, now_s) for n in p.loop_names}
        for name in p.loop_names:
            cold = self._cold_reading(name, readings, now_s)
            if cold is not None and cold >= p.cold_line_max_c:  # I5, whichever loop it is
                detail = f"cold line at {cold:.1f} °C"
                veto(PUMP, "I5", name, detail)
                veto(name, "I5", name, detail)
            elif p.topology == "crossover" and self._needs_cold(name) and cold is None:
                veto(name, "I5", name, "cold-line sensor has no valid reading")
            if not valid[name]:  # I4
                veto(name, "I4", name, "no valid loop reading; valve stays closed")

        cap = self._cap_s
        if p.has_pump:
            if self._run_s(PUMP, out[PUMP], now_s) >= cap:  # I3
                veto(PUMP, "I3", None, f"pump on for {cap:.0f} s", rest=True)
        else:
            for name in p.loop_names:  # I3 for pumpless loops: the valve is the flow
                if self._run_s(name, out[name], now_s) >= cap:
                    veto(name, "I3", name, f"valve open for {cap:.0f} s", rest=True)

        valves_open = any(out[n] for n in p.loop_names)
        if p.topology == "crossover" and not valves_open:  # I2
            veto(PUMP, "I2", None, "pump with every valve closed (deadhead)")

        if p.has_pump and p.topology != "drain" and not out[PUMP]:
            for name in p.loop_names:  # I1
                if out[name] and not self._in_sequencing_window(name, now_s):
                    veto(name, "I1", name, "valve open with the pump off")

        result = Relays(pump=out[PUMP], valves={n: out[n] for n in p.loop_names})
        self._remember(out, now_s)
        return result, tuple(vetoes)

    # -- the rules' memory ----------------------------------------------------------------

    def _release(self, wish: Mapping[str, bool], now_s: float) -> None:
        """A hold ends once its wish has been withdrawn (at any time since the veto) and its
        rest, if any, is over."""
        for name, hold in list(self._holds.items()):
            if not wish[name] and not hold.withdrawn:
                hold = self._holds[name] = replace(hold, withdrawn=True)
            if hold.withdrawn and now_s >= hold.until_s:
                del self._holds[name]

    def _check(self, key: str, readings: Mapping[str, SensorSample], now_s: float) -> bool:
        return self._validators[key].check(readings.get(key), now_s).valid

    def _needs_cold(self, loop: str) -> bool:
        return self._p.loop(loop).has_cold_sensor

    def _cold_reading(
        self, loop: str, readings: Mapping[str, SensorSample], now_s: float
    ) -> float | None:
        """The cold-line value for I5. A fast rise on the cold side is exactly what an overrun
        looks like, so a reading held back only as a "jump" still counts."""
        key = cold_key(loop)
        sample = readings.get(key)
        verdict = self._validators[key].check(sample, now_s)
        if verdict.error == "jump" and sample is not None:
            return sample.value_c
        return verdict.value_c

    def _run_s(self, name: str, on: bool, now_s: float) -> float:
        """How long ``name`` will have been running in this cycle if it is ``on`` now."""
        return now_s - self._run_start(name, now_s) if on else 0.0

    def _run_start(self, name: str, now_s: float) -> float:
        """When the run ``name`` is in (or would be in, if switched on now) began. I3: a stop
        shorter than min_rest_s is the same cycle going on, so toggling cannot reset it."""
        start = self._run_since.get(name)
        if start is None:
            return now_s
        if self._is_on(name):
            return start
        off_at = self._off_since.get(name, now_s)
        return start if now_s - off_at < self._p.min_rest_s else now_s

    def _is_on(self, name: str) -> bool:
        return self._out.pump if name == PUMP else self._out.valves.get(name, False)

    def _in_sequencing_window(self, name: str, now_s: float) -> bool:
        p = self._p
        # If the pump was on until this tick, it is stopping now: the lag window starts now.
        off_since = now_s if self._out.pump else self._off_since.get(PUMP)
        opened = self._opened_at.get(name) if self._out.valves.get(name) else None
        in_lag = off_since is not None and now_s - off_since <= p.valve_lag_s + TICK_SLACK_S
        # The lag window belongs to a valve that was open while the pump ran.
        if in_lag and opened is not None and off_since is not None and opened <= off_since:
            return True
        # The lead window: a valve opening ahead of its pump.
        return opened is None or now_s - opened <= p.valve_lead_s + TICK_SLACK_S

    def _remember(self, out: Mapping[str, bool], now_s: float) -> None:
        for name, on in out.items():
            if on and not self._is_on(name):
                self._run_since[name] = self._run_start(name, now_s)
                self._opened_at[name] = now_s
            elif not on and self._is_on(name):
                self._off_since[name] = now_s
        self._out = Relays(pump=out[PUMP], valves={n: out[n] for n in self._p.loop_names})
