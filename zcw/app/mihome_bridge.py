"""Mi Home glue: proxy plugs and a Bemfa switch as triggers, kept in step with the cycles.

Each device (a :class:`~zcw.adapters.mihome.plug.PlugLink` or the
:class:`~zcw.adapters.mihome.bemfa.BemfaLink`) turns what it sees into ``start``/``stop``,
which become requests from source ``mihome`` for its loop. This glue observes every
:class:`Status` like the other observers, and tells each device what became of the cycles of
its loop: its request answered (``cycle_started``/``joined``, or ``already_hot``/
``rejected``), a cycle from another trigger (for ``mirror``), and the end of the loop's
heating however it ended (``hot_ready``, ``cycle_aborted``, ``cycle_stopped``, shutdown).
Device problems become transient external faults, one per code, naming every device that
has it, and are cleared when the condition goes.

Everything here runs in the event loop; the devices' own threads only hand results over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from zcw.adapters.mihome.bemfa import BemfaLink, BemfaSettings
from zcw.adapters.mihome.plug import PlugClient, PlugLink, PlugSettings, Problem
from zcw.adapters.mihome.worker import DeviceWorker
from zcw.app.daemon import Daemon, Status
from zcw.config import Config, mihome_secrets
from zcw.domain.faults import Fault
from zcw.domain.model import Request, Source
from zcw.errors import ZcwError

log = logging.getLogger("zcw.mihome")

# (No square brackets: the CLI prints this through rich, which reads them as markup.)
INSTALL_HINT = (
    "install zcw's mihome extra, which pins python-miio 0.5.12 (README, \"Xiaomi: XiaoAI and "
    'Mi Home")'
)

STARTED = ("cycle_started", "joined")
REFUSED = ("already_hot", "rejected")
ENDED = ("hot_ready", "cycle_aborted", "cycle_stopped")


class Trigger(Protocol):
    """What the glue needs of a device."""

    @property
    def loop_name(self) -> str: ...

    @property
    def awaiting(self) -> bool: ...

    @property
    def active(self) -> bool: ...

    def answered(self, started: bool) -> None: ...

    def started_elsewhere(self) -> None: ...

    def ended(self) -> None: ...


class FaultBoard:
    """External faults per code, each naming every device that has that problem now."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon
        self._by_code: dict[str, dict[str, Problem]] = {}

    def report(self, device: str, problem: Problem | None) -> None:
        touched: set[str] = set()
        for code, devices in self._by_code.items():
            if device in devices and (problem is None or problem.code != code):
                del devices[device]
                touched.add(code)
        if problem is not None and self._by_code.get(problem.code, {}).get(device) != problem:
            if device not in self._by_code.get(problem.code, {}):
                log.warning("%s %s", problem.message, problem.hint)
            self._by_code.setdefault(problem.code, {})[device] = problem
            touched.add(problem.code)
        elif problem is None and touched:
            log.info("Mi Home device %s answers again", device)
        for code in touched:
            self._publish(code)

    def _publish(self, code: str) -> None:
        controller = self._daemon.controller
        problems = list(self._by_code.get(code, {}).values())
        if not problems:
            self._by_code.pop(code, None)
            controller.clear_external_fault(code)
            return
        hints = list(dict.fromkeys(p.hint for p in problems))
        controller.raise_external_fault(
            Fault(
                code,
                " ".join(p.message for p in problems),
                " ".join(hints),
                latching=False,
            )
        )

    def codes(self) -> dict[str, list[str]]:
        return {code: sorted(devices) for code, devices in self._by_code.items()}


