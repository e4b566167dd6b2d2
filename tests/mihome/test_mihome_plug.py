"""The plug link with a scripted client: calls off the event loop and in order, backoff,
faults raised at the first failure and cleared at the first success."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

from zcw.adapters.mihome.miio_client import PlugFailure
from zcw.adapters.mihome.plug import PlugLink, PlugSettings, Problem
from zcw.adapters.mihome.worker import DeviceWorker


class Scripted:
    """A plug client whose reads follow a script: True/False, or a failure kind."""

    timeout_s = 0.2

    def __init__(self, script: list[bool | str], *, block_s: float = 0.0) -> None:
        self.script = list(script)
        self.block_s = block_s
        self.threads: set[str] = set()
        self.switched: list[bool] = []

    def read(self) -> bool:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.block_s)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, str):
            raise PlugFailure("offline" if step == "fail" else step, "scripted")  # type: ignore[arg-type]
        return step

    def switch(self, on: bool) -> None:
        self.switched.append(on)


def link(client: Scripted, poll_s: float = 0.5) -> tuple[PlugLink, list[str], list[Problem | None]]:
    asks: list[str] = []
    problems: list[Problem | None] = []
    settings = PlugSettings(
        index=0, host="10.0.0.9", name="10.0.0.9", loop="bathroom", token="00" * 16, poll_s=poll_s
    )
    return (
        PlugLink(settings, client, on_request=asks.append, on_problem=problems.append),
        asks,
        problems,
    )


def test_a_blocking_plug_never_stalls_the_event_loop() -> None:
    client = Scripted([False], block_s=0.5)
    plug, _, _ = link(client)

    async def main() -> float:
        task = asyncio.create_task(plug.run())
        worst, last = 0.0, time.monotonic()
        end = last + 1.5
        while time.monotonic() < end:  # a 10 ms "tick" beside the polls
            await asyncio.sleep(0.01)
            now = time.monotonic()
            worst, last = max(worst, now - last), now
        await plug.close()
        task.cancel()
        return worst

    worst = asyncio.run(main())
    assert worst < 0.1, f"the loop stalled {worst * 1000:.0f} ms"
    assert client.threads == {"zcw-mihome-10.0.0.9"}


def test_failures_back_off_and_the_fault_comes_and_goes() -> None:
    client = Scripted([False, "fail", "fail", "fail", False])
    plug, asks, problems = link(client, poll_s=0.5)

    async def main() -> None:
        task = asyncio.create_task(plug.run())
        while len(plug.polls) < 5:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await plug.close()
        task.cancel()

    asyncio.run(main())
    gaps = [b - a for a, b in itertools.pairwise(plug.polls)]
    # 0.5 s apart while it answers; after failures 1 s, 2 s, 4 s (0.5 × 2^n, ≤ 60 s)
    assert [round(g, 1) for g in gaps[:4]] == [0.5, 1.0, 2.0, 4.0]
    codes = [p.code if p else None for p in problems]
    assert codes == [None, "mihome_offline", "mihome_offline", "mihome_offline", None]
    assert asks == []


def test_results_reach_the_loop_in_the_order_the_calls_ran() -> None:
    worker = DeviceWorker("order")
    seen: list[int] = []

    async def main() -> None:
        worker.start(asyncio.get_running_loop())

        def call(i: int) -> int:
            time.sleep(0.001 * (i % 3))
            return i

        for i in range(50):
            worker.submit(lambda i=i: call(i), seen.append)  # type: ignore[misc]
        assert await worker.close(5.0)
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert seen == list(range(50))


def test_a_month_of_polls_keeps_a_bounded_record() -> None:
    """The poll times are kept for tests; a daemon polling every second for months must not
    keep them all (it grew 2.8 MB a day)."""
    client = Scripted([False])
    plug, _, _ = link(client, poll_s=0.5)
    loop_time = [0.0]
    plug._now = lambda: loop_time[0]  # type: ignore[method-assign]

    async def main() -> None:
        plug._loop = asyncio.get_running_loop()
        plug.worker.start(plug._loop)
        for _ in range(3000):
            loop_time[0] += 0.5
            await plug._poll()
        await plug.close()

    asyncio.run(main())
    assert 0 < len(plug.polls) <= 100
    assert plug.polls[-1] == loop_time[0]
