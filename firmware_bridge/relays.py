"""The relay bank: switching, each ON's deadline, and the 600 s cap with its latch.

This module only keeps time for the relays; the rules that decide whether an ON is allowed
(dead-man, local close, pump lock) live in ``bridge.py``. Every ON carries a deadline and
goes OFF there unless refreshed. However it is refreshed, no relay stays ON longer than
``CAP_MS`` in one stretch; a relay that reaches the cap is *latched*: it stays OFF until the
host has sent OFF for it **and** ``CAP_REST_MS`` have passed since the trip, or a CLR. The
latch is what makes the cap a cap: without it a host re-sending ON every second would have
the relay back a second later.
"""

from ticks import ticks_add, ticks_diff

CAP_MS = 600000  # 600 s of continuous ON, whatever the host asks for
CAP_REST_MS = 60000  # after a trip, OFF for at least this long before ON is allowed again
PUMP = 0


class Relays:
    """``hal.set_relay(channel, on)`` does the electrical work; times are tick values."""

    def __init__(self, hal, count):
        self.hal = hal
        self.count = count
        self.on = [False] * count
        self.deadline = [0] * count
        self.since = [0] * count  # start of the current ON stretch
        self.latched = [False] * count  # the cap tripped and is not released yet
        self.tripped_at = [0] * count
        self.rested = [False] * count  # CAP_REST_MS have passed since the trip
        self.host_off = [False] * count  # the host has sent OFF since the trip
        self.changed = True
        for ch in range(count):
            hal.set_relay(ch, False)

    def mask(self):
        m = 0
        for ch in range(self.count):
            if self.on[ch]:
                m |= 1 << ch
        return m

    def any_valve(self):
        for ch in range(1, self.count):
            if self.on[ch]:
                return True
        return False

    def cap_left(self, ch, now):
        """How long ``ch`` may still stay ON in this stretch (the full cap if it is OFF)."""
        if not self.on[ch]:
            return CAP_MS
        return CAP_MS - ticks_diff(now, self.since[ch])

    def switch_on(self, ch, deadline_ms, now):
        """Turn ON (or refresh) until ``deadline_ms`` from now, never past the cap."""
        left = self.cap_left(ch, now)
        if not self.on[ch]:
            self.since[ch] = now
            self.on[ch] = True
            self.hal.set_relay(ch, True)
            self.changed = True
        self.deadline[ch] = ticks_add(now, min(deadline_ms, left))

    def switch_off(self, ch):
        """Turn OFF; returns True if it was ON."""
        if not self.on[ch]:
            return False
        self.on[ch] = False
        self.hal.set_relay(ch, False)
        self.changed = True
        return True

    def all_off(self):
        for ch in range(self.count):
            self.switch_off(ch)

    def trip(self, ch, now):
        """The cap is reached: OFF and latched."""
        self.switch_off(ch)
        self.latched[ch] = True
        self.tripped_at[ch] = now
        self.rested[ch] = False
        self.host_off[ch] = False

    def host_released(self, ch):
        """The host sent OFF for ``ch``: one of the two conditions that release a latch."""
        if self.latched[ch]:
            self.host_off[ch] = True
            self._release_if_due(ch)

    def clear_latches(self):
        for ch in range(self.count):
            self.latched[ch] = False

    def _release_if_due(self, ch):
        if self.host_off[ch] and self.rested[ch]:
            self.latched[ch] = False

    def tick(self, now):
        """Advance the timers; return [(channel, "cap"|"deadline")] for relays turned OFF."""
        events = []
        for ch in range(self.count):
            if self.on[ch]:
                # The cap first: a deadline clipped to the cap ends there as a cap.
                if ticks_diff(now, self.since[ch]) >= CAP_MS:
                    self.trip(ch, now)
                    events.append((ch, "cap"))
                elif ticks_diff(now, self.deadline[ch]) >= 0:
                    self.switch_off(ch)
                    events.append((ch, "deadline"))
            elif self.latched[ch] and not self.rested[ch]:
                # Marked once, not compared forever: a latch may last longer than the half
                # period over which a tick difference is meaningful.
                if ticks_diff(now, self.tripped_at[ch]) >= CAP_REST_MS:
                    self.rested[ch] = True
                    self._release_if_due(ch)
        return events
