"""Board wiring: which GPIO drives which relay, where the 1-Wire bus and the buttons are.

Edit this file to match your board. ``active_low`` relay boards (most opto-isolated ones)
energise the coil when the pin is LOW; with the Pico unpowered, the pin floats and the board's
pull-up keeps the relay OFF, so an unpowered bridge means pump off and valves closed.
"""

CONFIG = {
    # Channel 0 = pump, 1…4 = valves.
    "relay_pins": [2, 3, 4, 5, 6],
    "relay_active_low": True,
    "relays": 5,
    # DS18B20 data line, with a 4.7 kΩ pull-up to 3.3 V.
    "onewire_pin": 22,
    # Wired buttons and 433 MHz receiver outputs (D0…D3); pressed = LOW with the pull-up.
    "button_pins": [14, 15],
    "button_active_low": True,
    "buttons": 2,
    "led_pin": 25,
    "sensor_period_ms": 1000,
    "host_timeout_ms": 2000,
    # RP2040 watchdog: at most 8388 ms; the main loop feeds it only after a healthy pass.
    "watchdog_ms": 5000,
}
