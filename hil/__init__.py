"""Hardware-in-the-loop: plant model, houses, bridge emulator, scenarios, bench."""
