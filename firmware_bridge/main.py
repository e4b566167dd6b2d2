"""Firmware entry point: build the HAL and the bridge, run the loop, feed the watchdog."""

import board
import hal
from bridge import Bridge


def run():
    h = hal.Hal(board.CONFIG)
    bridge = Bridge(h, board.CONFIG, boot_reason=h.boot_reason())
    while True:
        # The watchdog is fed only after a complete, healthy pass of the loop.
        if bridge.poll(h.now_ms()):
            h.feed_watchdog()
        h.sleep_ms(2)


run()
