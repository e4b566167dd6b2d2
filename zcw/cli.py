"""The `zcw` command: parse arguments, call into ``zcw.app``, render with rich. Nothing more."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from zcw import __version__
from zcw.config import (
    Config,
    ConfigError,
    advice,
    config_for_house_loops,
    default_config,
    find_config,
    format_problems,
    load_config,
    simulation_config,
    simulation_sockets,
)
from zcw.errors import ControlSocketError, ZcwError
from zcw.ui.wording import (
    commission_failure,
    commission_figures,
    commission_verdict,
    event_text,
    learned_text,
    outcome_text,
)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
CONFIG_HELP = "config file (TOML); default: $ZCW_CONFIG, /etc/zcw/zcw.toml, ~/.config/zcw/zcw.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zcw",
        description="zcw: hot water at the tap on demand (zero cold water controller).",
    )
    p.add_argument("--version", action="version", version=f"zcw {__version__}")
    p.add_argument("-c", "--config", type=Path, default=None, help=CONFIG_HELP)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def config_arg(sp: argparse.ArgumentParser, *, sim: bool = True) -> None:
        # SUPPRESS: `zcw -c FILE status` and `zcw status -c FILE` both work.
        sp.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS, help=CONFIG_HELP)
        if sim and sp.prog.split()[1:2] != ["run"]:
            sp.add_argument(
                "--sim",
                nargs="?",
                const="R0",
                default=argparse.SUPPRESS,
                metavar="HOUSE",
                help="talk to the daemon of `zcw run --sim [HOUSE]` (default house R0)",
            )

    run = sub.add_parser("run", help="run the daemon")
    config_arg(run)
    run.add_argument(
        "--sim",
        nargs="?",
        const="",
        metavar="HOUSE",
        help="simulated plumbing and bridge; HOUSE is R0 (default), H1…H4 or a house TOML file",
    )
    run.add_argument("--speed", type=float, default=1.0, help="simulation speed (× real time)")
    run.add_argument("--no-dashboard", action="store_true", help="log plainly even on a terminal")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    check = cfg_sub.add_parser("check", help="validate a config file; exit 0 if valid, 2 if not")
    config_arg(check, sim=False)

    status = sub.add_parser("status", help="the running daemon's state; exit 1 in fault")
    config_arg(status)
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    start = sub.add_parser("start", help="start a cycle on LOOP (default: the first loop)")
    config_arg(start)
    start.add_argument("loop", nargs="?", help="loop name")
    for name, text in (("stop", "stop the running cycle"), ("reset", "clear latched faults")):
        config_arg(sub.add_parser(name, help=text))
    mode = sub.add_parser("mode", help="away (hold scheduled and learned pre-heats) or auto")
    config_arg(mode)
    mode.add_argument("mode", choices=["away", "auto"])
    commission = sub.add_parser(
        "commission",
        help="the installer's first cycle on LOOP, watched: measure its transit, its sensor's "
        "lag and the volume, and judge where the sensor sits",
    )
    config_arg(commission)
    commission.add_argument("loop", nargs="?", help="loop name (default: the first loop)")
    history = sub.add_parser("history", help="recent cycles and faults")
    config_arg(history)
    history.add_argument("--json", action="store_true", help="print as JSON")
    monitor = sub.add_parser("monitor", help="follow the daemon's events live")
    config_arg(monitor)
    sched = sub.add_parser("schedule", help="pre-heats: list, add or remove (kept across restarts)")
    sched_sub = sched.add_subparsers(dest="op", metavar="OP")
    config_arg(sched_sub.add_parser("list", help="what is scheduled, with the next times"))
    add = sched_sub.add_parser("add", help='hot water at LOOP by AT, e.g. "bathroom 06:50 mon-fri"')
    config_arg(add)
    add.add_argument("loop")
    add.add_argument("at", help="HH:MM: when the water should be hot")
    add.add_argument("days", nargs="?", default="daily", help="mon-fri, sat,sun, daily (default)")
    remove = sched_sub.add_parser("remove", help="remove an entry by its id (see list)")
    config_arg(remove)
    remove.add_argument("id", help="e.g. bathroom@06:50/mon-fri")
    config_arg(
        sched_sub.add_parser("reset", help="drop every run-time edit; the file's schedule runs")
    )
    config_arg(
        sched_sub.add_parser("suggest", help="the learned plan, its confidence and a heat map")
    )
    learned = sched_sub.add_parser(
        "learned", help="run the learned plan (on), stop it (off), or as the file says (default)"
    )
    config_arg(learned)
    learned.add_argument("state", choices=("on", "off", "default"))
    away = sub.add_parser("away", help="away dates: list, add FROM TO, or clear")
    away_sub = away.add_subparsers(dest="op", metavar="OP")
    config_arg(away_sub.add_parser("list", help="the away dates"))
    away_add = away_sub.add_parser("add", help="away from FROM to TO (YYYY-MM-DD, both included)")
    config_arg(away_add)
    away_add.add_argument("first", metavar="FROM")
    away_add.add_argument("last", metavar="TO")
    config_arg(away_sub.add_parser("clear", help="drop the away dates added at run time"))
    setup = sub.add_parser(
        "setup", help="find the Pico, tell its sensors apart, write /etc/zcw/zcw.toml"
    )
    setup.add_argument("--port", help="the Pico's serial device (default: find it)")
    setup.add_argument(
        "--loop",
        action="append",
        default=[],
        metavar="NAME:RELAY[:ROM]",
        help="a far tap: its name, its valve's relay channel, its sensor's ROM id "
        "(without the ROM you warm the sensor by hand to pick it); repeat per loop",
    )
    setup.add_argument("--cold", action="append", default=[], metavar="LOOP:ROM")
    setup.add_argument("--outlet", metavar="ROM", help="a sensor on the heater outlet")
    setup.add_argument(
        "--topology", choices=["crossover", "return_line", "drain"], default="crossover"
    )
    setup.add_argument("--pump-relay", type=int, default=0)
    setup.add_argument("--flow-lpm", type=float, help="the pump's flow, measured with a bucket")
    setup.add_argument("--timezone", help="IANA zone (default: this machine's)")
    setup.add_argument("--socket", default="/run/zcw/zcw.sock")
    setup.add_argument("--store", default="/var/lib/zcw/history.db")
    setup.add_argument("--output", type=Path, default=Path("/etc/zcw/zcw.toml"))
    setup.add_argument("--force", action="store_true", help="overwrite an existing file")
    bench = sub.add_parser("bench", help="compare control strategies on simulated houses")
    bench.add_argument("--house", action="append", default=[], metavar="NAME|FILE")
    bench.add_argument("--strategy", action="append", default=[], metavar="NAME")
    bench.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    bench.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    bench.add_argument(
        "--json",
        action="store_true",
        help="print the results as strict JSON (fields: docs/benchmark.md)",
    )
    bench.add_argument(
        "--scenario",
        choices=("day", "week"),
        default="day",
        help="day: one day of triggers (default); week: a family's fortnight, learned pre-heat",
    )
    bench.add_argument(
        "--learning-days",
        type=int,
        default=1,
        metavar="N",
        help="days zcw lives on each house before the measured day (default 1; 0 = fresh)",
    )
    bench.add_argument(
        "--no-commission",
        action="store_true",
        help="skip `zcw commission` on each loop before zcw's first day (the installer's step)",
    )
    bridge = sub.add_parser("bridge", help="look at the bridge directly (daemon stopped)")
    bridge_sub = bridge.add_subparsers(dest="bridge_command", metavar="SUBCOMMAND")
    info = bridge_sub.add_parser("info", help="firmware version, sensors, relays, boot reason")
    config_arg(info)
    console = bridge_sub.add_parser("console", help="decoded live frames from the bridge")
    flash = bridge_sub.add_parser("flash", help="copy this zcw's firmware to the Pico, check it")
    config_arg(flash)
    flash.add_argument("--with-board", action="store_true", help="also overwrite board.py")
    flash.add_argument("--mpremote", help="the mpremote command to use (default: this zcw's)")
    for sp in (info, console, flash):
        sp.add_argument("--port", help="the serial device, with no config needed")
    config_arg(console)
    console.add_argument("--seconds", type=float, help="stop after this long")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        if args.command == "run":
            return _run(args, console)
        if args.command == "config":
            if args.config_command != "check":
                console.print("usage: zcw config check [-c FILE]")
                return EXIT_USAGE
            return _config_check(args.config, console)
        if args.command in ("status", "start", "stop", "reset", "monitor", "history", "mode"):
            return _client(args, _out())
        if args.command == "commission":
            return _commission(args, _out())
        if args.command in ("schedule", "away"):
            return _calendar(args, _out())
        if args.command == "setup":
            return _setup(args, _out())
        if args.command == "bridge":
            return _bridge(args, _out())
        if args.command == "bench" and args.scenario == "week":
            from hil.bench.week_cli import main as week_main

            return week_main(args.house, args.strategy, args.seed, args.seeds, args.json)
        if args.command == "bench":
            from hil.bench.cli import main as bench_main

            return bench_main(
                args.house,
                args.strategy,
                args.seed,
                args.seeds,
                args.json,
                args.learning_days,
                commission=not args.no_commission,
            )
        _parser().print_help()
        return EXIT_USAGE
    except ConfigError as err:
        console.print(
            f"[bold red]config error[/]\n{escape(format_problems(err))}",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_USAGE
    except ControlSocketError as err:
        console.print(escape(str(err)), style="red", highlight=False)
        return EXIT_FAIL
    except ZcwError as err:
        console.print(f"[red]error:[/] {escape(str(err))}", highlight=False)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return EXIT_FAIL


def _load(args: argparse.Namespace) -> Config:
    """The config a command works with: ``--sim [HOUSE]`` (a simulated house's, with its own
    store and socket), else -c FILE or the first found of the usual places."""
    house = getattr(args, "sim", None)
    if house is not None and getattr(args, "config", None) is None:
        return _house_config(house)
    cfg = load_config(find_config(args.config))
    if house is not None or cfg.bridge.port == "sim":
        return simulation_config(cfg, house or cfg.bridge.sim_house)
    return cfg


def _setup(args: argparse.Namespace, out: Console) -> int:
    from zcw.app import setup as su

    if args.output.exists() and not args.force:
        out.print(f"{args.output} exists; pass --force to replace it", style="red")
        return EXIT_USAGE
    interactive = sys.stdin.isatty()
    port = args.port
    if port is None:
        bridges = su.find_bridges()
        if len(bridges) != 1:
            found = ", ".join(b.port for b in bridges) or "none"
            out.print(
                f"looked for a zcw bridge on /dev/serial/by-id/*: found {found}. Plug the Pico "
                "in (flashed with the firmware, see firmware_bridge/README.md) or pass --port.",
                style="red",
            )
            return EXIT_FAIL
        port = bridges[0].port
    from zcw.app.bridge_tools import read_info

    info = read_info(port)
    out.print(f"bridge on {port}: firmware {info.firmware}, {len(info.sensors)} sensors")
    for rom, reading in info.sensors.items():
        out.print(f"  {rom}: {reading or 'no reading yet'}", highlight=False)
    specs = list(args.loop)
    if not specs and interactive:
        names = input("Loop names, e.g. 'bathroom kitchen': ").split()
        specs = [f"{n}:{i + 1}" for i, n in enumerate(names)]
    if not specs:
        out.print("no loops: pass --loop NAME:RELAY:ROM (one per far tap)", style="red")
        return EXIT_USAGE
    loops: list[su.LoopAnswer] = []
    taken: set[str] = set()
    for spec in specs:
        name, _, rest = spec.partition(":")
        relay_text, _, rom = rest.partition(":")
        if not rom:
            if not interactive:
                out.print(f"--loop {spec}: give the ROM id (NAME:RELAY:ROM)", style="red")
                return EXIT_USAGE
            out.print(f"Warm the {name} sensor with your hand (or run hot water over it)…")
            left = [r for r in info.sensors if r not in taken]
            rom = su.watch_for_warming(port, left) or ""
            if not rom:
                out.print("no sensor warmed within 2 minutes; try again", style="red")
                return EXIT_FAIL
            out.print(f"  {name} is {rom}", highlight=False)
        taken.add(rom)
        loops.append(su.LoopAnswer(name, int(relay_text or len(loops) + 1), rom.lower()))
    colds = dict(c.split(":", 1) for c in args.cold)
    answers = su.Answers(
        port=port,
        loops=[replace(a, cold_rom=colds.get(a.name)) for a in loops],
        topology=args.topology,
        pump_relay=args.pump_relay,
        flow_lpm=args.flow_lpm,
        outlet_rom=args.outlet,
        timezone=args.timezone or _local_zone(),
        socket=args.socket,
        store=args.store,
    )
    text = su.render(answers)
    su.check(text)  # a ConfigError here is printed like config check's, exit 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    out.print(su.next_steps(args.output), highlight=False)
    return EXIT_OK


def _local_zone() -> str:
    """This machine's IANA time zone, from /etc/localtime; UTC if it cannot tell."""
    link = Path("/etc/localtime")
    with contextlib.suppress(OSError):
        target = str(link.resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return "UTC"


def _out() -> Console:
    """Standard output. Piped, it must not wrap at 80 columns in the middle of a path."""
    return Console(soft_wrap=True)


def _socket(args: argparse.Namespace) -> Path:
    """The running daemon's control socket. With no config anywhere and no --sim, a single
    simulation running on this machine is the one meant (`zcw run --sim` in another
    terminal, then `zcw status`)."""
    try:
        return _load(args).socket_path
    except ConfigError:
        if getattr(args, "sim", None) is None and args.config is None:
            running = simulation_sockets()
            if len(running) == 1:
                return running[0]
        raise


def _house_config(house: str) -> Config:
    """The built-in default for a simulated house: one loop per tap, its sensors wired."""
    from hil.house import load_house  # lazy: only the simulator needs hil
    from hil.plant import Plant

    plant = Plant(load_house(house))
    cfg = config_for_house_loops(plant.loops, house, sensors=plant.sensor_names)
    return simulation_config(cfg, house)


def _config_check(explicit: Path | None, console: Console) -> int:
    # Outside the try: with no file anywhere there is nothing to call invalid, and main() prints
    # find_config's error (where it looked, what to do) as `zcw run` and `zcw status` do.
    path = find_config(explicit)
    try:
        cfg = load_config(path)
    except ConfigError as err:
        console.print(
            f"[bold red]{escape(str(path))}: invalid[/]\n{escape(format_problems(err))}",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_USAGE
    loops = ", ".join(lc.name for lc in cfg.loops)
    out = _out()
    out.print(
        f"[green]{path}: valid[/] ({cfg.topology}, loops: {loops}, bridge: {cfg.bridge.port})"
    )
    for warning in advice(cfg):
        out.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    return EXIT_OK


def _run(args: argparse.Namespace, console: Console) -> int:
    from zcw.app.runner import Pacing, serve  # lazy: keeps `zcw status` fast

    interactive = sys.stdin.isatty() and sys.stderr.isatty() and not args.no_dashboard
    _setup_logging(console if interactive else None, verbose=args.verbose)
    if args.speed <= 0:
        console.print("[red]--speed must be > 0[/]")
        return EXIT_USAGE
    cfg = _config_for_run(args)
    from zcw.app.compose import build_adapters

    simulated = args.sim is not None or cfg.bridge.port == "sim"
    house = args.sim or None
    log = logging.getLogger("zcw")
    for warning in advice(cfg):
        log.warning("config: %s", warning)
    if simulated and args.speed != 1.0:
        # Fast-forward: plant and bridge stepped in lockstep with the daemon, in-process.
        from zcw.app.sim import build_sim

        rig = build_sim(cfg, house)
        log.info("simulating house %s at %g× real time (lockstep)", rig.house, args.speed)
        title = f"zcw {__version__} — simulated house {rig.house} at {args.speed:g}×"
        return asyncio.run(
            serve(
                rig.daemon,
                cfg,
                pacing=Pacing(clock=rig.clock, speed=args.speed),
                title=title,
                interactive=interactive,
                console=console,
                adapters=build_adapters(cfg, rig.daemon),
            )
        )
    if simulated:
        # Real time: the firmware's own logic in the emulator, reached over a pty.
        from zcw.app.hardware import build_emulated

        emu_rig = build_emulated(cfg, house)
        log.info("emulated bridge for house %s on %s", emu_rig.house, emu_rig.emulator.pty_path)
        title = f"zcw {__version__} — simulated house {emu_rig.house} (emulated bridge)"
        with emu_rig.emulator:
            return asyncio.run(
                serve(
                    emu_rig.daemon,
                    cfg,
                    pacing=Pacing(),
                    title=title,
                    interactive=interactive,
                    console=console,
                    adapters=build_adapters(cfg, emu_rig.daemon),
                )
            )
    from zcw.app.hardware import build_real

    daemon = build_real(cfg)
    log.info("bridge on %s", cfg.bridge.port)
    return asyncio.run(
        serve(
            daemon,
            cfg,
            pacing=Pacing(),
            title=f"zcw {__version__} — {cfg.bridge.port}",
            interactive=interactive,
            console=console,
            adapters=build_adapters(cfg, daemon),
        )
    )


def _bridge(args: argparse.Namespace, out: Console) -> int:
    from zcw.app.bridge_tools import bridge_console, bridge_info

    if getattr(args, "port", None):
        # Looking at a Pico before there is a config (to learn its sensors' ROM ids).
        cfg = default_config().model_copy(
            update={"bridge": default_config().bridge.model_copy(update={"port": args.port})}
        )
    else:
        cfg = _load(args)
    if args.bridge_command == "info":
        info = bridge_info(cfg)
        out.print(f"bridge on {info.port}", highlight=False)
        out.print(f"  firmware {info.firmware}, protocol {info.protocol}, {info.relays} relays")
        out.print(f"  last boot reason: {info.boot_reason}")
        out.print(f"  relays on (mask): {info.relay_mask:#04x}, fault: {info.fault}")
        out.print("  sensors (ROM id → config name: latest reading):")
        for rom, reading in info.sensors.items():
            name = info.names.get(rom, "not in the config's sensors table")
            out.print(f"    {rom} → {name}: {reading or 'no reading yet'}", highlight=False)
        return EXIT_OK
    if args.bridge_command == "flash":
        from zcw.app.flash import flash

        kw: dict[str, Any] = {}
        if args.mpremote:
            kw["mpremote"] = args.mpremote.split()
        flash(cfg.bridge.port, with_board=args.with_board, emit=lambda t: out.print(t), **kw)
        return EXIT_OK
    if args.bridge_command == "console":
        with contextlib.suppress(KeyboardInterrupt):
            bridge_console(cfg, lambda line: out.print(line, highlight=False), seconds=args.seconds)
        return EXIT_OK
    out.print("usage: zcw bridge info|console|flash [-c FILE | --port PORT]")
    return EXIT_USAGE


def _config_for_run(args: argparse.Namespace) -> Config:
    """`zcw run`: the simulator runs only when asked, by --sim or by a config for it."""
    if args.sim is not None:
        if args.config is None:
            return _house_config(args.sim or "R0")
        cfg = load_config(args.config)
        return simulation_config(cfg, args.sim or cfg.bridge.sim_house)
    return _load(args)


def _setup_logging(console: Console | None, *, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if console is not None:
        # Under the live dashboard only warnings are printed (above it), to keep it readable.
        handler = RichHandler(console=console, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _client(args: argparse.Namespace, out: Console) -> int:
    from zcw.adapters.control_socket import request, stream

    path = _socket(args)
    if args.command == "monitor":
        with contextlib.suppress(KeyboardInterrupt):
            _monitor(stream(path, {"cmd": "monitor"}), out)
        return EXIT_OK
    req: dict[str, Any] = {"cmd": args.command}
    if args.command == "start" and args.loop:
        req["loop"] = args.loop
    if args.command == "mode":
        req["mode"] = args.mode
    try:
        reply = request(path, req)
    except ControlSocketError:
        if args.command != "history":
            raise
        reply = _history_from_store(args)  # after a crash the history is still on disk
    if not reply.get("ok"):
        out.print(escape(str(reply.get("error", "the daemon refused"))), style="red")
        return EXIT_FAIL
    if args.command == "history":
        if args.json:
            print(json.dumps({"cycles": reply["cycles"], "faults": reply["faults"]}, indent=2))
        else:
            out.print(_history_text(reply), highlight=False)
        return EXIT_OK
    status = reply.get("status", {})
    if args.command == "status":
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            out.print(_status_text(status), highlight=False)
        return EXIT_FAIL if status.get("state") == "fault" else EXIT_OK
    events = reply.get("events", [])
    for event in events:
        out.print(event_text(event), highlight=False)
    if args.command == "reset":
        return _after_reset(status, events, out)
    if not events:
        out.print(f"{args.command}: nothing to do (state {status.get('state', '?')})")
    rejected = any(e.get("event") == "rejected" for e in events)
    return EXIT_FAIL if rejected else EXIT_OK


def _after_reset(status: dict[str, Any], events: list[dict[str, Any]], out: Console) -> int:
    """Say what the reset cleared and what is still there; exit 1 if zcw is still in fault."""
    if not any(e.get("event") == "fault_cleared" for e in events):
        out.print("reset: no latched fault to clear", highlight=False)
    for fault in status.get("faults", []):
        out.print(
            f"still active: {fault['code']}: {fault['message']}\n  → {fault['hint']}",
            highlight=False,
        )
    return EXIT_FAIL if status.get("state") == "fault" else EXIT_OK


def _history_from_store(args: argparse.Namespace) -> dict[str, Any]:
    """`zcw history` with no daemon running: read the store itself, read-only."""
    from dataclasses import asdict

    from zcw.adapters.store import Store

    path = _load(args).store_path
    if not path.exists():
        return {"ok": False, "error": f"no daemon is running and there is no history at {path}"}
    with Store(path, read_only=True) as store:
        cycles = [asdict(c) for c in store.cycles(limit=50)]
        return {"ok": True, "cycles": cycles, "faults": store.faults(limit=50)}


def _monitor(items: Any, out: Console) -> None:
    """Follow the daemon: its state once, then every event, and the state again only when it
    changes (not once a second)."""
    last = ""
    for item in items:
        if "event" in item:
            out.print(event_text(item["event"]), highlight=False)
            continue
        status = item.get("status", {})
        line = _status_line(status)
        if line != last:
            last = line
            out.print(line, highlight=False)


def _commission(args: argparse.Namespace, out: Console) -> int:
    """`zcw commission LOOP`: follow the watched cycle to its verdict (a few minutes)."""
    from zcw.adapters.control_socket import stream

    req: dict[str, Any] = {"cmd": "commission"}
    if args.loop:
        req["loop"] = args.loop
    out.print(
        "commissioning: one cycle from a cooled pipe that stops on the sensor's first warming "
        "(or the cold-line probe), then the sensor is watched while the water stands "
        "(about 5 minutes). Keep the taps closed.",
        highlight=False,
    )
    for item in stream(_socket(args), req):
        if "event" in item:
            out.print(event_text(item["event"]), highlight=False)
        elif "progress" in item:
            p = item["progress"]
            temp = "—" if p.get("temp_c") is None else f"{p['temp_c']:.1f} °C"
            out.print(f"  {p.get('phase')}: {temp} ({p.get('for_s') or 0:.0f} s)", highlight=False)
        elif item.get("done"):
            return _commission_result(item, out)
    out.print("the daemon closed the connection before commissioning ended", style="red")
    return EXIT_FAIL


def _commission_result(item: dict[str, Any], out: Console) -> int:
    if not item.get("ok"):
        # A sentence (what happened, what to do), never the bare reason code ("rest").
        why = (
            f"commissioning did not start: {item['error']}"
            if item.get("error")
            else commission_failure(
                str(item.get("reason") or "no_result"),
                str(item.get("loop") or "LOOP"),
                refused=bool(item.get("refused")),
                retry_in_s=item.get("retry_in_s"),
            )
        )
        out.print(why, style="red", highlight=False)
        return EXIT_FAIL
    learned = item.get("learned") or {}
    verdict = commission_verdict(learned, guarded=bool(item.get("guarded")))
    out.print(f"{item.get('loop')}: {verdict}", highlight=False)
    out.print(f"  measured: {commission_figures(learned)}", highlight=False)
    return EXIT_OK


def _calendar(args: argparse.Namespace, out: Console) -> int:
    from zcw.adapters.control_socket import request

    op = args.op or "list"
    if args.command == "schedule" and op in ("suggest", "learned"):
        return _learning(args, out)
    req: dict[str, Any] = {"cmd": args.command, "op": op}
    if args.command == "schedule" and op == "add":
        req.update(loop=args.loop, at=args.at, days=args.days)
    elif args.command == "schedule" and op == "remove":
        req["id"] = args.id
    elif args.command == "away" and op == "add":
        req.update({"from": args.first, "to": args.last})
    reply = request(_socket(args), req)
    if not reply.get("ok"):
        out.print(escape(str(reply.get("error", "the daemon refused"))), style="red")
        return EXIT_FAIL
    if reply.get("note"):
        out.print(reply["note"], highlight=False)
    out.print(_calendar_text(reply), highlight=False)
    return EXIT_OK


def _learning(args: argparse.Namespace, out: Console) -> int:
    from zcw.adapters.control_socket import request

    req: dict[str, Any] = {"cmd": "learning", "op": args.op}
    if args.op == "learned":
        req["state"] = args.state
    reply = request(_socket(args), req)
    if not reply.get("ok"):
        out.print(escape(str(reply.get("error", "the daemon refused"))), style="red")
        return EXIT_FAIL
    if reply.get("note"):
        out.print(reply["note"], highlight=False)
    if args.op == "suggest":
        from zcw.ui.suggest import render_suggestion

        render_suggestion(reply, out)
    return EXIT_OK


def _calendar_text(reply: dict[str, Any]) -> str:
    lines = [f"pre-heats (time zone {reply['timezone']}; hot at the time given):"]
    for p in reply["preheats"]:
        nxt = (p["next"] or "—")[:16].replace("T", " ")
        lines.append(f"  {p['id']:<28} next {nxt}, starts {p['lead_s']} s early  ({p['source']})")
    if not reply["preheats"]:
        lines.append("  none (add one: zcw schedule add bathroom 06:50 mon-fri)")
    for k in reply["keep_warm"]:
        lines.append(f"keep warm: {k['loop']} {k['from']}-{k['to']}")
    for a in reply["away"]:
        lines.append(f"away: {a['from']} to {a['to']}")
    return "\n".join(lines)


def _history_text(reply: dict[str, Any]) -> str:
    import datetime as dt

    def when(ts: float | None) -> str:
        return "—" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")

    lines = ["cycles (newest first):"]
    for c in reply["cycles"]:
        tth = "—" if c["time_to_hot_s"] is None else f"{c['time_to_hot_s']:.1f} s"
        vol = "—" if c["volume_l"] is None else f"{c['volume_l']:.1f} L"
        loops = ",".join(c["loops"])
        source, outcome = c["source"], outcome_text(c["outcome"])
        lines.append(
            f"  {when(c['ended_at'])}  {loops:<12} {source:<9} {tth:>8} {vol:>7}  {outcome}"
        )
    if not reply["cycles"]:
        lines.append("  none yet")
    lines.append("faults (newest first):")
    for f in reply["faults"]:
        cleared = f" (cleared {when(f['cleared_at'])})" if f["cleared_at"] else ""
        lines.append(f"  {when(f['at'])}  {f['code']}: {f['message']}{cleared}")
    if not reply["faults"]:
        lines.append("  none")
    return "\n".join(lines)


def _status_line(s: dict[str, Any]) -> str:
    valves = ", ".join(n for n, v in s.get("loops", {}).items() if v.get("valve")) or "none"
    pump = "ON" if s.get("pump") else "off"
    return f"state {s.get('state')}  mode {s.get('mode')}  pump {pump}  valves open: {valves}"


def _status_text(s: dict[str, Any]) -> str:
    lines = [
        f"state {s.get('state')}  mode {s.get('mode')}  pump {'ON' if s.get('pump') else 'off'}"
    ]
    for name, loop in s.get("loops", {}).items():
        temp = loop.get("temp_c")
        shown = "—" if temp is None else f"{temp:.1f} °C"
        valve = "OPEN" if loop.get("valve") else "closed"
        lines.append(f"  {name}: {shown}  valve {valve}  {loop.get('state')}")
        learned = loop.get("learned")
        if learned:
            lines.append(f"    learned: {learned_text(learned)}")
            if learned.get("commissioned"):
                lines.append(f"    commissioned: {commission_verdict(learned)}")
    fault = s.get("fault")
    if fault:
        lines.append(f"fault {fault['code']}: {fault['message']}\n  → {fault['hint']}")
    last = s.get("last_cycle")
    if last:
        tth = last.get("time_to_hot_s")
        vol = last.get("volume_l")
        lines.append(
            f"last cycle: {', '.join(last['loops'])}, "
            + (f"hot after {tth} s" if tth is not None else "never hot")
            + (f", {vol} L moved" if vol is not None else "")
            + f": {outcome_text(last['outcome'])}"
        )
    return "\n".join(lines)
