"""Fault catalogue: every fault has a machine code, a human sentence and a hint (docs/safety.md).

Transient faults clear themselves when their condition goes away; latching faults stay until
an explicit ``reset``. The catalogue is data, so the dashboard, MQTT and the docs all show the
same words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fault:
    """An active fault. ``loop`` is None for installation-wide faults."""

    code: str
    message: str
    hint: str
    latching: bool
    loop: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.code, self.loop)


def _reseat(loop: str | None) -> str:
    """What a loop whose sensor cannot see the water in time needs (max_run, late_stop)."""
    return (
        "Better: move the sensor onto the brass valve body with thermal paste and insulation, "
        f"or fit a probe on the cold side of the valve (loops.{loop or '<name>'}.cold_sensor), "
        "then `zcw reset` so the loop judges its sensor afresh."
    )


def _where(loop: str | None) -> str:
    return f" on loop '{loop}'" if loop else ""


# What each sensor role costs when it cannot be trusted, and the fault code prefix it gets.
_ROLES = {
    "loop": ("sensor", "its valve stays closed"),
    "cold-line": (
        "cold_sensor",
        "its valve stays closed: the cold-line guard (cold_line_max_c) cannot see without it",
    ),
    "heater outlet": (
        "outlet_sensor",
        "the heater-must-fire check watches the loop sensor instead",
    ),
}


def sensor_codes(role: str) -> tuple[str, str]:
    """The (invalid, stale) fault codes of a sensor role."""
    prefix = _ROLES.get(role, _ROLES["loop"])[0]
    return f"{prefix}_invalid", f"{prefix}_stale"


def sensor_invalid(loop: str | None, role: str, why: str, *, blocks: bool = True) -> Fault:
    """A sensor that cannot be trusted (I4); ``role`` is "loop", "cold-line" or "heater
    outlet". A cold-line sensor its loop can run without (``blocks`` False) says so."""
    reasons = {
        "power_on_85": "read 85.0 °C, the DS18B20 power-on value (no conversion happened)",
        "disconnected": "read −127 °C: the sensor is disconnected or its data line is open",
        "crc": "failed its CRC check: noise or a loose wire on the 1-Wire bus",
        "out_of_range": "reported a value outside −10…100 °C",
        "jump": "jumped faster than water can change temperature",
        "stale": "has not reported for more than 3 sensor periods",
        "missing": "has never reported",
        "stuck": "has not changed at all while water was flowing",
    }
    consequence = _ROLES.get(role, _ROLES["loop"])[1]
    if not blocks:
        consequence = "the cold-line guard is off until it reads again"
    invalid, stale = sensor_codes(role)
    return Fault(
        code=stale if why in ("stale", "missing") else invalid,
        message=f"The {role} sensor{_where(loop)} {reasons.get(why, why)}; {consequence}.",
        hint="Check the sensor wiring (data line, 4.7 kΩ pull-up, 3.3 V), then `zcw bridge info`.",
        latching=False,
        loop=loop,
    )


def max_run(
    loop: str | None, max_run_s: float, repeated: bool, *, sensor_rose: bool = False
) -> Fault:
    if sensor_rose:
        # Heat reached the sensor, yet it never read ready_c: the sensor, not the plumbing.
        hint = (
            "The loop sensor warmed but never read ready_c: it lags or reads low, as a dry "
            "clip on a plastic pipe does. From now on this loop stops when its sensor first "
            "warms. " + _reseat(loop)
        )
    else:
        hint = (
            "Check that the heater fires and the pump runs; if the pipe is long, raise "
            f"loops.{loop or '<name>'}.max_run_s (≤ 600). Clear with `zcw reset`."
        )
    return Fault(
        code="max_run",
        message=(
            f"Hot water did not arrive{_where(loop)} within max_run_s = {max_run_s:.0f} s"
            + ("; this happened twice in a row, so zcw stays off until reset." if repeated else ".")
        ),
        hint=hint,
        latching=repeated,
        loop=loop,
    )


def cold_line_overrun(loop: str | None, temp_c: float, limit_c: float) -> Fault:
    return Fault(
        code="cold_line_overrun",
        message=(
            f"The cold line{_where(loop)} reached {temp_c:.1f} °C, above cold_line_max_c = "
            f"{limit_c:.1f} °C; valve closed and pump stopped."
        ),
        hint=(
            "Check that the valve closes (stuck open?) and where the loop sensor sits; "
            "clear with `zcw reset` once understood."
        ),
        latching=True,
        loop=loop,
    )


