"""Every sensor the controller reads, validated once per step (I4), and the faults they raise."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from zcw.domain import faults as F
from zcw.domain.cycle.events import FaultBook
from zcw.domain.model import HEATER_OUT, Params, SensorSample, cold_key, loop_key
from zcw.domain.sensors import SensorValidator, Verdict


def sensor_keys(params: Params) -> list[str]:
    """The reading keys of every configured sensor: loops, their cold lines, the outlet."""
    keys = [loop_key(lp.name) for lp in params.loops]
    keys += [cold_key(lp.name) for lp in params.loops if lp.has_cold_sensor]
    if params.has_heater_out:
        keys.append(HEATER_OUT)
    return keys


def loop_of(key: str) -> str | None:
    """The loop a reading key belongs to (None for the heater outlet)."""
    return key.split(":", 1)[1] if ":" in key else None


# A reading's trend is its least-squares slope over this long, from at least this many.
TREND_S = 30.0
TREND_MIN_SAMPLES = 10


class SensorBoard:
    """The latest verdict on each sensor, the raw samples behind them, and each reading's
    trend over the last half minute."""

    def __init__(self, params: Params) -> None:
        self._validators = {
            key: SensorValidator(period_s=params.sensor_period_s) for key in sensor_keys(params)
        }
        self._verdicts: dict[str, Verdict] = {}
        self._recent: dict[str, deque[tuple[float, float]]] = {}
        self.raw: Mapping[str, SensorSample] = {}

    def validate(
        self, readings: Mapping[str, SensorSample], now_s: float
    ) -> list[tuple[str, Verdict, SensorSample | None]]:
        """Judge this step's readings: (key, verdict, sample) for every sensor, in order."""
        self.raw = readings
        judged = []
        for key, validator in self._validators.items():
            sample = readings.get(key)
            verdict = validator.check(sample, now_s)
            self._verdicts[key] = verdict
            self._remember(key, verdict, sample, now_s)
            judged.append((key, verdict, sample))
        return judged

    def _remember(
        self, key: str, verdict: Verdict, sample: SensorSample | None, now_s: float
    ) -> None:
        recent = self._recent.setdefault(key, deque())
        if verdict.value_c is None or sample is None:
            recent.clear()  # a gap: the trend starts again
            return
        if not recent or sample.at_s > recent[-1][0]:
            recent.append((sample.at_s, verdict.value_c))
        while recent and recent[0][0] < now_s - TREND_S:
            recent.popleft()

    def trend_c_per_s(self, key: str) -> float | None:
        """The reading's slope over the last TREND_S, or None with too few readings."""
        recent = self._recent.get(key)
        if recent is None or len(recent) < TREND_MIN_SAMPLES:
            return None
        return _slope(recent)

    def slope_c_per_s(self, key: str, span_s: float) -> float | None:
        """The reading's slope over its readings of the last ``span_s`` (at least two)."""
        recent = self._recent.get(key)
        if not recent:
            return None
        latest = recent[-1][0]
        points = [(t, v) for t, v in recent if t >= latest - span_s - 1e-9]
        return _slope(points) if len(points) >= 2 else None

    def reset(self) -> None:
        """The bridge restarted: its sensors are fresh, so 85.0 °C is a power-on value again."""
        for validator in self._validators.values():
            validator.reset()
        self._recent.clear()

    def valid(self, key: str) -> bool:
        verdict = self._verdicts.get(key)
        return verdict is not None and verdict.valid

    def value(self, key: str) -> float | None:
        verdict = self._verdicts.get(key)
        return verdict.value_c if verdict is not None else None

    def guard_c(self, key: str) -> float | None:
        """A reading for a guard, erring on the side of safety: a fast rise on the cold side
        is exactly what an overrun looks like, so a value held back only as a "jump" counts."""
        verdict = self._verdicts.get(key)
        if verdict is None:
            return None
        if verdict.error == "jump":
            sample = self.raw.get(key)
            return sample.value_c if sample is not None else None
        return verdict.value_c


def sensor_fault(faults: FaultBook, key: str, verdict: Verdict, *, blocks: bool) -> None:
    """Raise or clear the fault of one sensor role: the loop sensor, a loop's cold-line
    sensor, or the heater outlet. Each keeps its own code, so one never hides another.
    ``blocks``: a bad cold-line sensor keeps its loop from running (see ColdLineGuard)."""
    role = {"loop": "loop", "cold": "cold-line"}.get(key.split(":")[0], "heater outlet")
    loop = loop_of(key)
    invalid, stale = F.sensor_codes(role)
    if verdict.error is None:
        faults.clear(invalid, loop)
        faults.clear(stale, loop)
        return
    fault = F.sensor_invalid(loop, role, verdict.error, blocks=role != "cold-line" or blocks)
    faults.clear(stale if fault.code == invalid else invalid, loop)
    faults.raise_(fault)


def _slope(points: Iterable[tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) points (K/s); 0 when they share one time."""
    pts = list(points)
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    stt = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (v - mv) for t, v in pts) / stt if stt > 0 else 0.0
