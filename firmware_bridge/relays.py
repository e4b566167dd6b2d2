"""Relay outputs with deadlines, a compiled-in cap, and the local safety interlocks.

Every ON carries a deadline; a relay that is not refreshed goes OFF at its deadline. However
often it is refreshed, no relay stays ON longer than ``CAP_MS`` in one stretch. Channel 0 is
the pump; with the pump lock on (crossover), the pump is OFF whenever no valve is ON (I2).
"""

CAP_MS = 600000  # 600 s, whatever the host asks for
PUMP = 0


class Relays:
    """The relay bank; ``hal.set_relay(channel, on)`` does the electrical work."""

    def __init__(self, hal, count):
        self.hal = hal
        self.count = count
        self.on = [False] * count
        self.deadline = [0] * count
        self.since = [0] * count
        self.pump_lock = True
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

    def set(self, ch, on, deadline_ms, now_ms):
        """Apply a host command. Returns None, or the reason it was refused."""
        if ch < 0 or ch >= self.count:
            return "channel"
        if not on:
            self._off(ch)
            return None
        if ch == PUMP and self.pump_lock and not self.any_valve():
            return "no_valve"
        if not self.on[ch]:
            self.since[ch] = now_ms
        cap_end = self.since[ch] + CAP_MS
        self.deadline[ch] = min(now_ms + max(0, deadline_ms), cap_end)
        if self.deadline[ch] <= now_ms:
            self._off(ch)
            return "cap"
        if not self.on[ch]:
            self.on[ch] = True
            self.hal.set_relay(ch, True)
            self.changed = True
        return None

    def _off(self, ch):
        if self.on[ch]:
            self.on[ch] = False
            self.hal.set_relay(ch, False)
            self.changed = True

    def off(self, ch):
        """Turn one relay OFF (local safety action)."""
        self._off(ch)
        self.enforce_lock()

    def all_off(self):
        for ch in range(self.count):
            self._off(ch)

    def enforce_lock(self):
        """I2 locally: no valve open → pump OFF. Returns True if it stopped the pump."""
        if self.pump_lock and self.on[PUMP] and not self.any_valve():
            self._off(PUMP)
            return True
        return False

    def expire(self, now_ms):
        """Turn OFF every relay whose deadline passed; return the channels turned off."""
        expired = []
        for ch in range(self.count):
            if self.on[ch] and now_ms >= self.deadline[ch]:
                self._off(ch)
                expired.append(ch)
        if expired:
            self.enforce_lock()
        return expired
