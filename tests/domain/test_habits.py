"""The habit model: a week is enough, workdays and rest days apart, holidays are rest days,
old habits fade and are forgotten, and the matrix survives a JSON round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import pytest

from zcw.domain.habits import HabitModel, day_row, weekday

MONDAY = date(2026, 3, 2).toordinal()


def week(
    model: HabitModel,
    first: int,
    minutes: Mapping[int, Sequence[float]],
    holidays: Sequence[int] = (),
) -> None:
    """Watch 7 days from ``first``; ``minutes[i]`` are the draws of day i (bathroom)."""
    for i in range(7):
        day = first + i
        model.watch_day(day, holidays)
        for minute in minutes.get(i, []):
            model.add_draw("bathroom", day, minute, holidays)


def test_day_ordinals_and_rows() -> None:
    assert weekday(MONDAY) == 0 and weekday(MONDAY + 6) == 6
    assert date.fromordinal(MONDAY).weekday() == 0
    assert day_row(MONDAY + 2, [MONDAY + 2]) == 7  # a holiday has its own row


def test_one_week_plans_the_workday_shower_and_not_a_one_off() -> None:
    model = HabitModel(["bathroom"])
    shower = {i: [6 * 60 + 40 + d] for i, d in enumerate((-9, 3, 11, -2, 6))}
    shower[2].append(15 * 60)  # once, on Wednesday: chance
    week(model, MONDAY, shower)
    plan = model.plan(MONDAY + 7)
    # The draws span 06:31-06:51; the window adds the prior spread over √5 draws each side.
    assert [(w.loop, w.text) for w in plan] == [("bathroom", "06:21-07:04")]
    (window,) = plan
    assert window.share == pytest.approx(1.0) and window.last_used == MONDAY + 4
    assert model.plan(MONDAY + 12) == []  # Saturday: nothing was seen on rest days


def test_rest_days_are_learned_apart_and_a_holiday_is_one() -> None:
    model = HabitModel(["bathroom"])
    weekend = {5: [8 * 60 + 20], 6: [8 * 60 + 41]}
    week(model, MONDAY, {i: [6 * 60 + 40] for i in range(5)} | weekend)
    holiday = MONDAY + 9  # the next Wednesday
    (rest,) = model.plan(holiday, [holiday])
    assert rest.start_min <= 8 * 60 + 20 and rest.end_min >= 8 * 60 + 45
    (work,) = model.plan(holiday)
    assert work.start_min < 6 * 60 + 40 < work.end_min


def test_a_habit_that_stopped_fades_and_is_forgotten_after_the_set_weeks() -> None:
    fading = HabitModel(["bathroom"])
    week(fading, MONDAY, {i: [7 * 60] for i in range(5)})
    week(fading, MONDAY + 7, {})
    assert fading.plan(MONDAY + 14) != []
    week(fading, MONDAY + 14, {})
    assert fading.plan(MONDAY + 21) == []  # under min_share after two weeks unused
    model = HabitModel(["bathroom"], forget_weeks=3, min_share=0.1)
    week(model, MONDAY, {i: [7 * 60] for i in range(5)})
    for k in range(1, 3):
        week(model, MONDAY + 7 * k, {})
    assert model.plan(MONDAY + 21) != []  # 2.5 weeks after the last draw: still planned
    week(model, MONDAY + 21, {})
    assert model.plan(MONDAY + 28) == []  # unused for 3 weeks: never planned again


def test_a_moved_habit_replaces_the_old_one() -> None:
    model = HabitModel(["bathroom"])
    week(model, MONDAY, {i: [6 * 60 + 30] for i in range(5)})
    for k in range(1, 5):
        week(model, MONDAY + 7 * k, {i: [7 * 60 + 30] for i in range(5)})
    texts = [w.text for w in model.plan(MONDAY + 35)]
    assert len(texts) == 1 and texts[0].startswith("07:")


def test_the_matrix_survives_json_and_rejects_another_shape() -> None:
    model = HabitModel(["bathroom", "kitchen"])
    week(model, MONDAY, {i: [6 * 60 + 40 + i] for i in range(7)})
    model.add_draw("kitchen", MONDAY + 3, 19 * 60)
    data = model.to_json()
    again = HabitModel(["bathroom", "kitchen"])
    assert again.restore(data)
    assert again.to_json() == data
    assert again.plan(MONDAY + 7) == model.plan(MONDAY + 7)
    assert not HabitModel(["bathroom"]).restore({"slot_min": 15, "exposure": [0] * 8})
    assert not HabitModel(["bathroom"]).restore({"slot_min": 5, "exposure": "x"})
    assert not HabitModel(["bathroom"]).restore(None)


def test_each_day_is_watched_once() -> None:
    model = HabitModel(["bathroom"])
    assert model.watch_day(MONDAY)
    assert not model.watch_day(MONDAY)
    assert not model.watch_day(MONDAY - 1)  # the clock went back: no day counted twice
    assert model.exposure[0] == 1.0
    day = date.fromordinal(MONDAY) + timedelta(days=7)
    assert model.watch_day(day.toordinal()) and model.exposure[0] == pytest.approx(1.85)


def test_the_day_being_planned_does_not_count_before_it_is_lived() -> None:
    # The daemon counts a day in at its first minute, then plans it. A rest-day habit seen on
    # one of the week's two rest days is planned on the holiday that follows, counted in or not.
    model = HabitModel(["bathroom"])
    week(model, MONDAY, {i: [6 * 60 + 40] for i in range(5)} | {6: [19 * 60 + 30]})
    holiday = MONDAY + 9
    before = model.plan(holiday, [holiday])
    assert [w.text for w in before] == ["19:10-19:55"]
    model.watch_day(MONDAY + 7)
    model.watch_day(MONDAY + 8)
    model.watch_day(holiday, [holiday])
    assert model.plan(holiday, [holiday]) == before