class MihomeBridge:
    """All Mi Home devices of one daemon: run them, route the cycles to them, close them."""

    def __init__(self, daemon: Daemon, *, load_codec: Callable[[], object] | None = None) -> None:
        self.daemon = daemon
        self.plugs: list[PlugLink] = []
        self.bemfa: BemfaLink | None = None
        self.faults = FaultBoard(daemon)
        # What the plugs' calls need imported first (python-miio): slow, so it runs in a thread
        # when the devices start, not while the daemon starts.
        self._load_codec = load_codec
        daemon.observe(self._on_status)

    def __repr__(self) -> str:
        return f"MihomeBridge(plugs={self.plugs!r}, bemfa={self.bemfa!r})"

    @property
    def triggers(self) -> list[Trigger]:
        out: list[Trigger] = list(self.plugs)
        if self.bemfa is not None:
            out.append(self.bemfa)
        return out

    def add_plug(self, settings: PlugSettings, client: PlugClient) -> PlugLink:
        device = f"plug {settings.host}"
        link = PlugLink(
            settings,
            client,
            on_request=lambda action: self._submit(action, settings.loop, settings.who),
            on_problem=lambda problem: self.faults.report(device, problem),
        )
        self.plugs.append(link)
        return link

    def add_bemfa(self, settings: BemfaSettings) -> BemfaLink:
        link = BemfaLink(
            settings,
            on_request=lambda action: self._submit(
                action, settings.loop, f"Bemfa switch {settings.topic}"
            ),
            on_problem=lambda problem: self.faults.report("bemfa", problem),
        )
        self.bemfa = link
        return link

    def _submit(self, action: str, loop: str, who: str) -> None:
        log.info("%s: %s %s", who, action, loop)
        if action == "stop":
            self.daemon.submit(Request("stop", Source.MIHOME, loop))
        else:
            self.daemon.submit(Request("start", Source.MIHOME, loop))

    # -- the cycles -------------------------------------------------------------------

    def _on_status(self, status: Status) -> None:
        triggers = self.triggers
        for event in status.events:
            mine = [t for t in triggers if event.loop is None or t.loop_name == event.loop]
            if event.kind in STARTED and event.loop is not None:
                for t in mine:
                    if event.source is Source.MIHOME and t.awaiting:
                        t.answered(True)
                    else:
                        t.started_elsewhere()
            elif event.kind in REFUSED and event.source is Source.MIHOME and event.loop:
                for t in mine:
                    if t.awaiting:
                        t.answered(False)
            elif event.kind in ENDED:
                for t in mine:
                    t.ended()
        # Belt and braces: a device whose loop is no longer heating has seen its cycle end.
        for t in triggers:
            view = status.snapshot.loops.get(t.loop_name)
            if t.active and not t.awaiting and (view is None or view.state != "heating"):
                t.ended()

    # -- life cycle -------------------------------------------------------------------

    async def run(self) -> None:
        plugs = self.plugs
        if plugs and self._load_codec is not None:
            failure = await _in_a_thread(self._load_codec)
            if failure is not None:
                # Found at start-up but broken (miio_installed only looked for it): say so as a
                # fault on every plug, and leave the plugs alone; Bemfa and the rest run on.
                problem = Problem(
                    "mihome_error",
                    f"python-miio cannot be imported ({failure}), so no Mi Home plug is polled.",
                    INSTALL_HINT[0].upper() + INSTALL_HINT[1:] + ".",
                )
                for p in plugs:
                    self.faults.report(f"plug {p.settings.host}", problem)
                plugs = []
        tasks = [asyncio.create_task(p.run()) for p in plugs]
        if self.bemfa is not None:
            tasks.append(asyncio.create_task(self.bemfa.run()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """After the relays are off: let the last switch-offs out, then stop every device."""
        closing = [p.close() for p in self.plugs]
        if self.bemfa is not None:
            closing.append(self.bemfa.close())
        await asyncio.gather(*closing, return_exceptions=True)


async def _in_a_thread(call: Callable[[], object]) -> Exception | None:
    """Run ``call`` in a thread of its own, which then ends; what it raised, if anything."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Exception | None] = loop.create_future()

    def finished(outcome: Any) -> None:
        if not done.done():  # (cancelled: the daemon stopped meanwhile)
            done.set_result(outcome if isinstance(outcome, Exception) else None)

    worker = DeviceWorker("miio-import")
    worker.start(loop)
    worker.submit(call, finished)
    try:
        return await done
    finally:
        await worker.close(0.0)


def build_mihome(cfg: Config, daemon: Daemon) -> MihomeBridge:
    """The Mi Home devices ``[mihome]`` names. python-miio is looked for now if a plug is, and
    imported only when the devices start (:meth:`MihomeBridge.run`)."""
    m = cfg.mihome
    assert m is not None
    tokens, key = mihome_secrets(m)
    default_loop = cfg.loops[0].name
    if not m.proxy:
        bridge = MihomeBridge(daemon)
    else:
        from zcw.adapters.mihome.miio_client import MiioPlug, load_codec, miio_installed

        if not miio_installed():
            raise ZcwError(
                "the config names a Mi Home proxy plug, but python-miio cannot be imported; "
                + INSTALL_HINT
            )
        bridge = MihomeBridge(daemon, load_codec=load_codec)
        logging.getLogger("miio").setLevel(logging.INFO)  # its debug lines print hello checksums
        for i, (px, token) in enumerate(zip(m.proxy, tokens, strict=True)):
            settings = PlugSettings(
                index=i,
                host=px.host,
                name=px.label,
                loop=px.loop or default_loop,
                token=token,
                kind=px.kind,
                siid=px.siid,
                piid=px.piid,
                poll_s=px.poll_s,
                mirror=px.mirror,
            )
            client = MiioPlug(px.host, token, kind=px.kind, siid=px.siid, piid=px.piid)
            bridge.add_plug(settings, client)
            log.info(
                "Mi Home plug %s (%s, %s) starts loop %s; polled every %g s",
                px.label,
                px.host,
                px.kind,
                settings.loop,
                px.poll_s,
            )
    if m.bemfa is not None and key is not None:
        b = m.bemfa
        bridge.add_bemfa(
            BemfaSettings(
                topic=b.topic,
                loop=b.loop or default_loop,
                key=key,
                host=b.host,
                port=b.resolved_port,
                tls=b.tls,
                ca_file=b.ca_file,
            )
        )
    return bridge
