"""What a loop's reading has done in this cycle: its rises, and the cold-line probe's.

Three rises, each with its own question:

- ``risen``: the reading rose ``HEATER_RISE_C`` over its lowest. Without an outlet sensor,
  that is the sign the heater fired (I6).
- ``warming_at_s``: since when it reads ``WARMING_K`` over its lowest: a slow sensor's first
  warming, which is where a loop that learned ``stops_on_rise`` stops.
- ``slug``: whether it had already crept ``SLUG_RISE_K`` by ``SLUG_JUDGED_AT`` of the clean
  rise the loop learned: a lukewarm slug from a shared trunk ahead of the front.

And the cold-line probe's rise (``cold_risen``): T_cold witnesses the arrival only once it
rose in this cycle, since a previous stop can leave warm water behind the valve.
"""

from __future__ import annotations

from dataclasses import dataclass

# Without an outlet sensor, the loop sensor's rise that proves the heater fired (I6); less
# than the outlet's 3 K, since it sees the front through a pipe wall.
HEATER_RISE_C = 2.0
# A loop that stops on its first warming stops when its reading rose this much in the cycle:
# the earliest clear sign a dry clip on PPR gives (docs/tuning.md, "first warming").
WARMING_K = 1.0
# A reading that crept this much (four 12-bit steps, past a DS18B20's jitter) …
SLUG_RISE_K = 0.25
# … by this fraction of the learned clean rise is a slug's creep, not the front's rise …
SLUG_JUDGED_AT = 0.5
# … and the front can then only be at the valve from this fraction of the clean rise on,
# since the clean rise comes a sensor delay after the water (docs/tuning.md, "slugs").
SLUG_EARLIEST_RISE = 0.8
# T_cold witnesses the arrival once it rose this much in the cycle.
COLD_PROBE_RISE_C = 2.0


@dataclass(slots=True)
class RiseTracker:
    """The loop reading's lowest and latest in this cycle, and the rises they make."""

    changed_at_s: float  # when the reading last changed (I4's stuck-sensor check)
    min_c: float | None = None
    last_c: float | None = None
    risen: bool = False
    warming_at_s: float | None = None
    slug: bool | None = None  # None: not judged yet
    cold_min_c: float | None = None

    def observe(self, value_c: float, now_s: float) -> None:
        """A valid loop reading."""
        if value_c != self.last_c:
            self.last_c, self.changed_at_s = value_c, now_s
        if self.min_c is None or value_c < self.min_c:
            self.min_c = value_c
        self.risen = self.risen or self.rose(HEATER_RISE_C)

    def rose(self, by_c: float) -> bool:
        """Has the reading risen ``by_c`` above the lowest it read in this cycle?"""
        low, now = self.min_c, self.last_c
        return low is not None and now is not None and now - low >= by_c

    def fell(self, from_c: float | None, by_c: float) -> bool:
        """Has the reading fallen ``by_c`` under ``from_c`` (its start)?"""
        return from_c is not None and self.last_c is not None and self.last_c <= from_c - by_c

    def watch(self, now_s: float, since_pump_s: float | None, rise_s: float | None) -> None:
        """Note when the reading warmed WARMING_K (again, if a bump fell back), and judge at
        SLUG_JUDGED_AT of the learned clean rise ``rise_s`` whether a slug crept it up."""
        if not self.rose(WARMING_K):
            self.warming_at_s = None
        elif self.warming_at_s is None:
            self.warming_at_s = now_s
        if self.slug is None and rise_s is not None and since_pump_s is not None:
            judged = since_pump_s >= SLUG_JUDGED_AT * rise_s
            self.slug = self.rose(SLUG_RISE_K) if judged else None

    def slug_hold_s(self, rise_s: float) -> float:
        """Pump on → the earliest the front can be at the valve, by what a slug does: not
        before the creep can be told from the front's own rise, nor, after a slug, before
        most of the clean rise."""
        return (SLUG_EARLIEST_RISE if self.slug else SLUG_JUDGED_AT) * rise_s

    def cold_risen(self, cold_c: float) -> bool:
        """The cold-line probe reads ``cold_c``: has it risen in this cycle?"""
        self.cold_min_c = cold_c if self.cold_min_c is None else min(self.cold_min_c, cold_c)
        return cold_c - self.cold_min_c >= COLD_PROBE_RISE_C
