"""Run-time edits of the calendar and the learned mode, one meaning for every channel.

`zcw schedule …`, `zcw away …` and `zcw schedule learned …` over the control socket, and the
same commands on MQTT (`{"schedule": "add", …}`, `{"away": …}`, `{"learned": "on"}`) all come
here, so they accept and refuse exactly the same things with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zcw.app.learning import LearningBridge
from zcw.app.schedule_bridge import ScheduleBridge

LEARNED_CHOICES: dict[str, bool | None] = {"on": True, "off": False, "default": None}


class CalendarCommands:
    """The scheduler and the learner behind one small command set."""

    def __init__(self, schedule: ScheduleBridge | None, learning: LearningBridge | None) -> None:
        self.schedule = schedule
        self.learning = learning

    def __repr__(self) -> str:
        return f"CalendarCommands({self.schedule!r}, {self.learning!r})"

    def calendar(self, cmd: str, op: str, args: Mapping[str, str]) -> dict[str, Any]:
        """``cmd`` is schedule or away; ``op`` list, add, remove, reset or clear."""
        schedule = self.schedule
        if schedule is None:
            return {"ok": False, "error": "this daemon runs without a scheduler"}
        try:
            if cmd == "schedule" and op == "add":
                note = (
                    f"added {schedule.add(args['loop'], args['at'], args.get('days', 'daily')).id}"
                )
            elif cmd == "schedule" and op == "remove":
                note = f"removed {schedule.remove(args['id']).id}"
            elif cmd == "schedule" and op == "reset":
                schedule.reset()
                note = "run-time edits dropped; the config file's schedule runs as written"
            elif cmd == "away" and op == "add":
                away = schedule.add_away(args["from"], args["to"])
                note = f"away from {away.first} to {away.last}"
            elif cmd == "away" and op == "clear":
                schedule.clear_away()
                note = "run-time away dates cleared"
            elif op == "list":
                note = ""
            else:
                return {"ok": False, "error": f"unknown {cmd} operation {op!r}"}
        except KeyError as exc:
            return {"ok": False, "error": f"{cmd} {op} needs '{exc.args[0]}'"}
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "note": note, **schedule.listing()}

    def learned(self, op: str, state: str | None = None) -> dict[str, Any]:
        """``op`` suggest (what was learned), or learned with ``state`` on, off or default."""
        learning = self.learning
        if learning is None:
            return {"ok": False, "error": "this daemon runs without learning"}
        note = ""
        if op == "learned":
            if state not in LEARNED_CHOICES:
                return {"ok": False, "error": "learned needs on, off or default"}
            mode = learning.set_learned(LEARNED_CHOICES[state])
            note = f"learned pre-heat: mode {mode}" + (
                " (as the config file says)" if state == "default" else " (run-time choice)"
            )
        elif op != "suggest":
            return {"ok": False, "error": f"unknown learning operation {op!r}"}
        return {"ok": True, "note": note, **learning.suggestion()}

    def summary(self) -> dict[str, Any]:
        """What the state payload carries of the calendar: the learned mode and the next
        pre-heat's "hot at" time (ISO 8601), for Home Assistant's switch and sensor."""
        out: dict[str, Any] = {"learned_mode": None, "next_preheat": None}
        if self.learning is not None:
            out["learned_mode"] = self.learning.mode
        if self.schedule is not None:
            times = self.schedule.planner.next_times().values()
            out["next_preheat"] = min(times).isoformat() if times else None
        return out
