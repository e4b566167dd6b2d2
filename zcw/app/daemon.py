"""The control tick: poll the bridge, step the core, command the relays, tell the observers.

One :class:`Daemon` per process. It is synchronous and does no waiting, so the same object is
driven by the asyncio runner in production, by a lockstep loop in simulation, and directly by
tests. Trigger adapters (MQTT, Mi Home, schedule, control socket, dashboard keys) only call
:meth:`Daemon.submit`; nothing else reaches into the core.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from zcw.app.wiring import Wiring
from zcw.domain.controller import Controller, Decision, Phase, Snapshot
from zcw.domain.model import Event, Relays, Request, Source
from zcw.ports import Clock, Hardware, HardwareState

log = logging.getLogger("zcw")


@dataclass(frozen=True, slots=True)
class Status:
    """What observers get every tick: the core's snapshot plus what the bridge confirmed."""

    snapshot: Snapshot
    confirmed: Relays
    bridge_online: bool
    bridge_detail: str
    events: tuple[Event, ...]
    # False when this tick raised and everything was turned off instead (I7): the systemd
    # watchdog is fed only by healthy ticks.
    healthy: bool = True
    bridge_firmware: str = ""


Observer = Callable[[Status], None]


class Daemon:
    """Owns the controller and the hardware; everything else observes or submits."""

    def __init__(
        self,
        wiring: Wiring,
        hardware: Hardware,
        clock: Clock,
        *,
        buttons: Mapping[int, str] | None = None,
    ) -> None:
        self.wiring = wiring
        self.hardware = hardware
        self.clock = clock
        self.controller = Controller(wiring.params, now_s=clock.now_s())
        loops = wiring.params.loop_names
        # Button i starts loop i by default; a short press starts, a long press stops.
        self.buttons = dict(buttons) if buttons is not None else dict(enumerate(loops))
        self._queue: deque[Request] = deque()
        self._observers: list[Observer] = []
        self._closed = False
        self.on_submit: Callable[[], None] | None = None
        self._bridge_online: bool | None = None
        self._settled = False  # see quiet
        self.status: Status | None = None

    def __repr__(self) -> str:
        phase = self.controller.phase
        return (
            f"Daemon(phase={phase}, loops={self.wiring.params.loop_names}, closed={self._closed})"
        )

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    @property
    def quiet(self) -> bool:
        """Nothing under way that needs the tick at its full pace: the last tick was healthy,
        the bridge online, no cycle, every relay off (asked and confirmed), no start held for a
        reading, and nothing queued. The runner then ticks less often (``IDLE_TICK_S``): no
        relay needs refreshing, and a request or a button press wakes the tick at once."""
        return self._settled and not self._queue

    def submit(self, request: Request) -> None:
        """Queue a request for the next tick (call from the event-loop thread only).

        The runner's ``on_submit`` hook wakes the tick at once, so a button or MQTT command
        reaches the relays in milliseconds rather than at the next 0.25 s tick.
        """
        self._queue.append(request)
        if self.on_submit is not None:
            self.on_submit()

    def tick(self) -> Status:
        now = self.clock.now_s()
        hw = HardwareState(online=False, readings={}, confirmed={}, detail="not polled")
        healthy = True
        try:
            hw = self.hardware.poll()
            self._log_bridge(hw)
            if hw.rebooted:
                self.controller.notify_bridge_rebooted()
            requests = list(self._queue) + self._presses(hw)
            self._queue.clear()
            if any(r.action == "reset" for r in requests):
                self.hardware.reset_latches()  # the bridge's own latches go with zcw's
            for notice in hw.notices:
                log.warning(
                    "bridge: %s on channel %s: %s", notice.kind, notice.channel, notice.detail
                )
            decision: Decision = self.controller.step(
                now,
                self.wiring.readings(hw.readings),
                requests,
                bridge_online=hw.online,
                notices=[self.wiring.notice(n) for n in hw.notices],
            )
        except Exception as exc:  # I7: anything unknown turns everything off
            log.exception("control tick failed; turning everything off")
            decision = self.controller.fail_safe(now, type(exc).__name__)
            healthy = False
        try:
            self.hardware.apply(self.wiring.command(decision.relays))
        except Exception:  # the bridge's dead-man and deadlines keep the relays safe
            log.exception("could not send relay command to the bridge")
        for event in decision.events:
            _log_event(event)
        for veto in decision.vetoes:
            if veto.new:  # a veto that still holds was logged when it began
                log.warning("safety veto %s on %s: %s", veto.rule, veto.loop or "-", veto.detail)
        self._settled = (
            healthy
            and hw.online
            and decision.snapshot.phase is Phase.IDLE
            and decision.relays.all_off
            and not any(hw.confirmed.values())
            and not self.controller.holding
        )
        self.status = Status(
            snapshot=decision.snapshot,
            confirmed=self.wiring.confirmed(hw.confirmed),
            bridge_online=hw.online,
            bridge_detail=hw.detail,
            events=decision.events,
            healthy=healthy,
            bridge_firmware=hw.firmware,
        )
        self._notify(self.status)
        return self.status

    def _notify(self, status: Status) -> None:
        for observer in self._observers:
            try:
                observer(status)
            except Exception:  # an observer (MQTT, dashboard) must never stop control
                log.exception("observer %r failed", observer)

    def shutdown(self) -> None:
        """Relays OFF first, then release the hardware (docs/safety.md, layer 4). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._settled = False
        off = Relays.off(self.wiring.params.loop_names)
        try:
            self.hardware.apply(self.wiring.command(off))
        finally:
            self.hardware.close()
        log.info("relays off; daemon stopped")
        # One last status, so observers (the store, MQTT's retained state) end with the cycle
        # over and the relays off.
        decision = self.controller.shut_down(self.clock.now_s())
        for event in decision.events:
            _log_event(event)
        if self.status is not None:
            self.status = replace(
                self.status, snapshot=decision.snapshot, confirmed=off, events=decision.events
            )
            self._notify(self.status)

    def _presses(self, hw: HardwareState) -> list[Request]:
        out = []
        for press in hw.presses:
            loop = self.buttons.get(press.button)
            if loop is None:
                log.warning("button %d is not mapped to a loop; ignored", press.button)
                continue
            if press.long:
                out.append(Request("stop", Source.BUTTON))
            else:
                out.append(Request("start", Source.BUTTON, loop))
        return out

    def _log_bridge(self, hw: HardwareState) -> None:
        # Log transitions only, once each way (like Home Assistant's unavailable logging).
        if hw.online != self._bridge_online:
            if hw.online:
                log.info("bridge online %s", hw.detail)
            elif self._bridge_online is None:
                log.info("connecting to the bridge: %s", hw.detail)
            else:
                log.warning("bridge offline: %s", hw.detail or "no answer")
            self._bridge_online = hw.online


def _log_event(event: Event) -> None:
    parts: list[str] = [event.kind]
    if event.loop:
        parts.append(f"loop={event.loop}")
    if event.source:
        parts.append(f"source={event.source}")
    if event.reason:
        parts.append(f"reason={event.reason}")
    parts += [f"{k}={v}" for k, v in event.data.items()]
    level = (
        logging.WARNING if event.kind in ("fault", "cycle_aborted", "rejected") else logging.INFO
    )
    log.log(level, " ".join(parts))
