"""Safety supervisor: the last word on relay outputs in the daemon (PRODUCT §3, layer 3).

It sits between the controller's wishes and the bridge. It can veto or force OFF; it can
never turn anything ON. It keeps its own memory of what it let through, so a bug in the
controller's state machine cannot break an invariant:

- I1: a valve open with the pump off only inside the valve-lead / valve-lag windows
  (not in ``drain``, where there is no pump and the valve *is* the flow).
- I2: in ``crossover``, the pump only runs while some valve is open (no deadhead).
- I3: the pump (or, without a pump, a valve) never stays on longer than the cycle cap.
- I4: a valve never opens for a loop whose sensor reading is not valid.
- I5: a cold-line reading at or above ``cold_line_max_c`` closes that valve and stops the pump.
- I7: when the controller reports trouble (``force_off``), everything goes OFF.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zcw.domain.model import Params, Relays

# A tick of slack: a valve opened on one tick may see its pump start on the next.
TICK_SLACK_S = 0.3


@dataclass(frozen=True, slots=True)
class Veto:
    """One thing the supervisor refused, for logs and for the controller to abort on."""

    rule: str
    loop: str | None
    detail: str


class SafetySupervisor:
    """Filters desired relay states; remembers when each output changed."""

    def __init__(self, params: Params) -> None:
        self._p = params
        self._cap_s = min(max(lp.max_run_s for lp in params.loops), params.bridge_cap_s)
        self._pump_on_since: float | None = None
        self._pump_off_since: float | None = None  # None: off since start-up (no lag window)
        self._valve_open_since: dict[str, float] = {}
        self._out = Relays.off(params.loop_names)

    @property
    def output(self) -> Relays:
        """What the supervisor let through last."""
        return self._out

    def filter(
        self,
        desired: Relays,
        now_s: float,
        *,
        loop_valid: Mapping[str, bool],
        cold_c: Mapping[str, float | None],
        force_off: bool = False,
    ) -> tuple[Relays, tuple[Veto, ...]]:
        p = self._p
        vetoes: list[Veto] = []
        pump = desired.pump and p.has_pump
        valves = {name: desired.valves.get(name, False) for name in p.loop_names}

        if force_off:  # I7
            if pump or any(valves.values()):
                vetoes.append(Veto("I7", None, "controller requested everything off"))
            pump = False
            valves = dict.fromkeys(valves, False)

        for name, cold in cold_c.items():
            if cold is not None and cold >= p.cold_line_max_c:  # I5, whichever loop it is
                if pump or valves.get(name, False):
                    vetoes.append(Veto("I5", name, f"cold line at {cold:.1f} °C"))
                pump = False
                valves[name] = False

        for name, want in valves.items():
            if not want:
                continue
            was_open = self._out.valves.get(name, False)
            if not was_open and not loop_valid.get(name, False):  # I4
                valves[name] = False
                vetoes.append(Veto("I4", name, "no valid loop reading; valve stays closed"))
                continue
            opened = self._valve_open_since.get(name, now_s)
            if not p.has_pump and now_s - opened > self._cap_s:  # I3 for pumpless loops
                valves[name] = False
                vetoes.append(Veto("I3", name, "valve open longer than max_run_s"))

        if pump and self._pump_on_since is not None and now_s - self._pump_on_since >= self._cap_s:
            pump = False  # I3
            vetoes.append(Veto("I3", None, f"pump on for {self._cap_s:.0f} s"))

        if pump and p.topology == "crossover" and not any(valves.values()):
            pump = False  # I2
            vetoes.append(Veto("I2", None, "pump with every valve closed (deadhead)"))

        if p.has_pump and p.topology != "drain" and not pump:
            for name, want in valves.items():
                if want and not self._in_sequencing_window(name, now_s):  # I1
                    valves[name] = False
                    vetoes.append(Veto("I1", name, "valve open with the pump off"))

        out = Relays(pump=pump, valves=valves)
        self._remember(out, now_s)
        return out, tuple(vetoes)

    def _in_sequencing_window(self, name: str, now_s: float) -> bool:
        p = self._p
        # If the pump was on until this tick, it is stopping now: the lag window starts now.
        off_since = now_s if self._out.pump else self._pump_off_since
        if off_since is not None and now_s - off_since <= p.valve_lag_s + TICK_SLACK_S:
            return True  # valve-lag window after the pump stopped
        opened = self._valve_open_since.get(name)
        return opened is None or now_s - opened <= p.valve_lead_s + TICK_SLACK_S

    def _remember(self, out: Relays, now_s: float) -> None:
        if out.pump and not self._out.pump:
            self._pump_on_since, self._pump_off_since = now_s, None
        elif not out.pump and self._out.pump:
            self._pump_on_since, self._pump_off_since = None, now_s
        for name, is_open in out.valves.items():
            if is_open and name not in self._valve_open_since:
                self._valve_open_since[name] = now_s
            elif not is_open:
                self._valve_open_since.pop(name, None)
        self._out = out
