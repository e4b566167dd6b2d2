"""The proxy plug's rules, pure: tables, a property over random histories, 200 user toggles.

The property drives :class:`PlugMachine` the way the plug link does: polls and switch
commands run one at a time in a FIFO worker, a poll may fail (unknown), a command may fail
before or after it switched the plug (outcome unknown), the user switches the plug whenever
they like, and the daemon answers and ends cycles at random. The clock is injected.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zcw.adapters.mihome.machine import (
    OUTAGE_S,
    Action,
    Ask,
    CloudSwitchMachine,
    PlugMachine,
    Switch,
)

START, STOP = Ask("start"), Ask("stop")
ON, OFF = Switch(True), Switch(False)


def test_startup_learns_and_switches_a_plug_left_on_off() -> None:
    m = PlugMachine()
    assert m.polled(0.0, True) == [OFF]  # left on at start-up: switched off, not obeyed
    assert m.switched(0.1, False, ok=True) == []
    assert m.polled(1.0, False) == []
    m2 = PlugMachine()
    assert m2.polled(0.0, False) == []
    assert m2.polled(1.0, True) == [START]


def test_a_cycle_from_the_plug_and_zcws_own_switch_off() -> None:
    m = PlugMachine()
    m.polled(0.0, False)
    assert m.polled(1.0, True) == [START]
    assert m.polled(2.0, True) == []  # still on: no second request
    assert m.answered(2.1, started=True) == []
    assert m.active
    assert m.ended(30.0) == [OFF]  # hot_ready (or any end): the plug goes off
    assert m.polled(30.5, True) == []  # taken before the switch-off ran: no edge
    assert m.switched(30.6, False, ok=True) == []
    assert m.polled(31.0, False) == []  # zcw's own switch-off is no cancel
    assert m.polled(32.0, True) == [START]  # the next user edge counts again


def test_user_and_zcw_switching_off_at_once_stops_nothing() -> None:
    m = PlugMachine()
    m.polled(0.0, False)
    m.polled(1.0, True)
    m.answered(1.1, started=True)
    assert m.ended(20.0) == [OFF]
    # The user switched off too, just before zcw's command ran: the cycle is over already,
    # and a stop would only end some other trigger's cycle of the loop.
    assert m.polled(20.1, False) == []
    assert m.switched(20.2, False, ok=True) == []


def test_user_switch_off_stops_the_cycle_and_needs_no_switching() -> None:
    m = PlugMachine()
    m.polled(0.0, False)
    m.polled(1.0, True)
    m.answered(1.2, started=True)
    assert m.polled(5.0, False) == [STOP]
    assert m.ended(5.3) == []  # already off


def test_off_while_the_request_is_pending_stops_too() -> None:
    m = PlugMachine()
    m.polled(0.0, False)
    m.polled(1.0, True)
    assert m.polled(2.0, False) == [STOP]


def test_refused_requests_switch_the_plug_off() -> None:
    for started in (False,):
        m = PlugMachine()
        m.polled(0.0, False)
        m.polled(1.0, True)
        assert m.answered(1.1, started=started) == [OFF]
        assert not m.active and not m.awaiting


def test_failed_polls_are_never_edges() -> None:
    m = PlugMachine()
    m.polled(0.0, False)
    for t in range(1, 10):
        assert m.polled(float(t), None) == []
    # Known off at 0 s, known on at 10 s: within the outage window it is still the user's edge.
    assert m.polled(10.0, True) == [START]


def test_after_an_outage_the_first_reading_only_learns() -> None:
    m = PlugMachine()
    m.polled(0.0, False)
    assert m.polled(OUTAGE_S + 1.0, True) == [OFF]  # stale: learned, and switched off
    m.switched(OUTAGE_S + 1.1, False, ok=True)
    m2 = PlugMachine()
    m2.polled(0.0, True)
    m2.switched(0.1, False, ok=True)
    assert m2.polled(OUTAGE_S + 1.0, False) == []


def test_a_command_of_unknown_outcome_makes_the_next_reading_learn() -> None:
    m = PlugMachine()
    m.polled(0.0, False)
    m.polled(1.0, True)
    m.answered(1.1, started=False)  # already hot → OFF
    assert m.switched(2.0, False, ok=False) == []  # timed out: did it switch?
    assert m.polled(3.0, True) == [OFF]  # it did not: switch off again, no new request
    m.switched(3.1, False, ok=True)
    assert m.polled(4.0, False) == []


def test_mirror_switches_on_for_other_triggers_without_a_feedback_loop() -> None:
    m = PlugMachine(mirror=True)
    m.polled(0.0, False)
    assert m.started_elsewhere(1.0) == [ON]
    assert m.polled(1.2, False) == []  # taken before the switch-on ran
    m.switched(1.3, True, ok=True)
    assert m.polled(2.0, True) == []  # zcw's own switch-on is no request
    assert m.ended(20.0) == [OFF]
    m.switched(20.1, False, ok=True)
    assert m.polled(21.0, False) == []
    plain = PlugMachine(mirror=False)
    plain.polled(0.0, False)
    assert plain.started_elsewhere(1.0) == []


def test_mirror_plug_switched_off_by_the_user_stops_its_loop() -> None:
    m = PlugMachine(mirror=True)
    m.polled(0.0, False)
    m.started_elsewhere(1.0)
    m.switched(1.1, True, ok=True)
    assert m.polled(2.0, False) == [STOP]


def test_cloud_switch() -> None:
    c = CloudSwitchMachine()
    assert c.message(0.0, "on", retained=True) == [OFF]  # from before zcw connected
    assert c.message(0.0, "off", retained=False) == []  # nothing to stop
    assert c.message(1.0, " ON ", retained=False) == [START]
    assert c.answered(1.1, started=True) == []
    assert c.message(2.0, "off", retained=False) == [STOP]
    assert c.ended(2.2) == [OFF]
    assert c.message(3.0, "on#1", retained=False) == [START]
    assert c.answered(3.1, started=False) == [OFF]
    assert c.ended(3.2) == []
    assert c.started_elsewhere(4.0) == []


# --------------------------------------------------------------------------- the property


@dataclass
class Model:
    """A plug, a FIFO worker, a user and a daemon around one PlugMachine."""

    machine: PlugMachine
    t: float = 0.0
    plug: bool = False
    jobs: list[tuple[str, object]] = field(default_factory=list)
    touches: list[tuple[str, bool]] = field(default_factory=list)  # since the last good poll
    cmds_run: int = 0  # commands run since the last good poll
    last_good: tuple[float, bool] | None = None
    starts: int = 0
    stops: int = 0
    user_ons: int = 0
    user_offs: int = 0
    complete_edges: int = 0  # edges the machine must have turned into exactly one start

    def perform(self, actions: list[Action]) -> tuple[int, int]:
        starts = stops = 0
        for a in actions:
            if isinstance(a, Switch):
                self.jobs.append(("cmd", a.on))
            elif a == START:
                starts += 1
            elif a == STOP:
                stops += 1
        return starts, stops

    def user(self, on: bool) -> None:
        if self.plug != on:
            self.plug = on
            self.touches.append(("user", on))
            if on:
                self.user_ons += 1
            else:
                self.user_offs += 1

    def poll(self, ok: bool) -> None:
        if not any(kind == "poll" for kind, _ in self.jobs):
            self.jobs.append(("poll", ok))

    def run(self, outcome: str) -> None:
        if not self.jobs:
            return
        kind, arg = self.jobs.pop(0)
        if kind == "cmd":
            on = bool(arg)
            self.cmds_run += 1
            if outcome in ("ok", "fail_after"):
                self.plug = on
                self.touches.append(("zcw", on))
            got = self.perform(self.machine.switched(self.t, on, ok=outcome == "ok"))
            assert got == (0, 0), "a command result never asks for a cycle"
            return
        if not arg:  # the poll failed or timed out
            assert self.machine.polled(self.t, None) == [], "a failed poll is never an edge"
            return
        busy = self.machine.active or self.machine.awaiting
        starts, stops = self.perform(self.machine.polled(self.t, self.plug))
        assert not stops or busy, "only a cycle the plug stands for is stopped"
        user_ons = [on for who, on in self.touches if who == "user" and on]
        user_offs = [on for who, on in self.touches if who == "user" and not on]
        assert starts <= 1 and stops <= 1
        if starts:
            assert user_ons, "a start needs a user's switch-on since the last reading"
        if stops:
            assert user_offs, "a stop needs a user's switch-off since the last reading"
        prev = self.last_good
        if (
            prev is not None
            and prev[1] is False
            and self.plug is True
            and self.t - prev[0] <= self.machine.outage_s
            and self.cmds_run == 0
            and user_ons
        ):
            self.complete_edges += 1
            assert starts == 1, "a user's edge seen by two readings is exactly one start"
        self.starts += starts
        self.stops += stops
        self.last_good = (self.t, self.plug)
        self.touches.clear()
        self.cmds_run = 0

    def daemon(self, what: str) -> None:
        m = self.machine
        if what == "started" and m.awaiting:
            got = self.perform(m.answered(self.t, started=True))
        elif what == "refused" and m.awaiting:
            got = self.perform(m.answered(self.t, started=False))
        elif what == "elsewhere":
            got = self.perform(m.started_elsewhere(self.t))
        elif what == "end":
            got = self.perform(m.ended(self.t))
        else:
            return
        assert got == (0, 0), "news from the daemon never asks for a cycle"


OPS = st.one_of(
    st.tuples(st.just("user"), st.booleans()),
    st.tuples(st.just("wait"), st.sampled_from([0.2, 0.5, 1.0, 3.0, 10.0, 40.0])),
    st.tuples(st.just("poll"), st.sampled_from([True, True, True, False])),
    st.tuples(st.just("run"), st.sampled_from(["ok", "ok", "ok", "fail_before", "fail_after"])),
    st.tuples(st.just("daemon"), st.sampled_from(["started", "refused", "elsewhere", "end"])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(mirror=st.booleans(), ops=st.lists(OPS, min_size=20, max_size=400))
def test_every_start_is_a_user_edge_and_every_seen_edge_one_start(
    mirror: bool, ops: list[tuple[str, object]]
) -> None:
    model = Model(PlugMachine(mirror=mirror))
    for op, arg in ops:
        if op == "user":
            model.user(bool(arg))
        elif op == "wait":
            assert isinstance(arg, float)
            model.t += arg
        elif op == "poll":
            model.poll(bool(arg))
        elif op == "run":
            model.run(str(arg))
        else:
            model.daemon(str(arg))
    assert model.starts <= model.user_ons
    assert model.stops <= model.user_offs
    # Once the plug answers again, a plug with no cycle behind it ends up off.
    for _ in range(4):
        while model.jobs:
            model.run("ok")
        model.t += 1.0
        model.poll(True)
        model.run("ok")
    m = model.machine
    assert m.active or m.awaiting or not model.plug


def test_200_user_toggles_through_failed_polls_give_one_request_each() -> None:
    """200 toggles by hand, each seen after 0-3 failed polls; cycles answered and ended at
    random, zcw's switch-offs failing now and then: one start per switch-on, and no more."""
    rng = random.Random(20240611)
    model = Model(PlugMachine())
    model.poll(True)
    model.run("ok")
    toggles = expected_starts = 0
    while toggles < 200:
        want = not model.plug
        model.t += rng.choice([0.5, 1.0, 2.0, 5.0])
        model.user(want)
        toggles += 1
        for _ in range(rng.randint(0, 3)):  # polls that fail or time out
            model.t += rng.choice([1.0, 2.0, 4.0])
            model.poll(False)
            model.run("ok")
        model.t += 1.0
        before = model.starts
        model.poll(True)
        model.run("ok")
        if want:
            expected_starts += 1
            assert model.starts == before + 1
            model.daemon(rng.choice(["started", "started", "refused"]))
            if model.machine.active and rng.random() < 0.5:
                model.daemon("end")  # hot_ready, aborted …: zcw switches the plug off
        while model.jobs:  # zcw's commands, some of unknown outcome; then a fresh reading
            model.run(rng.choice(["ok", "ok", "fail_before", "fail_after"]))
            model.t += 1.0
            model.poll(True)
            model.run("ok")
    assert model.starts == expected_starts == model.user_ons
    assert model.user_ons + model.user_offs >= 200
