"""Debounced buttons with short and long presses (wired buttons or 433 MHz receiver outputs)."""

DEBOUNCE_MS = 30
SHORT_MAX_MS = 1000
LONG_MS = 1500


class Buttons:
    """Feed the raw levels every loop; get ("S"|"L", index) events."""

    def __init__(self, count):
        self.count = count
        self._stable = [False] * count
        self._raw = [False] * count
        self._raw_since = [0] * count
        self._down_at = [0] * count
        self._long_sent = [False] * count

    def poll(self, levels, now_ms):
        events = []
        for i in range(self.count):
            level = bool(levels[i]) if i < len(levels) else False
            if level != self._raw[i]:
                self._raw[i] = level
                self._raw_since[i] = now_ms
            if level != self._stable[i] and now_ms - self._raw_since[i] >= DEBOUNCE_MS:
                self._stable[i] = level
                if level:
                    self._down_at[i] = now_ms
                    self._long_sent[i] = False
                elif not self._long_sent[i] and now_ms - self._down_at[i] <= SHORT_MAX_MS:
                    events.append(("S", i))
            if self._stable[i] and not self._long_sent[i] and now_ms - self._down_at[i] >= LONG_MS:
                self._long_sent[i] = True
                events.append(("L", i))
        return events
