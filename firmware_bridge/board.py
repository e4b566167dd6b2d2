"""Board wiring: which GPIO drives which relay, where the 1-Wire bus and the inputs are.

Edit this file to match your board. ``relay_active_low`` boards (most opto-isolated ones)
energise the coil when the pin is LOW; ``boot.py`` drives every relay pin to its OFF level
first thing at every reset, and the pull-ups described in README.md keep them OFF before
that and while the Pico is unpowered.

Inputs: each is one GPIO feeding one logical button (its ``BTN`` index). A wired push button
goes to GND with a pull-up and is active-low; a 433 MHz receiver output is driven HIGH while
a remote key is held, so it needs its own pin with a pull-down and is active-high. Several
inputs may feed the same button (the wired button and the remote key that mirrors it).
``hal.py`` refuses to start with an input whose pull does not match its polarity.
"""

CONFIG = {
    # Channel 0 = pump, 1…4 = valves.
    "relay_pins": [2, 3, 4, 5, 6],
    "relay_active_low": True,
    "relays": 5,
    # DS18B20 data line, with a 4.7 kΩ pull-up to 3.3 V.
    "onewire_pin": 22,
    "buttons": 2,
    "inputs": [
        {"pin": 14, "pull": "up", "active_low": True, "button": 0},  # wired button 0 to GND
        {"pin": 15, "pull": "up", "active_low": True, "button": 1},  # wired button 1 to GND
        {"pin": 16, "pull": "down", "active_low": False, "button": 0},  # 433 MHz receiver D0
        {"pin": 17, "pull": "down", "active_low": False, "button": 1},  # 433 MHz receiver D1
    ],
    # "LED" is the on-board LED on the Pico, the Pico W (where it hangs off the wireless
    # chip, not GP25) and the Pico 2.
    "led_pin": "LED",
    # Recovery: a jumper from this pin to GND at power-up (or BOOTSEL pressed during the
    # first safe_mode_window_ms) skips the firmware: relays OFF, no watchdog, REPL open.
    "safe_mode_pin": 21,
    "safe_mode_window_ms": 1500,
    "sensor_period_ms": 1000,
    "host_timeout_ms": 2000,
    # RP2040 watchdog: at most 8388 ms; the main loop feeds it only after a healthy pass.
    "watchdog_ms": 5000,
}
