"""The proxy plug against the real daemon: adapters built by the composition root, the
simulated house in lockstep (``--speed``), and the emulated plug on 127.0.0.x speaking miIO."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

from conftest import TOKEN, answers, live, proxy, settle, sim_config

from zcw.adapters.mihome.plug import Problem
from zcw.app.mihome_bridge import FaultBoard
from zcw.app.state_json import status_dict
from zcw.config import parse_config
from zcw.domain.model import Request, Source
from zcw.testing.miio_device import MiioDevice

MEASURED: dict[str, object] = {}


def test_switch_on_starts_a_cycle_within_poll_s_and_hot_ready_switches_it_off(
    plug: MiioDevice, tmp_path: Path
) -> None:
    poll_s = 0.5
    latencies: list[float] = []
    rng = random.Random(1)
    for run in range(3):  # a fresh daemon each time: a hot pipe would answer already_hot
        with live(sim_config(tmp_path / str(run), proxy(plug, poll_s=poll_s)), speed=10) as lv:
            settle(lv, plug)
            time.sleep(rng.uniform(0.0, poll_s))  # any phase of the poll
            t0 = time.monotonic()
            plug.user_set(True)  # as a user would: the app, a scene, XiaoAI
            lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 3, "start")
            latencies.append(lv.events("cycle_started", "mihome")[0] - t0)
            lv.wait(lambda: bool(lv.events("hot_ready")), 20, "hot_ready")
            hot_at = lv.events("hot_ready")[0]
            lv.wait(lambda: not plug.on, 3, "the plug switched off")
            # The one switch command of the cycle, sent at hot_ready (the glue observes the
            # status before this test's recorder does, so it may even be logged first).
            offs = [r for r in plug.log("set_properties") if r.at > t0]
            assert len(offs) == 1 and offs[0].params[0]["value"] is False
            assert abs(offs[0].at - hot_at) < 0.5
            settle(lv, plug)

            def last_cycle() -> str | None:
                status = lv.sim.daemon.status
                ended = None if status is None else status.snapshot.last_cycle
                return None if ended is None else str(ended.source)

            # hot_ready is not the cycle's end: the valve's close and the pump's stop follow
            # (phase STOPPING), and a loaded machine may take more than one poll over them.
            lv.wait(lambda: last_cycle() is not None, 10, "the cycle's end")
            assert last_cycle() == "mihome"
            assert answers(lv) == 1  # zcw's own switch-off asked for nothing
    assert max(latencies) <= poll_s + 0.5, latencies
    MEASURED["latency_s"] = latencies
    print(f"\nplug on → cycle_started: {', '.join(f'{x * 1000:.0f} ms' for x in latencies)}")


def test_silence_mid_cycle_faults_within_10_s_and_the_cycle_ends_normally(
    plug: MiioDevice, tmp_path: Path
) -> None:
    with live(sim_config(tmp_path, proxy(plug)), speed=2) as lv:
        settle(lv, plug)
        plug.user_set(True)
        lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 3, "start")
        t0 = time.monotonic()
        plug.silent = True
        t_fault = lv.wait(lambda: lv.fault("mihome_offline") is not None, 10, "offline fault")
        fault = lv.fault("mihome_offline")
        assert fault is not None and plug.host in fault.message and not fault.latching
        assert not lv.events("cycle_aborted")
        lv.wait(lambda: bool(lv.events("hot_ready")), 30, "hot_ready despite the silent plug")

        def last_outcome() -> str | None:
            status = lv.sim.daemon.status
            last = status.snapshot.last_cycle if status else None
            return last.outcome if last else None

        lv.wait(lambda: last_outcome() is not None, 5, "the cycle's end")
        assert last_outcome() == "hot"
        assert plug.on  # zcw's switch-off did not get through
        plug.silent = False
        lv.wait(lambda: lv.fault("mihome_offline") is None, 70, "the fault to clear")
        lv.wait(lambda: not plug.on, 5, "the plug switched off once it answers")
        settle(lv, plug)
        assert answers(lv) == 1  # the plug found on after the outage was not obeyed
    MEASURED["silence_fault_s"] = t_fault - t0
    print(f"\nsilent plug → fault after {t_fault - t0:.1f} s")


def test_a_wrong_token_is_a_fault_and_never_a_cycle(plug: MiioDevice, tmp_path: Path) -> None:
    wrong = "0f" * 16
    mihome = {"proxy": [{"host": plug.host, "token": wrong, "poll_s": 0.5}]}
    with live(sim_config(tmp_path, mihome), speed=10) as lv:
        t0 = time.monotonic()
        plug.user_set(True)
        took = lv.wait(lambda: lv.fault("mihome_token") is not None, 15, "token fault") - t0
        fault = lv.fault("mihome_token")
        assert fault is not None
        assert "token" in fault.message and plug.host in fault.message
        text = fault.message + fault.hint
        assert wrong not in text and TOKEN not in text
        time.sleep(1.0)
        assert answers(lv) == 0 and plug.log() == []
        everything = repr(lv.adapters.tasks) + repr(lv.adapters.closers) + repr(lv.sim.daemon)
        status = lv.sim.daemon.status
        assert status is not None
        everything += json.dumps(status_dict(status))
        assert wrong not in everything and "mihome_token" in everything
    MEASURED["token_fault_s"] = took
    print(f"\nwrong token → fault after {took:.1f} s")


def test_a_legacy_query_to_a_miot_plug_says_set_kind_miot(plug: MiioDevice, tmp_path: Path) -> None:
    with live(sim_config(tmp_path, proxy(plug, kind="miio_plug")), speed=10) as lv:
        lv.wait(lambda: lv.fault("mihome_kind") is not None, 5, "kind fault")
        fault = lv.fault("mihome_kind")
        assert fault is not None and "-9999" in fault.message and plug.host in fault.message
        assert 'kind = "miot"' in fault.hint and "mihome.proxy[0]" in fault.hint
        plug.user_set(True)
        time.sleep(1.0)
        assert answers(lv) == 0


def test_a_wrong_siid_piid_is_named(plug: MiioDevice, tmp_path: Path) -> None:
    with live(sim_config(tmp_path, proxy(plug, siid=3)), speed=10) as lv:
        lv.wait(lambda: lv.fault("mihome_property") is not None, 5, "property fault")
        fault = lv.fault("mihome_property")
        assert fault is not None and "siid = 3" in fault.message and "-4003" in fault.message


def test_a_plug_left_on_at_start_up_is_switched_off_not_obeyed(tmp_path: Path) -> None:
    with MiioDevice(token=TOKEN, on=True) as plug, live(sim_config(tmp_path, proxy(plug))) as lv:
        lv.wait(lambda: not plug.on, 5, "the plug switched off")
        settle(lv, plug)
        time.sleep(0.5)
        assert answers(lv) == 0 and plug.switched_to() == [False]


def test_a_users_switch_off_stops_the_cycle(plug: MiioDevice, tmp_path: Path) -> None:
    with live(sim_config(tmp_path, proxy(plug)), speed=1) as lv:
        settle(lv, plug)
        plug.user_set(True)
        lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 3, "start")
        plug.user_set(False)
        lv.wait(lambda: bool(lv.events("cycle_stopped", "mihome")), 3, "stop")
        time.sleep(1.0)
        assert plug.switched_to() == []  # the plug was off already: nothing to switch
        assert answers(lv) == 1


def test_mirror_shows_other_triggers_cycles_without_a_feedback_loop(
    plug: MiioDevice, tmp_path: Path
) -> None:
    with live(sim_config(tmp_path, proxy(plug, mirror=True)), speed=10) as lv:
        settle(lv, plug)
        lv.sim.do(lambda: lv.sim.daemon.submit(Request("start", Source.CLI)))
        lv.wait(lambda: plug.on, 3, "the plug mirrored on")
        lv.wait(lambda: bool(lv.events("hot_ready")), 20, "hot_ready")
        lv.wait(lambda: not plug.on, 3, "the plug off again")
        settle(lv, plug)
        assert plug.switched_to() == [True, False]
        assert answers(lv) == 0  # zcw's own switch-on asked for nothing
        assert len(lv.events("cycle_started")) == 1


def test_two_plugs_two_loops_and_one_fault_naming_both(tmp_path: Path) -> None:
    from zcw.config import config_for_house_loops

    cfg = config_for_house_loops(["far", "near"], "H4")
    with MiioDevice(token=TOKEN) as far, MiioDevice(token=TOKEN, kind="miio_plug") as near:
        mihome = {
            "proxy": [
                {"host": far.host, "token": TOKEN, "poll_s": 0.5, "loop": "far"},
                {"host": near.host, "token": TOKEN, "poll_s": 0.5, "loop": "near"}
                | {"kind": "miio_plug"},
            ]
        }
        data = cfg.model_dump(mode="json", exclude_none=True)
        data["control"] |= {"min_rest_s": 0, "socket": str(tmp_path / "s")}
        data["store"] = {"path": str(tmp_path / "h.db")}
        data["mihome"] = mihome
        with live(parse_config(data), speed=10) as lv:
            settle(lv, near)
            near.user_set(True)
            lv.wait(lambda: bool(lv.events("cycle_started", "mihome")), 3, "start")
            assert lv.sim.daemon.status is not None
            assert lv.sim.daemon.status.snapshot.loops["near"].state == "heating"
            assert lv.sim.daemon.status.snapshot.loops["far"].state == "idle"
            assert far.switched_to() == []  # not mirrored: the far plug stays as it is
            far.silent = near.silent = True
            lv.wait(
                lambda: (
                    (f := lv.fault("mihome_offline")) is not None
                    and far.host in f.message
                    and near.host in f.message
                ),
                10,
                "one fault naming both plugs",
            )
            assert [f.code for f in lv.faults()].count("mihome_offline") == 1
            far.silent = False
            lv.wait(
                lambda: (f := lv.fault("mihome_offline")) is not None and far.host not in f.message,
                20,
                "the fault to name only the silent plug",
            )


def test_one_fault_per_code_names_every_device(tmp_path: Path) -> None:
    from zcw.app.sim import build_sim
    from zcw.config import default_config

    daemon = build_sim(default_config()).daemon
    board = FaultBoard(daemon)

    def codes() -> list[tuple[str, str]]:
        return [(f.code, f.message) for f in daemon.controller.faults]

    board.report("a", Problem("mihome_offline", "A is silent.", "Check A."))
    board.report("b", Problem("mihome_offline", "B is silent.", "Check B."))
    assert codes() == [("mihome_offline", "A is silent. B is silent.")]
    board.report("a", Problem("mihome_token", "A: token.", "Token."))
    assert sorted(codes()) == [("mihome_offline", "B is silent."), ("mihome_token", "A: token.")]
    board.report("a", None)
    board.report("b", None)
    assert codes() == []


def test_python_miio_is_imported_only_when_a_plug_is_configured(tmp_path: Path) -> None:
    """Not by building the adapters either (it would hold up READY): by the Mi Home glue
    when its devices start, in a thread of their own."""
    script = f"""
