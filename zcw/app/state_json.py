"""The state payload (README, `zcw/state`): one JSON shape for `zcw status --json`, MQTT and
history.

Relays are reported as the bridge *confirmed* them, never as the controller wished them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zcw.app.daemon import Status
from zcw.domain.faults import Fault
from zcw.domain.model import Event


def fault_dict(fault: Fault | None) -> dict[str, Any] | None:
    if fault is None:
        return None
    return {"code": fault.code, "message": fault.message, "hint": fault.hint, "loop": fault.loop}


def status_dict(status: Status, totals: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The state. ``totals`` (energy, water, cycles today, from the history) is added if given."""
    snap = status.snapshot
    last = snap.last_cycle
    out: dict[str, Any] = {
        "state": snap.state,
        "phase": str(snap.phase),
        "mode": snap.mode,
        "pump": status.confirmed.pump,
        "bridge_online": status.bridge_online,
        "bridge_firmware": status.bridge_firmware or None,
        "loops": {
            name: {
                "temp_c": view.temp_c,
                "valve": status.confirmed.valves.get(name, False),
                "state": view.state,
                "cold_c": snap.cold_c.get(name),
                "learned": snap.learned[name].summary() if name in snap.learned else None,
            }
            for name, view in snap.loops.items()
        },
        "heater_out_c": snap.heater_out_c,
        "fault": fault_dict(snap.fault),
        "faults": [fault_dict(f) for f in snap.faults],
        "last_cycle": None
        if last is None
        else {
            "loops": list(last.loops),
            "source": last.source,
            "time_to_hot_s": last.time_to_hot_s,
            "volume_l": last.volume_l,
            "outcome": last.outcome,
            "duration_s": round(last.ended_s - last.started_s, 1),
        },
    }
    if totals is not None:
        out["totals"] = dict(totals)
    return out


def event_dict(event: Event) -> dict[str, Any]:
    """An event; ``event_type`` is what Home Assistant's MQTT event entity reads (``event`` is
    kept for automations written against earlier versions)."""
    out: dict[str, Any] = {"event_type": event.kind, "event": event.kind}
    if event.loop is not None:
        out["loop"] = event.loop
    if event.source is not None:
        out["source"] = str(event.source)
    if event.reason is not None:
        out["reason"] = event.reason
    out.update(event.data)
    return out
