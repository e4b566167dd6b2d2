"""Automatic starts on a loop whose sensor cannot tell its water: held while its pipe may
still be warm.

zcw answers "already hot", and times a stop, from the loop sensor. Where that sensor cannot
be read back to the water (zcw has neither fitted its lag nor commissioned it as one, or the
loop stops on its first warming: a dry clip on plastic pipe), a pipe that a cycle or a
person's draw has just filled with hot water reads cold. A cycle then pushes that water
straight into the cold line, over ``cold_line_max_c`` before any look-ahead can act: on H4 a
keep-warm start during a shower sent 43 °C in, and one just after it 41 °C, and the
cold-line overrun latched the loop for the rest of the week.

So a start from a schedule, keep-warm or the learned plan (``Source.automatic``) waits until
the pipe has stood ``BLIND_COOL_S`` since the loop's last cycle, and since the last draw the
heater outlet showed (the outlet cannot say at which tap). A person asking (a button, MQTT,
Mi Home, the CLI, a tap-flick) still gets a cycle: they are at the tap, and the cold line's
own guards hold (I5 in docs/safety.md).
"""

from __future__ import annotations

from collections import deque

from zcw.domain.cycle.draw import OUTLET_DRAW_RISE_C
from zcw.domain.cycle.views import CycleSummary
from zcw.domain.learning import Learned

# An insulated pipe's water falls from the heater's temperature under a 38 °C cold-line limit
# in 30-50 min, a bare one in 10-20 (docs/physics.md §1.2).
BLIND_COOL_S = 1800.0
# The outlet rising OUTLET_DRAW_RISE_C within this long with the pump off is a draw (a burner
# lights within seconds of a tap opening; a tank's thermostat takes many minutes).
OUTLET_WINDOW_S = 60.0
SAMPLE_S = 1.0


def reads_its_water(learned: Learned) -> bool:
    """Can the loop sensor's reading be taken back to the water: a lag fitted or
    commissioned as one, and a loop that does not stop on its first warming."""
    measured = learned.tau_fits > 0 or learned.sensor_first_order is True
    return measured and not learned.stops_on_rise


class BlindHold:
    """When each loop last had hot water pushed or drawn into it, as far as zcw can tell."""

    def __init__(self) -> None:
        self._heated_s: dict[str, float] = {}
        self._drawn_s = -1e18
        self._last: CycleSummary | None = None
        self._outlet: deque[tuple[float, float]] = deque()

    def heated(self, name: str, at_s: float) -> None:
        """A cycle moved hot water into ``name`` at ``at_s`` (one an earlier run ended)."""
        self._heated_s[name] = max(self._heated_s.get(name, -1e18), at_s)

    def observe(
        self, now_s: float, last: CycleSummary | None, outlet_c: float | None, *, pumping: bool
    ) -> None:
        """Every step: the last finished cycle, and the heater outlet's reading."""
        if last is not None and last is not self._last:
            self._last = last
            for name in last.loops:
                self.heated(name, last.ended_s)
        if pumping or outlet_c is None:
            self._outlet.clear()  # the pump's own flow warms the outlet: no draw in it
            return
        if self._outlet and now_s - self._outlet[-1][0] < SAMPLE_S:
            return
        self._outlet.append((now_s, outlet_c))
        while now_s - self._outlet[0][0] > OUTLET_WINDOW_S:
            self._outlet.popleft()
        if outlet_c - min(v for _, v in self._outlet) >= OUTLET_DRAW_RISE_C:
            self._drawn_s = now_s

    def wait_s(self, name: str, learned: Learned | None, now_s: float) -> float | None:
        """How long an automatic start at ``name`` must still wait, or None."""
        if learned is None or reads_its_water(learned):
            return None
        since = max(self._heated_s.get(name, -1e18), self._drawn_s)
        left = BLIND_COOL_S - (now_s - since)
        return left if left > 0 else None
