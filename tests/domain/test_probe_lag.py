"""The cold-line probe's lag: what one stop's catch-up shows, and the projection."""

from __future__ import annotations

import pytest

from zcw.domain.cycle.probe_lag import MAX_LAG_S, ProbeWatch, ahead_c
from zcw.domain.learning import Learned


def watch(slope: float, peak: float, stop_c: float = 36.0) -> ProbeWatch:
    w = ProbeWatch("bathroom", stop_s=100.0, stop_c=stop_c, slope_c_per_s=slope, peak_c=stop_c)
    w.add(peak)
    return w


def test_a_catch_up_over_the_slope_is_the_lag() -> None:
    assert watch(0.5, 38.0).lag_s() == pytest.approx(4.0)
    assert watch(0.05, 38.0).lag_s() is None  # too flat to divide by
    assert watch(0.5, 36.0 + 0.5 * (MAX_LAG_S + 1)).lag_s() is None  # not the probe's
    w = watch(0.5, 38.0)
    assert not w.done(119.0) and w.done(120.0)


def test_only_a_rising_probe_is_projected() -> None:
    assert ahead_c(33.0, 0.75, 4.0) == pytest.approx(36.0)
    assert ahead_c(33.0, -0.5, 4.0) == pytest.approx(33.0)
    assert ahead_c(33.0, None, 4.0) == pytest.approx(33.0)


def test_the_lag_is_a_mean_of_the_catch_ups_and_survives_the_store() -> None:
    learned = Learned().with_cold_lag(4.0).with_cold_lag(6.0)
    assert learned.cold_lag_s == pytest.approx(4.6)
    again = Learned.from_json(learned.to_json())
    assert again.cold_lag_s == pytest.approx(4.6)
    assert Learned.from_json({"cold_lag_s": "x"}).cold_lag_s is None
