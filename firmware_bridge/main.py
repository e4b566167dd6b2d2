"""Firmware entry point: the recovery check, then the bridge loop with the watchdog.

With the recovery jumper fitted, or BOOTSEL pressed while the LED is lit after power-up,
the bridge does not start: relays stay OFF, no watchdog, Ctrl-C works and the REPL is
reachable (``mpremote``), the LED blinks fast. Otherwise the bridge runs forever, with
Ctrl-C disabled so that a stray 0x03 from the host cannot stop it.
"""

import board
import hal


def run():
    from bridge import Bridge

    h = hal.Hal(board.CONFIG)
    bridge = Bridge(h, board.CONFIG, boot_reason=h.boot_reason())
    while True:
        # The watchdog is fed only after a complete, healthy pass of the loop.
        if bridge.poll(h.now_ms()):
            h.feed_watchdog()
        h.sleep_ms(2)


if hal.safe_mode_requested(board.CONFIG):
    SAFE_MODE = hal.enter_safe_mode(board.CONFIG)  # keeps the LED timer alive; REPL follows
else:
    run()
