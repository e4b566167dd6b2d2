"""The bridge emulator: the firmware's own logic under CPython, wired to the plant, on a pty."""

from hil.emulator.emulator import Emulator, rom_for

__all__ = ["Emulator", "rom_for"]
