"""H3 (an electric tank at 52 °C, copper, a clamp, no heater outlet sensor) with the real
daemon and its learning glue: a stop on a step front leaves the clamp reading 40-43 °C, over
ready_c + 4 K. After a shower has shown the tank's water there, no cycle's tail is taken for
a draw (each one taught a habit: a window, more cycles); a shower in a tail still counts."""

from __future__ import annotations

from hil.bench.week import DaemonWeek, WeekEvent, _open_tap, week_house
from hil.plant import Plant
from zcw.domain.model import Request, Source

HOUR_S = 3600.0


def test_a_tanks_stop_tails_are_not_draws_and_a_shower_in_one_is() -> None:
    plant = Plant(week_house("H3", 0))
    week = DaemonWeek(plant, "learned")
    assert week.learning is not None
    week.advance(HOUR_S)
    shower = WeekEvent(plant.t_s, "bathroom", "habitual", 8.0, 300.0)
    _open_tap(week, shower)
    peaks = []
    for _ in range(6):  # a cycle from a cooled pipe every two hours, nobody drawing
        week.advance(2 * HOUR_S)
        peaks.append(_cycle(week))
    # The case: tails that read over ready_c + 4 K (the first stops, before the lessons).
    assert sum(p > 36.0 + 4.0 for p in peaks) >= 2, peaks
    # A shower opened 5 s after a stop, while the sensor still catches up.
    _cycle(week, draw_after_s=5.0)
    week.advance(HOUR_S)
    draws = [d for d in week.store.draws(limit=100) if d["kind"] == "draw"]
    assert len(draws) == 2, draws


def _cycle(week: DaemonWeek, draw_after_s: float | None = None) -> float:
    """Start a cycle; the highest the loop sensor reads until 5 min after the start (or open
    the tap ``draw_after_s`` after the stop)."""
    plant, cycles = week.plant, len(week.pump_cycles)
    week.daemon.submit(Request("start", Source.CLI, "bathroom"))
    peak = plant.sensor_c("bathroom")
    for _ in range(300):
        week.advance(1.0)
        peak = max(peak, plant.sensor_c("bathroom"))
        stop_s = week.pump_cycles[-1][1] if len(week.pump_cycles) > cycles else None
        if draw_after_s is not None and stop_s is not None and plant.t_s >= stop_s + draw_after_s:
            _open_tap(week, WeekEvent(plant.t_s, "bathroom", "habitual", 8.0, 300.0))
            return peak
    assert len(week.pump_cycles) == cycles + 1
    return peak
