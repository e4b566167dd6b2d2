"""Buttons: raw input levels to logical presses, debounced into short and long presses.

A logical button may be fed by several inputs: a wired push button (to GND, pull-up,
active-low) and the output of a 433 MHz receiver (driven HIGH while a remote key is held,
pull-down, active-high) on a pin of its own. ``levels`` applies each input's polarity and
ORs the inputs of each button; ``Buttons`` debounces the result.
"""

from ticks import ticks_diff

DEBOUNCE_MS = 30
SHORT_MAX_MS = 1000
LONG_MS = 1500


def check_inputs(inputs, count):
    """Raise ValueError for an input list that cannot be right (see board.py)."""
    pins = []
    for inp in inputs:
        if inp["pin"] in pins:
            raise ValueError("pin %s used by two inputs" % inp["pin"])
        pins.append(inp["pin"])
        if not 0 <= inp["button"] < count:
            raise ValueError("input on pin %s: no button %s" % (inp["pin"], inp["button"]))
        # An input must idle at its inactive level: active-low needs a pull-up, active-high
        # a pull-down. The other way round it reads as pressed with nothing connected.
        expected = "up" if inp["active_low"] else "down"
        if inp["pull"] != expected:
            raise ValueError(
                "input on pin %s: active_low=%s needs pull %s"
                % (inp["pin"], inp["active_low"], expected)
            )


def levels(raw, inputs, count):
    """Logical levels (True = pressed) of ``count`` buttons from the raw pin values."""
    out = [False] * count
    for i in range(len(inputs)):
        inp = inputs[i]
        pressed = (raw[i] == 0) if inp["active_low"] else (raw[i] != 0)
        if pressed:
            out[inp["button"]] = True
    return out


class Buttons:
    """Feed the logical levels every loop; get ("S"|"L", index) events."""

    def __init__(self, count):
        self.count = count
        self._stable = [False] * count
        self._raw = [False] * count
        self._raw_since = [0] * count
        self._down_at = [0] * count
        self._long_sent = [False] * count

    def poll(self, levels, now):
        events = []
        for i in range(self.count):
            level = bool(levels[i]) if i < len(levels) else False
            if level != self._raw[i]:
                self._raw[i] = level
                self._raw_since[i] = now
            if level != self._stable[i] and ticks_diff(now, self._raw_since[i]) >= DEBOUNCE_MS:
                self._stable[i] = level
                if level:
                    self._down_at[i] = now
                    self._long_sent[i] = False
                elif not self._long_sent[i] and ticks_diff(now, self._down_at[i]) <= SHORT_MAX_MS:
                    events.append(("S", i))
            if (
                self._stable[i]
                and not self._long_sent[i]
                and ticks_diff(now, self._down_at[i]) >= LONG_MS
            ):
                self._long_sent[i] = True
                events.append(("L", i))
        return events
