"""Millisecond tick arithmetic over the RP2040/RP2350 period of 2**30, on any Python.

``time.ticks_ms()`` on the Pico wraps every 2**30 ms (12.4 days). A plain ``now - then`` or
``now >= deadline`` is wrong across that wrap, so every time comparison in the firmware goes
through ``ticks_diff`` and every future moment is made with ``ticks_add``. These are exactly
MicroPython's ``time.ticks_diff``/``time.ticks_add`` on the Pico; they are written out here
because the unix port (where the tests run) uses a 2**62 period, and the fakes and the
emulator must wrap where the Pico does. A difference is only meaningful within half a period
(6.2 days), so the firmware never keeps a timer armed that long.
"""

PERIOD = 1 << 30
HALF = PERIOD >> 1
MASK = PERIOD - 1


def ticks_add(ticks, delta):
    """The tick value ``delta`` ms after (or before, if negative) ``ticks``."""
    return (ticks + delta) & MASK


def ticks_diff(a, b):
    """Signed ``a - b`` in ms, in [-2**29, 2**29): > 0 when ``a`` is later than ``b``."""
    d = (a - b) & MASK  # both operands are in [0, 2**30): no long-int allocation on the Pico
    if d >= HALF:
        d -= PERIOD
    return d
