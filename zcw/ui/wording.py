"""Events and outcomes in words a person reads, for the command line and the dashboard.

The machine names (``rest``, ``unknown_loop``, ``max_run``) stay in the JSON, MQTT and the
history; people get a sentence that says what happened and, when something was refused,
what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Why a cycle ended, by its outcome or abort reason.
OUTCOMES = {
    "hot": "hot water arrived",
    "stopped": "stopped on request",
    "shutdown": "the daemon stopped",
    "max_run": "hot water did not arrive within max_run_s",
    "heater_not_firing": "the heater did not fire",
    "sensor_fault": "the loop sensor failed",
    "sensor_stuck": "the loop sensor was stuck",
    "cold_sensor_fault": "the cold-line sensor failed",
    "cold_line_overrun": "the cold line got too hot",
    "bridge_offline": "the bridge went offline",
    "bridge_rebooted": "the bridge restarted",
    "bridge_local_close": "the bridge closed the valve by itself",
    "bridge_refused": "the bridge refused to open the valve",
    "bridge_dead_man": "the bridge turned everything off (it heard nothing from zcw)",
    "bridge_cap": "the bridge's 600 s cap cut a relay",
    "bridge_bind_refused": "the bridge has no local thermostat for the valve",
    "internal_error": "an internal error turned everything off",
}


def outcome_text(outcome: str) -> str:
    """A cycle's outcome in words; a safety veto names its rules."""
    if outcome.startswith("safety_veto:"):
        return f"the safety supervisor vetoed it ({outcome.split(':', 1)[1]})"
    return OUTCOMES.get(outcome, outcome.replace("_", " "))


def event_text(e: dict[str, Any]) -> str:
    """One event (as `zcw/event` carries it) as a sentence."""
    kind = str(e.get("event", "?"))
    loop = str(e.get("loop") or "")
    reason = str(e.get("reason") or "")
    on = f" {loop}" if loop else ""
    if kind == "cycle_started":
        if reason == "commission":
            return f"commissioning{on}: the valve opens, then the pump starts from a cooled pipe"
        return f"heating{on}: the valve opens, then the pump starts"
    if kind == "joined":
        return f"{loop or 'the loop'} joined the cycle already running"
    if kind == "already_hot":
        return f"{loop or 'the loop'} is already hot: nothing to do"
    if kind == "hot_ready":
        after = e.get("time_to_hot_s")
        return f"hot water at{on}" + (f" after {after} s" if after is not None else "")
    if kind == "rejected":
        return f"not started{on}: {_refusal(reason, e)}"
    if kind == "cycle_aborted":
        return f"cycle ended early{on}: {outcome_text(reason)}"
    if kind == "cycle_stopped":
        return f"stopped{on}"
    if kind == "fault":
        return f"fault {reason}: {e.get('message', '')}".rstrip(": ")
    if kind == "fault_cleared":
        return f"fault {reason} cleared"
    if kind == "mode_changed":
        return f"mode is now {reason}"
    return f"{kind}{on}" + (f": {reason}" if reason else "")


def _refusal(reason: str, e: dict[str, Any]) -> str:
    if reason == "rest":
        wait = e.get("retry_in_s")
        return "the pump rests between cycles" + (
            f"; try again in {float(wait):.0f} s" if wait is not None else ""
        )
    if reason == "away":
        return "away mode holds scheduled and learned pre-heats (`zcw mode auto` ends it)"
    if reason == "unknown_loop":
        return f"there is no such loop; the loops are: {e.get('loops', '?')}"
    if reason == "fault":
        return f"{e.get('fault', 'a fault')}: {e.get('message', '')} (see `zcw status`)"
    if reason in ("not_ready", "not_cooled", "busy", "warm_pipe"):
        return str(e.get("message", "zcw is not ready yet"))
    return reason.replace("_", " ")