def late_stop(loop: str, reading_c: float, limit_c: float, *, stops_on_rise: bool) -> Fault:
    """I5 without T_cold, judged after the fact: the water left standing at the valve is the
    last that entered the cold line, and the loop sensor read it clearly over the limit."""
    if stops_on_rise:
        hint = (
            "This sensor lags the water by more than zcw can compensate, as a clamp on a "
            "plastic pipe does. From now on this loop stops when its sensor first warms. "
            + _reseat(loop)
        )
    else:
        hint = (
            "If it happens often, move the sensor onto the brass valve body with thermal paste "
            "and insulation, or fit a probe on the cold side of the valve "
            f"(loops.{loop}.cold_sensor), which stops the pump the moment the limit is reached."
        )
    return Fault(
        code="late_stop",
        message=(
            f"The loop sensor{_where(loop)} read {reading_c:.1f} °C after the pump stopped, over "
            f"cold_line_max_c = {limit_c:.1f} °C: the stop came late, and water that hot "
            "entered the cold line. It clears after a stop on time."
        ),
        hint=hint,
        latching=False,
        loop=loop,
    )


def heater_not_firing(loop: str | None, timeout_s: float, via: str) -> Fault:
    return Fault(
        code="heater_not_firing",
        message=(
            f"The {via} showed no temperature rise within {timeout_s:.0f} s of pump start: "
            "the heater did not fire. The likely cause is pump flow below the heater's "
            "activation flow."
        ),
        hint=(
            "Check the heater is on and has gas/power; use a stronger pump or open the pump's "
            "speed setting; a low-head circulator often cannot reach the heater's minimum flow."
        ),
        latching=False,
        loop=loop,
    )


def bridge_offline() -> Fault:
    return Fault(
        code="bridge_offline",
        message="The bridge is not answering; relays are held off by the bridge's dead-man.",
        hint="Check the USB cable and `ls /dev/serial/by-id/`; zcw reconnects by itself.",
        latching=False,
    )


def internal_error(what: str) -> Fault:
    return Fault(
        code="internal_error",
        message=f"Unexpected error in the control tick ({what}); everything was turned off.",
        hint="This is a bug: please report it with `zcw history --json`. Clear with `zcw reset`.",
        latching=True,
    )


# -- what the bridge did by itself (docs/safety.md, layer 1) -----------------------------------


def bridge_local_close(loop: str, detail: str, *, refused: bool) -> Fault:
    """The bridge closed a valve (or refused to open it) on its own thermostat: its bound
    sensor read at or over its limit, or failed. The daemon's own stop should have come
    first; the bridge is the backstop."""
    did = "refused to open" if refused else "closed"
    return Fault(
        code="bridge_local_close",
        message=f"The bridge {did} the {loop} valve by itself: {detail}.",
        hint=(
            "If the sensor failed, check its wiring. If it read hot, zcw stopped too late: "
            "`zcw history` shows the cycle; shown until the next cycle starts."
        ),
        latching=False,
        loop=loop,
    )


def bridge_dead_man(detail: str) -> Fault:
    """The bridge heard nothing from zcw in time, or a relay ran past its deadline."""
    return Fault(
        code="bridge_dead_man",
        message=f"The bridge turned everything off by itself: {detail}.",
        hint=(
            "The daemon stalled or the USB link dropped frames; check `journalctl -u zcw` for "
            "what blocked it, and the USB cable. Shown until the next cycle starts."
        ),
        latching=False,
    )


def bridge_cap(loop: str | None, detail: str) -> Fault:
    """A relay ran 600 s in one stretch: the bridge's compiled-in cap. Nothing in zcw should
    ever get there (max_run_s ≤ 600), so this latches."""
    what = "the pump" if loop is None else f"the {loop} valve"
    return Fault(
        code="bridge_cap",
        message=f"The bridge cut {what} at its 600 s cap and refuses it until reset: {detail}.",
        hint=(
            "zcw's own max_run_s should always stop first: report this with `zcw history "
            "--json`. Clear with `zcw reset` once the plumbing is checked."
        ),
        latching=True,
        loop=loop,
    )


def bridge_binding(loop: str, detail: str) -> Fault:
    """The bridge refused to bind a valve to its sensor: no local thermostat for it."""
    return Fault(
        code="bridge_binding",
        message=(
            f"The bridge refused to bind the {loop} valve to its sensor ({detail}); without "
            "that local thermostat zcw will not open it."
        ),
        hint=(
            f"Check loops.{loop}.sensor and its ROM id under [sensors] against "
            "`zcw bridge info`, and the valve's relay channel."
        ),
        latching=False,
        loop=loop,
    )
