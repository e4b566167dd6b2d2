"""Sensor validation (invariant I4): decide whether a DS18B20 reading can be trusted.

A reading is invalid when it is the 85.0 °C power-on value on the first read, −127 °C or a
CRC failure (flagged by the bridge), outside −10…100 °C, a jump no water can make, or older
than 3 sensor periods. The bridge already rejects most of these; doing it again here is
defence in depth, because a valve opened on a bad reading can push hot water into the cold
line.
"""

from __future__ import annotations

from dataclasses import dataclass

from zcw.domain.model import SensorSample

MIN_VALID_C = -10.0
MAX_VALID_C = 100.0
POWER_ON_C = 85.0
DISCONNECTED_C = -127.0
STALE_PERIODS = 3.0
# Water at a valve cannot change faster than this. An immersion NTC at the heater outlet
# sees ≈ 10 K/s at most; a clamp-on DS18B20 much less. Anything faster is an electrical fault.
MAX_RATE_C_PER_S = 20.0
JUMP_SLACK_C = 2.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one sensor at one instant."""

    value_c: float | None
    error: str | None

    @property
    def valid(self) -> bool:
        return self.error is None


class SensorValidator:
    """Stateful validator for one sensor; call :meth:`check` every tick with the latest sample."""

    def __init__(self, *, period_s: float) -> None:
        self._period_s = period_s
        self.reset()

    def reset(self) -> None:
        """Forget history, e.g. after the bridge rebooted (so 85.0 is again a power-on value)."""
        self._last_valid: SensorSample | None = None
        self._last_seen_at_s: float | None = None
        self._last_verdict = Verdict(None, "missing")
        # A jumped value is accepted once a second reading confirms it (real step changes do
        # happen when a sensor is re-seated; a single glitch does not repeat).
        self._pending_jump: SensorSample | None = None

    def check(self, sample: SensorSample | None, now_s: float) -> Verdict:
        if sample is None:
            return Verdict(None, "missing")
        if now_s - sample.at_s > STALE_PERIODS * self._period_s:
            self._last_verdict = Verdict(None, "stale")
            return self._last_verdict
        if sample.at_s == self._last_seen_at_s:
            return self._last_verdict
        self._last_seen_at_s = sample.at_s
        self._last_verdict = self._judge(sample)
        return self._last_verdict

    def _judge(self, sample: SensorSample) -> Verdict:
        if sample.error is not None:
            return Verdict(None, sample.error)
        value = sample.value_c
        if value is None:
            return Verdict(None, "disconnected")
        if value == DISCONNECTED_C:
            return Verdict(None, "disconnected")
        if value == POWER_ON_C and self._last_valid is None:
            return Verdict(None, "power_on_85")
        if not MIN_VALID_C <= value <= MAX_VALID_C:
            return Verdict(None, "out_of_range")
        last = self._last_valid
        if last is not None and last.value_c is not None and self._is_jump(last, sample):
            pending = self._pending_jump
            if pending is None or pending.value_c is None or self._is_jump(pending, sample):
                self._pending_jump = sample
                return Verdict(None, "jump")
        self._pending_jump = None
        self._last_valid = sample
        return Verdict(value, None)

    def _is_jump(self, before: SensorSample, after: SensorSample) -> bool:
        assert before.value_c is not None and after.value_c is not None
        dt_s = max(after.at_s - before.at_s, self._period_s)
        return abs(after.value_c - before.value_c) > MAX_RATE_C_PER_S * dt_s + JUMP_SLACK_C
