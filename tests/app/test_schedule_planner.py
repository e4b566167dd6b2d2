"""The scheduler against an injected clock: DST both ways in two zones, an NTP jump of three
days, a restart between jobs, lead time, keep-warm windows and away dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from zcw.adapters.schedule import LoopNow, SchedulePlanner
from zcw.domain.calendar import (
    AwayRange,
    KeepWarm,
    PreHeat,
    days_text,
    parse_days,
    parse_hhmm,
)
from zcw.domain.model import Source

UTC = ZoneInfo("UTC")


class Clock:
    """Wall and monotonic time that the test moves; the wall clock can jump alone."""

    def __init__(self, start: datetime) -> None:
        self.wall = start.astimezone(UTC)
        self.mono = 1000.0

    def step(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def jump(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)


def run(
    planner: SchedulePlanner,
    clock: Clock,
    seconds: float,
    *,
    every_s: float = 30.0,
    lead_s: float = 0.0,
    loops: dict[str, LoopNow] | None = None,
) -> list[tuple[datetime, str, str]]:
    """Check every ``every_s`` for ``seconds``; return (local wall, action, loop/mode)."""
    out: list[tuple[datetime, str, str]] = []
    end = clock.mono + seconds
    while clock.mono < end:
        due = planner.check(clock.wall, clock.mono, loops or {}, lead_s=lambda _l: lead_s)
        for r in due.requests:
            assert r.source is Source.SCHEDULE
            out.append((clock.wall.astimezone(planner.tz), r.action, r.loop or r.mode or ""))
        clock.step(every_s)
    return out


def planner_with(tz: str, at: str, days: str = "daily", **kw: object) -> SchedulePlanner:
    p = SchedulePlanner(ZoneInfo(tz), **kw)  # type: ignore[arg-type]
    p.configure([PreHeat.parse("bathroom", at, days)])
    return p


@pytest.mark.parametrize(
    ("tz", "spring", "fall"),
    [
        ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ],
)
def test_a_time_in_the_dst_hours_fires_once_each_day_both_ways(
    tz: str, spring: date, fall: date
) -> None:
    zone = ZoneInfo(tz)
    for day in (spring, fall):
        planner = planner_with(tz, "02:30")  # skipped in spring, repeated in autumn
        clock = Clock(datetime.combine(day - timedelta(days=1), time(12, 0), zone))
        fires = run(planner, clock, 3 * 86400)
        dates = [f[0].date() for f in fires]
        assert dates == [day, day + timedelta(days=1), day + timedelta(days=2)], fires
        # Compared as instants: 02:30 does not exist in spring (it fires at 03:30, the first
        # instant past it) and comes twice in autumn (it fires at the first).
        late_s = fires[0][0].timestamp() - datetime.combine(day, time(2, 30), zone).timestamp()
        assert 0 <= late_s <= 30


def test_an_ordinary_morning_fires_on_the_minute_in_shanghai() -> None:
    planner = planner_with("Asia/Shanghai", "06:50", "mon-fri")
    clock = Clock(datetime(2026, 12, 4, 22, 0, tzinfo=ZoneInfo("Asia/Shanghai")))  # a Friday
    fires = run(planner, clock, 4 * 86400, every_s=10)
    assert [(f[0].strftime("%a %H:%M"), f[1], f[2]) for f in fires] == [
        ("Mon 06:50", "start", "bathroom"),
        ("Tue 06:50", "start", "bathroom"),
    ]


def test_a_pre_heat_starts_early_by_the_loops_time_to_hot() -> None:
    planner = planner_with("Europe/Berlin", "06:50")
    clock = Clock(datetime(2026, 12, 2, 6, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    fires = run(planner, clock, 3600, every_s=1, lead_s=95)
    assert [f[0].strftime("%H:%M:%S") for f in fires] == ["06:48:25"]


def test_an_ntp_jump_of_three_days_fires_no_burst_of_stale_jobs() -> None:
    planner = planner_with("Europe/Berlin", "06:50")
    clock = Clock(datetime(2026, 12, 2, 6, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    assert run(planner, clock, 600) == []
    clock.jump(3 * 86400 + 2 * 3600)  # 06:10 on the 2nd → 08:10 on the 5th
    notes: list[str] = []
    due = planner.check(clock.wall, clock.mono, {}, lead_s=lambda _l: 0.0)
    notes += due.notes
    assert due.requests == []
    assert any("jumped" in n for n in notes) and any("missed" in n for n in notes)
    fires = run(planner, clock, 86400)
    assert [f[0].strftime("%d %H:%M") for f in fires] == ["06 06:50"]


def test_a_jump_backwards_neither_fires_a_day_twice_nor_loses_the_next() -> None:
    planner = planner_with("Europe/Berlin", "06:50")
    clock = Clock(datetime(2026, 12, 2, 6, 40, tzinfo=ZoneInfo("Europe/Berlin")))
    assert len(run(planner, clock, 1200)) == 1  # 06:50 on the 2nd
    clock.jump(-1800)  # back to 06:30 on the 2nd
    fires = run(planner, clock, 86400 + 1800)
    assert [f[0].strftime("%d %H:%M") for f in fires] == ["03 06:50"]
    clock.jump(-5 * 86400)  # a wildly wrong clock: the next days still fire
    fires = run(planner, clock, 2 * 86400)
    assert len(fires) == 2


def test_a_restart_between_jobs_fires_each_exactly_once() -> None:
    zone = ZoneInfo("Europe/Berlin")
    first = SchedulePlanner(zone)
    entries = [
        PreHeat.parse("bathroom", "06:50", "daily"),
        PreHeat.parse("kitchen", "07:10", "daily"),
    ]
    first.configure(entries)
    clock = Clock(datetime(2026, 12, 2, 6, 40, tzinfo=zone))
    fired = run(first, clock, 20 * 60)  # up to 07:00: bathroom fired
    assert [f[2] for f in fired] == ["bathroom"]
    # The daemon restarts at 07:00 with what the store kept, and is down until 07:12.
    clock.step(12 * 60)
    second = SchedulePlanner(zone, fired=first.fired)
    second.configure(entries)
    fired = run(second, clock, 86400)
    # kitchen's 07:10 was missed by 2 min (within the grace): it fires once, late; bathroom's
    # 06:50 is not fired again.
    assert [(f[0].strftime("%d %H:%M"), f[2]) for f in fired] == [
        ("02 07:12", "kitchen"),
        ("03 06:50", "bathroom"),
        ("03 07:10", "kitchen"),
    ]


def test_a_job_missed_by_more_than_the_grace_is_skipped_after_a_restart() -> None:
    zone = ZoneInfo("Europe/Berlin")
    planner = planner_with("Europe/Berlin", "06:50")
    clock = Clock(datetime(2026, 12, 2, 7, 30, tzinfo=zone))
    fires = run(planner, clock, 3600)
    assert fires == []


def test_keep_warm_reheats_inside_its_window_no_more_often_than_allowed() -> None:
    zone = ZoneInfo("Europe/Berlin")
    planner = SchedulePlanner(zone, keep_warm_drop_c=3.0, keep_warm_min_interval_s=600)
    planner.configure(
        keep_warm=[
            KeepWarm("bathroom", parse_hhmm("06:00"), parse_hhmm("08:00"), parse_days("daily"))
        ]
    )
    cold = {"bathroom": LoopNow(temp_c=30.0, ready_c=36.0, heating=False)}
    warm = {"bathroom": LoopNow(temp_c=34.0, ready_c=36.0, heating=False)}
    clock = Clock(datetime(2026, 12, 2, 5, 50, tzinfo=zone))
    assert run(planner, clock, 600, loops=cold) == []  # before the window
    fires = run(planner, clock, 1800, loops=cold)  # 06:00-06:30, always cold: every 10 min
    assert [f[0].strftime("%H:%M") for f in fires] == ["06:00", "06:10", "06:20"]
    assert run(planner, clock, 1800, loops=warm) == []  # within the drop: nothing
    clock.step(3600)
    assert run(planner, clock, 1800, loops=cold) == []  # 08:00 on: the window is over


def test_a_keep_warm_window_may_run_past_midnight() -> None:
    window = KeepWarm("bathroom", parse_hhmm("22:00"), parse_hhmm("01:00"), parse_days("fri"))
    zone = ZoneInfo("UTC")
    assert window.active(datetime(2026, 12, 4, 23, 0, tzinfo=zone))  # Friday night
    assert window.active(datetime(2026, 12, 5, 0, 30, tzinfo=zone))  # into Saturday
    assert not window.active(datetime(2026, 12, 5, 23, 0, tzinfo=zone))  # Saturday night


def test_away_dates_switch_the_mode_at_their_boundaries_only() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    planner = SchedulePlanner(zone)
    planner.configure(away=[AwayRange.parse("2026-12-20", "2027-01-03")])
    clock = Clock(datetime(2026, 12, 19, 12, 0, tzinfo=zone))
    changes = run(planner, clock, 17 * 86400, every_s=600)
    assert [(f[0].strftime("%Y-%m-%d %H:%M"), f[2]) for f in changes] == [
        ("2026-12-20 00:00", "away"),
        ("2027-01-04 00:00", "auto"),
    ]


def test_starting_inside_away_dates_goes_away_and_outside_touches_nothing() -> None:
    zone = ZoneInfo("UTC")
    inside = SchedulePlanner(zone)
    inside.configure(away=[AwayRange.parse("2026-12-01", "2026-12-10")])
    assert run(inside, Clock(datetime(2026, 12, 5, tzinfo=zone)), 60)[0][2] == "away"
    outside = SchedulePlanner(zone)
    outside.configure(away=[AwayRange.parse("2026-12-20", "2026-12-30")])
    assert run(outside, Clock(datetime(2026, 12, 5, tzinfo=zone)), 60) == []


@pytest.mark.parametrize(
    ("text", "days", "canonical"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}, "mon-fri"),
        ("sat,sun", {5, 6}, "sat,sun"),
        ("daily", set(range(7)), "daily"),
        ("Monday, wed-fri", {0, 2, 3, 4}, "mon,wed-fri"),
        ("fri-mon", {4, 5, 6, 0}, "mon,fri-sun"),
    ],
)
def test_days_are_weekday_names(text: str, days: set[int], canonical: str) -> None:
    assert parse_days(text) == days
    assert days_text(parse_days(text)) == canonical


@pytest.mark.parametrize("bad", ["1-5", "0", "weekdays", "mon-xyz", ""])
def test_days_as_numbers_or_nonsense_say_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="mon-fri"):
        parse_days(bad)


def test_an_entry_id_does_not_depend_on_how_it_was_typed() -> None:
    a = PreHeat.parse("bathroom", "6:50", "Mon-Fri")
    b = PreHeat.parse("bathroom", "06:50", "mon,tue,wed,thu,fri")
    assert a.id == b.id == "bathroom@06:50/mon-fri"
