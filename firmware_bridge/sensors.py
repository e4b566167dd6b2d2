"""DS18B20 validation, the non-blocking conversion schedule and the periodic bus rescan.

Every ``period_ms`` a conversion is started for every sensor at once (1-Wire "skip ROM" +
Convert T) and the scratchpads are read ``CONVERSION_MS`` later, so the main loop never
blocks for a conversion. Every ``RESCAN_MS`` the bus is searched again, between two
conversions (never during one), so a sensor plugged in or reseated after boot is found.
A ROM the host bound to a valve but that is not on the bus is reported ``missing``.
"""

from ticks import ticks_add, ticks_diff

# The datasheet's maximum at 12 bit is 750 ms; a margin for slow parts and clones.
CONVERSION_MS = 800
RESCAN_MS = 30000
STALE_PERIODS = 3  # a reading older than this many periods no longer counts
POWER_ON_RAW = 0x0550  # 85.0 °C: the register's reset value, read before any conversion


def crc8(data):
    """Dallas/Maxim CRC-8 (poly 0x31 reflected = 0x8C, init 0)."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def rom_valid(rom_hex):
    """A DS18B20 ROM id: 16 lower-case hex digits, family 0x28, CRC-8 over the first 7 bytes."""
    if len(rom_hex) != 16:
        return False
    for ch in rom_hex:
        if ch not in "0123456789abcdef":
            return False
    raw = bytes([int(rom_hex[i : i + 2], 16) for i in range(0, 16, 2)])
    return raw[0] == 0x28 and crc8(raw[:7]) == raw[7]


def judge(scratchpad, first_read):
    """Return (value in 1/16 °C or None, error or None) for one scratchpad read."""
    if scratchpad is None:
        return None, "disconnected"
    if len(scratchpad) != 9:
        return None, "crc"
    if scratchpad == bytes(9):
        return None, "zero"  # an all-zero scratchpad passes the CRC; it is a bus fault
    if crc8(scratchpad[:8]) != scratchpad[8]:
        return None, "crc"
    raw = scratchpad[0] | (scratchpad[1] << 8)
    if raw & 0x8000:
        raw -= 0x10000
    if raw == POWER_ON_RAW and first_read:
        return None, "power_on_85"
    if raw < -10 * 16 or raw > 100 * 16:
        return None, "out_of_range"
    return raw, None


class SensorBus:
    """Schedules conversions and rescans, and keeps the latest verdict per ROM.

    ``latest[rom]`` is ``[value or None, error or None, tick of the read, stale]``; ``bound``
    is the list of ROMs the bridge has bound to valves (read or reported missing).
    """

    def __init__(self, hal, period_ms):
        self.hal = hal
        self.period_ms = period_ms
        self.roms = list(hal.roms())  # found on the bus by the last search
        self.bound = []
        self.latest = {}
        self._first = {}
        for rom in self.roms:
            self._first[rom] = True
        self._next_start = None  # None: due at the first poll
        self._next_scan = None
        self._reading_at = None  # a conversion is under way until this tick

    def on_bus(self, rom):
        return rom in self.roms

    def poll(self, now):
        """Advance the schedule; return the list of (rom, value, error) reported just now."""
        results = []
        if self._reading_at is not None:
            if ticks_diff(now, self._reading_at) >= 0:
                self._reading_at = None
                results = self._read_all(now)
        elif self._next_start is None or ticks_diff(now, self._next_start) >= 0:
            if self._next_scan is None:
                self._next_scan = ticks_add(now, RESCAN_MS)
            elif ticks_diff(now, self._next_scan) >= 0:
                self._rescan(now)  # here, between two conversions, never during one
                self._next_scan = ticks_add(now, RESCAN_MS)
            self._next_start = ticks_add(now, self.period_ms)
            if self.roms:
                self.hal.start_conversion()
                self._reading_at = ticks_add(now, CONVERSION_MS)
            else:
                results = self._read_all(now)  # nothing to convert: report the missing
        self._age(now)
        return results

    def _rescan(self, now):
        found = list(self.hal.roms())
        for rom in found:
            if rom not in self.roms:
                self._first[rom] = True  # (re)powered: its first 85.0 °C is the reset value
        for rom in self.roms:
            if rom not in found:
                self._first.pop(rom, None)
                if rom in self.bound:
                    self.latest[rom] = [None, "missing", now, False]
                else:
                    self.latest.pop(rom, None)
        self.roms = found

    def _read_all(self, now):
        results = []
        for rom in self.roms:
            value, error = judge(self.hal.read_scratchpad(rom), self._first.get(rom, True))
            if error != "power_on_85":
                self._first[rom] = False
            self.latest[rom] = [value, error, now, False]
            results.append((rom, value, error))
        for rom in self.bound:
            if rom not in self.roms:
                self.latest[rom] = [None, "missing", now, False]
                results.append((rom, None, "missing"))
        return results

    def _age(self, now):
        # Marked once, not compared forever: an old tick difference would wrap back to "new".
        limit = STALE_PERIODS * self.period_ms
        for entry in self.latest.values():
            if not entry[3] and ticks_diff(now, entry[2]) > limit:
                entry[3] = True