import asyncio, sys, tomllib
from importlib import resources
from zcw.adapters.mihome.miio_client import load_codec
from zcw.app.compose import build_adapters
from zcw.app.sim import build_sim
from zcw.config import parse_config
base = tomllib.loads(resources.files("zcw").joinpath("default.toml").read_text())
base["store"] = {{"path": "{tmp_path / "h.db"}"}}
for mihome in (None, {{"bemfa": {{"topic": "zcw006", "key": "k", "port": 1}}}},
               {{"proxy": [{{"host": "127.0.0.1", "token": "{TOKEN}"}}]}}):
    data = dict(base) if mihome is None else dict(base, mihome=mihome)
    cfg = parse_config(data)
    adapters = build_adapters(cfg, build_sim(cfg).daemon)
    print("miio" in sys.modules)

async def start_the_devices() -> None:
    mihome = asyncio.create_task(adapters.tasks[-1]())  # the last config's Mi Home glue
    for _ in range(600):
        if load_codec.cache_info().currsize:
            break
        await asyncio.sleep(0.05)
    for close in adapters.closers:
        await close()
    mihome.cancel()

asyncio.run(start_the_devices())
print("miio" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False", "True"]


class _Plug:
    """A plug client that only counts its calls."""

    timeout_s = 1.0

    def __init__(self) -> None:
        self.calls = 0

    def read(self) -> bool:
        self.calls += 1
        return False

    def switch(self, on: bool) -> None:
        self.calls += 1


def test_a_python_miio_found_but_failing_to_import_is_a_fault_and_its_plugs_rest() -> None:
    """python-miio is only looked for at start-up; if its import then fails (a broken install),
    its plugs say so as a fault and are not polled, and the daemon goes on."""
    import asyncio

    from zcw.adapters.mihome.plug import PlugSettings
    from zcw.app.mihome_bridge import MihomeBridge
    from zcw.app.sim import build_sim
    from zcw.config import default_config

    def broken() -> object:
        raise ImportError("No module named 'construct'")

    daemon = build_sim(default_config()).daemon
    bridge = MihomeBridge(daemon, load_codec=broken)
    plug = _Plug()
    bridge.add_plug(
        PlugSettings(index=0, host="127.0.0.9", name="127.0.0.9", loop="bathroom", token=TOKEN),
        plug,
    )

    async def run_a_while() -> None:
        task = asyncio.create_task(bridge.run())
        await asyncio.sleep(0.5)
        await bridge.close()
        await asyncio.wait_for(task, 5.0)

    asyncio.run(run_a_while())
    faults = [(f.code, f.message) for f in daemon.controller.faults]
    assert [code for code, _ in faults] == ["mihome_error"]
    assert "python-miio cannot be imported" in faults[0][1] and plug.calls == 0
