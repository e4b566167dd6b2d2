"""The soak's oracle catches each kind of violation on a relay record made up by hand, and
lets a correct one pass: a check that can only say "fine" would prove nothing."""

from __future__ import annotations

from hil.emulator import rom_for
from hil.soak.oracle import OracleParams, RelayOracle

PUMP, FAR, NEAR = 0, 1, 2


def oracle() -> RelayOracle:
    return RelayOracle(
        OracleParams(
            pump=PUMP,
            valves={"far": FAR, "near": NEAR},
            loop_sensor={"far": "far", "near": "near"},
            cold_sensor={"far": "far.cold"},
            valve_lead_s=0.5,
            valve_lag_s=0.5,
            max_run_s=300.0,
            host_timeout_s=2.0,
            bound_limit_c={"far": 36.0, "near": 36.0},
            cold_line_max_c=38.0,
        )
    )


def heard(until: float, every: float = 0.5) -> list[float]:
    """Host frames every ``every`` seconds up to ``until``."""
    return [i * every for i in range(int(until / every) + 1)]


def t_frame(
    t: float, sensor: str, value_c: float | None, status: str = "ok"
) -> tuple[float, str, list[str]]:
    raw = "-" if value_c is None else str(round(value_c * 16))
    return (t, "T", [rom_for(sensor), raw, status])


def test_a_good_cycle_passes() -> None:
    o = oracle()
    history = [(10.0, FAR, True), (10.5, PUMP, True), (60.0, PUMP, False), (60.5, FAR, False)]
    frames = [t_frame(float(t), "far", 20.0 + t / 10) for t in range(0, 62)]
    o.feed(history, frames, heard(62), 62.0)
    assert o.violation_count == 0, o.violations


def test_each_rule_is_caught() -> None:
    cases = {
        "I2": ([(1.0, PUMP, True)], []),
        "I1": ([(1.0, FAR, True), (3.0, FAR, False)], []),
        "I3": ([(1.0, FAR, True), (1.5, PUMP, True), (400.0, PUMP, False)], []),
        "I4": ([(1.0, FAR, True), (1.5, PUMP, True)], [t_frame(2.0, "far", None, "crc")]),
        "I5": ([(1.0, FAR, True), (1.5, PUMP, True)], [t_frame(2.0, "far.cold", 39.0)]),
    }
    for rule, (history, frames) in cases.items():
        o = oracle()
        o.feed(history, frames, heard(450), 450.0)
        assert o.counts[f"violation_{rule}"] >= 1, (rule, o.violations)


def test_a_silent_host_must_leave_everything_off() -> None:
    o = oracle()
    history = [(1.0, FAR, True), (1.5, PUMP, True), (14.0, PUMP, False), (14.0, FAR, False)]
    o.feed(history, [], heard(10.0), 15.0)  # the host fell silent at 10 s; off at 14 s
    assert o.counts["violation_dead_man"] >= 1
    o = oracle()
    history = [(1.0, FAR, True), (1.5, PUMP, True), (12.1, PUMP, False), (12.1, FAR, False)]
    o.feed(history, [], heard(10.0), 15.0)  # off 2.1 s after the last frame: in time
    assert o.violation_count == 0, o.violations


def test_nothing_may_stay_on_once_the_daemon_says_idle() -> None:
    o = oracle()
    o.feed([(1.0, FAR, True), (1.5, PUMP, True)], [], heard(5.0), 5.0)
    o.daemon_status(5.0, idle=True, healthy=True)
    o.feed([], [], heard(6.0), 6.0)
    o.check_i7(6.0)
    assert o.counts["violation_I7"] == 1
