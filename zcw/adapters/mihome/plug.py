"""One proxy plug: the poll loop, its worker thread, its state machine, and its faults.

Every ``poll_s`` the plug's switch is read in the plug's own worker thread; the reading (or
why there was none) comes back to the event loop in the order the calls ran, and goes
straight into the :class:`~zcw.adapters.mihome.machine.PlugMachine`. A failed poll raises the
fault at once and the next poll waits twice as long, up to 60 s, until the plug answers.
Nothing here waits on the plug in the event loop: a silent plug costs the control tick,
the button and MQTT nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from zcw.adapters.mihome.machine import OUTAGE_S, Action, Ask, PlugMachine, Switch
from zcw.adapters.mihome.worker import DeviceWorker

log = logging.getLogger("zcw.mihome")

BACKOFF_MAX_S = 60.0
RECORD = 100  # poll times kept for tests
# How long the loop waits for a call beyond the client's own timeouts before it counts the
# poll as failed (the worker may be stuck, e.g. resolving a host name).
CALL_GRACE_S = 2.0


class PlugClient(Protocol):
    """What the loop needs of a plug (``MiioPlug``, or a fake in tests). Calls block."""

    timeout_s: float

    def read(self) -> bool: ...

    def switch(self, on: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """A fault to show for a device: ``code``, a sentence naming it, and what to do."""

    code: str
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class PlugSettings:
    """One ``[[mihome.proxy]]``, resolved (``index`` is its position, for key paths)."""

    index: int
    host: str
    name: str
    loop: str
    token: str = field(repr=False)
    kind: Literal["miot", "miio_plug"] = "miot"
    siid: int = 2
    piid: int = 1
    poll_s: float = 1.0
    mirror: bool = False

    @property
    def who(self) -> str:
        if self.name == self.host:
            return f"Mi Home plug {self.host}"
        return f"Mi Home plug '{self.name}' ({self.host})"

    @property
    def key(self) -> str:
        return f"mihome.proxy[{self.index}]"


def describe(s: PlugSettings, kind: str, detail: str, code: int | None) -> Problem:
    """The fault for a failure of ``kind`` (see ``miio_client.PlugFailure``)."""
    if kind == "offline":
        return Problem(
            "mihome_offline",
            f"{s.who} does not answer on the LAN: {detail}.",
            f"Check that the plug has power and is on the Pi's Wi-Fi and subnet (`ping "
            f"{s.host}`), and reserve its address in the router. zcw keeps trying every "
            "≤ 60 s; the button and other triggers work meanwhile.",
        )
    if kind == "token":
        return Problem(
            "mihome_token",
            f"{s.who} rejects zcw's token: {detail}.",
            "Get the plug's current token (it changes when the plug is reset or paired "
            "again), e.g. with Xiaomi-cloud-tokens-extractor, and put it in "
            f"{s.key}.token_file (or token / token_env).",
        )
    if kind == "kind" and s.kind == "miio_plug":
        return Problem(
            "mihome_kind",
            f"{s.who} answered the legacy get_prop with {code}: this plug speaks MIoT.",
            f'Set kind = "miot" in {s.key} (siid = 2, piid = 1 on most plugs; the model\'s '
            "spec on home.miot-spec.com has its switch).",
        )
    if kind == "kind":
        return Problem(
            "mihome_kind",
            f"{s.who} does not know MIoT's get_properties ({detail}): it is a legacy miIO plug.",
            f'Set kind = "miio_plug" in {s.key}.',
        )
    if kind == "property":
        return Problem(
            "mihome_property",
            f"{s.who} has no switch at siid = {s.siid}, piid = {s.piid} ({detail}).",
            f"Look the plug's model up on home.miot-spec.com and set {s.key}.siid and .piid "
            "to its switch's 'on' property (2 and 1 on most plugs).",
        )
    return Problem(
        "mihome_error",
        f"{s.who} answered with an error: {detail}.",
        f"Check {s.key}.kind, .siid and .piid against the plug's model.",
    )


class PlugLink:
    """Polls one plug and keeps it in step with the cycles it stands for.

    ``on_request("start"|"stop")`` and ``on_problem(Problem | None)`` are called in the
    event loop; the app turns them into daemon requests and external faults.
    """

    def __init__(
        self,
        settings: PlugSettings,
        client: PlugClient,
        *,
        on_request: Callable[[str], None],
        on_problem: Callable[[Problem | None], None],
    ) -> None:
        self.settings = settings
        self.client = client
        self.machine = PlugMachine(
            mirror=settings.mirror, outage_s=max(OUTAGE_S, 4 * settings.poll_s)
        )
        self.worker = DeviceWorker(f"mihome-{settings.host}")
        self._on_request = on_request
        self._on_problem = on_problem
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self._poll_waiter: asyncio.Future[bool] | None = None
        self.failures = 0  # consecutive failed polls
        # Loop times of the latest poll starts (for tests). Bounded: a plug polled every
        # second for a month must not keep 2.6 million of them.
        self.polls: deque[float] = deque(maxlen=RECORD)

    def __repr__(self) -> str:
        s = self.settings
        return f"PlugLink({s.host}, loop={s.loop}, kind={s.kind}, {self.machine!r})"

    @property
    def loop_name(self) -> str:
        return self.settings.loop

    @staticmethod
    def _now() -> float:
        return time.monotonic()  # the event loop's own clock

    # -- the poll loop ------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.worker.start(self._loop)
        poll_s = self.settings.poll_s
        while not self._closing:
            started = self._now()
            try:
                if self._poll_waiter is None or self._poll_waiter.done():
                    ok = await self._poll()
                else:
                    ok = False  # the previous call is still stuck in the worker
            except Exception:  # never let one bad poll end the plug's polling
                log.exception("Mi Home plug %s: poll loop", self.settings.host)
                ok = False
            self.failures = 0 if ok else self.failures + 1
            delay = poll_s if ok else min(BACKOFF_MAX_S, poll_s * 2**self.failures)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, started + delay - self._now()))

    async def _poll(self) -> bool:
        assert self._loop is not None
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._poll_waiter = waiter
        self.polls.append(self._now())
        self.worker.submit(self.client.read, lambda outcome: self._polled(outcome, waiter))
        try:
            return await asyncio.wait_for(
                asyncio.shield(waiter), 3 * self.client.timeout_s + CALL_GRACE_S
            )
        except TimeoutError:
            self._report(describe(self.settings, "offline", "the call did not return", None))
            return False

    def _polled(self, outcome: Any, waiter: asyncio.Future[bool]) -> None:
        now = self._now()
        if isinstance(outcome, bool):
            self._report(None)
            self._perform(self.machine.polled(now, outcome))
        else:
            self.machine.polled(now, None)
            self._failed(outcome)
        if not waiter.done():
            waiter.set_result(isinstance(outcome, bool))

    def _failed(self, exc: BaseException) -> None:
        kind = getattr(exc, "kind", None)
        if kind is None:  # not a PlugFailure: a bug, or the unexpected
            log.error("Mi Home plug %s: poll failed", self.settings.host, exc_info=exc)
            kind, detail, code = "error", type(exc).__name__, None
        else:
            detail, code = str(getattr(exc, "detail", "")), getattr(exc, "code", None)
        self._report(describe(self.settings, str(kind), detail, code))

    def _report(self, problem: Problem | None) -> None:
        self._on_problem(problem)

    # -- switching --------------------------------------------------------------------

    def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Ask):
                self._on_request(action.action)
            elif isinstance(action, Switch):
                self._switch(action.on)

    def _switch(self, on: bool) -> None:
        def done(outcome: Any) -> None:
            ok = outcome is None
            if not ok:
                log.warning(
                    "could not switch Mi Home plug %s %s: %s",
                    self.settings.host,
                    "on" if on else "off",
                    outcome,
                )
            self._perform(self.machine.switched(self._now(), on, ok))

        log.info("switching Mi Home plug %s %s", self.settings.host, "on" if on else "off")
        self.worker.submit(lambda: self.client.switch(on), done)

    # -- news from the daemon ---------------------------------------------------------

    def answered(self, started: bool) -> None:
        self._perform(self.machine.answered(self._now(), started))

    def started_elsewhere(self) -> None:
        self._perform(self.machine.started_elsewhere(self._now()))

    def ended(self) -> None:
        self._perform(self.machine.ended(self._now()))

    @property
    def awaiting(self) -> bool:
        return self.machine.awaiting

    @property
    def active(self) -> bool:
        return self.machine.active

    async def close(self, timeout_s: float = 3.0) -> None:
        """Stop polling; let a queued switch-off reach the plug (bounded), then stop."""
        self._closing = True
        self._wake.set()
        if not await self.worker.close(timeout_s):
            log.warning("Mi Home plug %s: last command still running at exit", self.settings.host)