def commission_failure(
    reason: str, loop: str, *, refused: bool, retry_in_s: float | None = None
) -> str:
    """Why `zcw commission` measured nothing, and what to do: ``refused`` when the cycle
    never began (``reason`` a refusal code), else why it ended (an outcome, ``cycle_stopped``
    or ``no_result``)."""
    again = f"`zcw commission {loop}`"
    if refused:
        if reason == "rest":
            after = "" if retry_in_s is None else f" (it ends in {float(retry_in_s):.0f} s)"
            todo = (
                f"the pump rests between cycles. Run {again} again after the rest{after}; "
                "it starts only from a cooled pipe, which after a cycle takes longer"
            )
        elif reason == "not_cooled":
            todo = f"the pipe is not cool yet. Run {again} again when the line above allows"
        elif reason == "busy":
            todo = f"a cycle is running. Run {again} again once it has ended and the pipe cooled"
        elif reason == "fault":
            todo = f"zcw is in fault. Clear it (see `zcw status`), then run {again} again"
        else:
            todo = f"{_refusal(reason, {})}. Run {again} again"
        return f"commissioning did not start, so nothing was measured: {todo}."
    if reason in ("cycle_stopped", "stopped"):
        return (
            "commissioning was stopped before it finished, so nothing was stored. "
            f"Run {again} again once the pipe has cooled."
        )
    if reason == "no_result":
        return (
            "commissioning gave no result: the sensor did not settle in the time allowed, so "
            f"nothing was stored. Check that {loop}'s sensor sits on its hot pipe "
            f"(`zcw bridge info`), then run {again} again once the pipe has cooled."
        )
    return (
        f"commissioning ended early ({outcome_text(reason)}), so nothing was stored. See "
        f"`zcw status`, and run {again} again once the pipe has cooled."
    )


def learned_text(summary: Mapping[str, Any]) -> str:
    """What a loop learned (``Learned.summary()`` or its JSON) in words, for `zcw status`
    and the log."""
    tau, transit = summary.get("sensor_tau_s"), summary.get("transit_s")
    parts = [
        "sensor lag " + ("not yet" if tau is None else f"τ {tau:.1f} s"),
        "transit " + ("not yet" if transit is None else f"{transit:.1f} s"),
        f"from {summary.get('cycles', 0)} cooled-pipe cycles",
    ]
    if summary.get("stops_on_learned_arrival"):
        parts.append("stops on the learned arrival (the sensor is too slow for this front)")
    if summary.get("stops_on_rise"):
        parts.append("stops on the sensor's first warming (it reads ready_c late or never)")
        rise = summary.get("first_warming_s")
        if isinstance(rise, int | float):
            parts.append(f"which comes {rise:.0f} s after pump on from a cooled pipe")
    if summary.get("commissioned") is False:
        parts.append(NOT_COMMISSIONED)
    return ", ".join(parts)


NOT_COMMISSIONED = "not commissioned (run `zcw commission LOOP` from a cooled pipe)"


def commission_verdict(summary: Mapping[str, Any], *, guarded: bool = False) -> str:
    """The verdict on a commissioned loop's sensor, with what to do about a slow one.
    ``guarded``: the loop has a cold-line probe, which stops its cycles in time."""
    lag = summary.get("sensor_lag_s")
    if not isinstance(lag, int | float):
        return "not measured"
    if summary.get("sensor_reads_water"):
        return f"sensor reads the water: good (it follows a step within {lag:.0f} s)"
    what = "the sensor" if summary.get("sensor_first_order") else "clamp on plastic"
    late = f"{what}, ~{lag:.0f} s late"
    if guarded:
        return f"{late}; the cold-line probe stops the cycle in time"
    return f"{late}: fit a T_cold probe or move it to the valve body"


def commission_figures(summary: Mapping[str, Any]) -> str:
    """What commissioning measured, in one line."""
    transit, volume = summary.get("transit_s"), summary.get("transit_volume_l")
    lag = summary.get("sensor_lag_s")
    parts = [
        "transit " + ("—" if transit is None else f"{transit:.1f} s"),
        "volume " + ("—" if volume is None else f"{volume:.2f} L"),
        "sensor lag " + ("—" if lag is None else f"{lag:.1f} s (63 % of a step)"),
    ]
    return ", ".join(parts)
