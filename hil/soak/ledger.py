"""Counters the daemon must balance: every request answered once, every cycle ended, every
fault raised either cleared or still shown.

Requests are seen where they enter the daemon (``Daemon.submit``, and for the button the
presses the link's ``poll`` hands the tick, which turns them into requests itself); answers
are the events ``cycle_started``, ``joined``, ``already_hot`` and ``rejected`` with the same
source and loop. A start asked before the loop's first reading is held up to two sensor
periods, so an answer may come that much later; a later one is counted as late.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from zcw.app.daemon import Status
from zcw.domain.controller import Phase
from zcw.domain.model import Request

ANSWERS = ("cycle_started", "joined", "already_hot", "rejected")
ENDS = ("hot_ready", "cycle_aborted", "cycle_stopped")


@dataclass
class Ledger:
    default_loop: str
    answer_within_s: float
    requests: Counter[str] = field(default_factory=Counter)  # "start:<source>" etc.
    answers: Counter[str] = field(default_factory=Counter)  # "<kind>" and "rejected:<reason>"
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, Any]] = field(default_factory=list)
    unended: list[dict[str, Any]] = field(default_factory=list)
    _pending: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _faults: set[tuple[str, str | None]] = field(default_factory=set)
    _last_cycle: object = None
    _running_since: float | None = None
    _open_start: float | None = None  # a cycle_started seen and its end not yet
    answer_latency_max_s: float = 0.0
    faults_seen: Counter[str] = field(default_factory=Counter)

    def request(self, req: Request, now: float) -> None:
        source = str(req.source)
        self.requests[f"{req.action}:{source}"] += 1
        if req.action != "start":
            return
        key = (source, req.loop or self.default_loop)
        self._pending.setdefault(key, deque()).append(now)

    def pending(self) -> int:
        return sum(len(q) for q in self._pending.values())

    def status(self, status: Status, now: float, store_faulted: bool) -> None:
        for event in status.events:
            kind = event.kind
            if kind in ANSWERS:
                self._answer(kind, event.source, event.loop, event.reason, now)
            elif kind == "fault" and event.reason:
                self._faults.add((event.reason, event.loop))
                self.faults_seen[event.reason] += 1
            elif kind == "fault_cleared" and event.reason:
                self._faults.discard((event.reason, event.loop))
            if kind == "cycle_started":
                self.counts["cycles_started"] += 1
                if self._open_start is not None:
                    # Two starts with no end between: the first cycle never ended.
                    self._problem(
                        "cycle_unended",
                        now,
                        f"a cycle started at {self._open_start:.1f} s never ended "
                        f"(another started, {event.source}/{event.loop})",
                    )
                self._open_start = now
            elif kind in ENDS:
                self.counts[f"ends:{kind}"] += 1
        shown = {f.key for f in status.snapshot.faults}
        if shown != self._faults:
            self.counts["fault_ledger_mismatches"] += 1
            self._problem(
                "fault_ledger",
                now,
                f"raised and not cleared {sorted(map(str, self._faults))}, "
                f"shown {sorted(map(str, shown))}",
            )
            self._faults = set(shown)
        snap = status.snapshot
        if snap.phase is not Phase.IDLE and self._running_since is None:
            self._running_since = now
        last = snap.last_cycle
        if last is not None and last is not self._last_cycle:
            self._last_cycle = last
            self._running_since = None
            self._open_start = None
            self.counts["cycles_finished"] += 1
            if store_faulted:
                self.counts["cycles_finished_while_store_faulted"] += 1
            self.counts[f"outcome:{last.outcome}"] += 1

    @property
    def open_start(self) -> float | None:
        """When the cycle under way started, if one is (the soak ends with none)."""
        return self._open_start

    def check_running(self, now: float, longest_s: float) -> None:
        """Every cycle ends: none may run longer than its cap and the stop sequence."""
        if self._running_since is not None and now - self._running_since > longest_s:
            self.counts["cycles_overlong"] += 1
            self._problem("cycle_overlong", now, f"running for {now - self._running_since:.0f} s")
            self._running_since = None

    def _answer(
        self, kind: str, source: object, loop: str | None, reason: str | None, now: float
    ) -> None:
        self.answers[kind if kind != "rejected" else f"rejected:{reason}"] += 1
        key = (str(source), loop or self.default_loop)
        queue = self._pending.get(key)
        if not queue:
            self.counts["answers_without_request"] += 1
            self._problem("extra_answer", now, f"{kind} for {key} with no request pending")
            return
        asked = queue.popleft()
        latency = now - asked
        self.answer_latency_max_s = max(self.answer_latency_max_s, latency)
        if latency > self.answer_within_s:
            self.counts["late_answers"] += 1
            self._problem("late_answer", now, f"{kind} for {key} {latency:.2f} s after the request")

    def daemon_killed(self, running: bool, now: float) -> None:
        """SIGKILL: what was pending dies with the process (nobody can answer it)."""
        self.counts["requests_lost_in_kill"] += self.pending()
        self._pending.clear()
        if running:
            self.counts["cycles_cut_by_kill"] += 1
        elif self._open_start is not None:
            self._problem(
                "cycle_unended",
                now,
                f"a cycle started at {self._open_start:.1f} s had not ended, and the daemon "
                "was idle when killed",
            )
        self._open_start = None
        self._running_since = None
        self._faults = set()
        self._last_cycle = None

    def unanswered(self, now: float) -> int:
        """Requests still waiting for longer than they may."""
        return sum(1 for q in self._pending.values() for t in q if now - t > self.answer_within_s)

    def _problem(self, kind: str, t: float, detail: str) -> None:
        if kind == "cycle_unended":  # rare and the one to explain: kept whatever the count
            self.unended.append({"t": round(t, 2), "detail": detail})
        if len(self.problems) < 200:
            self.problems.append({"kind": kind, "t": round(t, 2), "detail": detail})
