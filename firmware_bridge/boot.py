"""Runs first at every reset: drive every relay pin to its OFF level before anything else.

Until this line runs the pins are inputs (the RP2040's reset state) and the relay board's
pull-ups hold the relays OFF; from here on the Pico holds them OFF itself. Nothing else is
imported first, so nothing can fail before the relays are safe.
"""

import board
import hal

hal.relays_off(board.CONFIG)
