"""A day of demand: when someone asks for hot water, at which tap, and when they draw it.

Triggers fall at realistic times (morning, noon, evening) with idle gaps of at least 20 min,
so the pipe cools in between; after each trigger the user opens the tap and draws for a while,
which warms the pipe and changes the next event's starting state. Everything is drawn from
one seed, so every strategy meets exactly the same day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DAY_START_S = 5 * 3600.0  # the simulation starts at 05:00 with the pipes at ambient
MIN_GAP_S = 20 * 60.0


@dataclass(frozen=True, slots=True)
class DemandEvent:
    """A trigger at ``at_s`` (seconds since midnight) for ``loop``, then a user draw."""

    at_s: float
    loop: str
    draw_after_s: float
    draw_s: float
    draw_lpm: float
    # Set where the user opens the tap this long after the cycle stopped (at hot_ready, or
    # soon after) instead of draw_after_s after the trigger.
    draw_after_stop_s: float | None = None


WINDOWS = ((6.5, 8.0, 2), (12.0, 13.5, 1), (18.5, 22.5, 3))  # hours, events per window


def day_scenario(
    loops: tuple[str, ...], seed: int, *, draw_after_stop_s: tuple[float, float] | None = None
) -> list[DemandEvent]:
    """The day of ``seed``. With ``draw_after_stop_s`` (a range) the user opens the tap that
    long after each cycle stops; the rest of the day is the same as without it."""
    rng = random.Random(f"day-{seed}")
    at_ready = random.Random(f"draw-at-ready-{seed}")
    times: list[float] = []
    for start_h, end_h, count in WINDOWS:
        for _ in range(count):
            for _attempt in range(50):
                t = rng.uniform(start_h, end_h) * 3600.0
                if all(abs(t - other) >= MIN_GAP_S for other in times):
                    times.append(t)
                    break
    events = []
    for t in sorted(times):
        # The first loop (the far shower in H4) is asked for more often than the others.
        loop = loops[0] if len(loops) == 1 or rng.random() < 0.6 else rng.choice(loops[1:])
        shower = rng.random() < 0.5
        events.append(
            DemandEvent(
                at_s=round(t, 1),
                loop=loop,
                draw_after_s=rng.uniform(60.0, 240.0),
                draw_s=rng.uniform(240.0, 480.0) if shower else rng.uniform(20.0, 60.0),
                draw_lpm=rng.uniform(6.0, 9.0) if shower else rng.uniform(4.0, 6.0),
                draw_after_stop_s=(
                    None if draw_after_stop_s is None else at_ready.uniform(*draw_after_stop_s)
                ),
            )
        )
    return events
