"""H4's far tap (a dry clip on PPR that never reads the water, and a probe on the cold side)
under keep-warm all day with the real daemon: a re-heat asked during the first morning's
shower, or just after it, used to push the 41-43 °C water the shower left in the pipe into
the cold line, and the overrun latched the loop for good. Now no automatic start comes
within BLIND_COOL_S of a cycle or of a draw the heater outlet showed, and nothing latches."""

from __future__ import annotations

import itertools
from typing import Any

from hil.bench.week import DaemonWeek, WeekStrategy, run_week
from zcw.app.daemon import Status
from zcw.domain.cycle.blind_hold import BLIND_COOL_S


def test_keep_warm_on_a_blind_loop_waits_for_its_pipe_to_cool_and_never_latches() -> None:
    seen: list[Any] = []
    rejected: list[Any] = []
    week: list[DaemonWeek] = []

    def watch(strat: WeekStrategy) -> None:
        assert isinstance(strat, DaemonWeek)
        week.append(strat)

        def on_status(status: Status) -> None:
            seen.extend(status.snapshot.faults)
            rejected.extend(e for e in status.events if e.reason == "warm_pipe")

        strat.daemon.observe(on_status)

    out = run_week("H4", "keep_warm_all_day", 0, days=2, watch=watch)
    (strat,) = week
    assert not [f for f in seen if f.latching], {f.code for f in seen}
    cycles = strat.pump_cycles
    assert len(cycles) >= 40  # about two an hour, 06:00-23:00, two days
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(cycles)]
    # Same day: never sooner than the pipe takes to cool.
    assert min(g for g in gaps if g < 6 * 3600) >= BLIND_COOL_S - 1.0
    assert rejected  # keep-warm asked sooner, and was told why
    assert out["summary"]["energy_kj_per_day"] > 0
