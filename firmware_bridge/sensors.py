"""DS18B20 scratchpad validation and the non-blocking conversion schedule.

A conversion is started for every sensor at once (1-Wire "skip ROM" + Convert T), and the
scratchpads are read 750 ms later, so the main loop never blocks for a conversion.
"""

CONVERSION_MS = 750
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
    """A DS18B20 ROM id: 16 hex digits, family 0x28, CRC-8 over the first 7 bytes."""
    if len(rom_hex) != 16:
        return False
    try:
        raw = bytes(int(rom_hex[i : i + 2], 16) for i in range(0, 16, 2))
    except ValueError:
        return False
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
    """Schedules conversions and keeps the latest verdict per ROM."""

    def __init__(self, hal, period_ms):
        self.hal = hal
        self.period_ms = period_ms
        self.roms = list(hal.roms())
        self.latest = {}  # rom -> (value_c16 or None, error or None)
        self._first = {rom: True for rom in self.roms}
        self._next_start = 0
        self._reading_at = None

    def poll(self, now_ms):
        """Advance the schedule; return the list of (rom, value, error) read just now."""
        results = []
        if self._reading_at is not None and now_ms >= self._reading_at:
            self._reading_at = None
            for rom in self.roms:
                value, error = judge(self.hal.read_scratchpad(rom), self._first.get(rom, True))
                if error != "power_on_85":
                    self._first[rom] = False
                self.latest[rom] = (value, error)
                results.append((rom, value, error))
        if self._reading_at is None and now_ms >= self._next_start and self.roms:
            self.hal.start_conversion()
            self._reading_at = now_ms + CONVERSION_MS
            self._next_start = now_ms + self.period_ms
        return results
