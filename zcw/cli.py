"""The `zcw` command: parse arguments, call into ``zcw.app``, render with rich. Nothing more."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

from zcw import __version__
from zcw.config import (
    Config,
    ConfigError,
    advice,
    default_config,
    format_problems,
    load_config,
)
from zcw.domain.learning import summary_text
from zcw.errors import ControlSocketError, ZcwError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zcw",
        description="zcw: hot water at the tap on demand (zero cold water controller).",
    )
    p.add_argument("--version", action="version", version=f"zcw {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def config_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-c", "--config", type=Path, help="config file (TOML); default: built-in")

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
    config_arg(check)

    status = sub.add_parser("status", help="show the running daemon's state")
    config_arg(status)
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    start = sub.add_parser("start", help="start a cycle on LOOP (default: the first loop)")
    config_arg(start)
    start.add_argument("loop", nargs="?", help="loop name")
    for name, text in (("stop", "stop the running cycle"), ("reset", "clear latched faults")):
        config_arg(sub.add_parser(name, help=text))
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
    bench = sub.add_parser("bench", help="compare control strategies on simulated houses")
    bench.add_argument("--house", action="append", default=[], metavar="NAME|FILE")
    bench.add_argument("--strategy", action="append", default=[], metavar="NAME")
    bench.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    bench.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    bench.add_argument("--json", action="store_true", help="print the §6 JSON")
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
    bridge = sub.add_parser("bridge", help="look at the bridge directly (daemon stopped)")
    bridge_sub = bridge.add_subparsers(dest="bridge_command", metavar="SUBCOMMAND")
    config_arg(bridge_sub.add_parser("info", help="firmware version, sensors, relays, boot reason"))
    console = bridge_sub.add_parser("console", help="decoded live frames from the bridge")
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
        if args.command in ("status", "start", "stop", "reset", "monitor", "history"):
            return _client(args, Console())
        if args.command in ("schedule", "away"):
            return _calendar(args, Console())
        if args.command == "bridge":
            return _bridge(args, Console())
        if args.command == "bench" and args.scenario == "week":
            from hil.bench.week_cli import main as week_main

            return week_main(args.house, args.strategy, args.seed, args.seeds, args.json)
        if args.command == "bench":
            from hil.bench.cli import main as bench_main

            return bench_main(
                args.house, args.strategy, args.seed, args.seeds, args.json, args.learning_days
            )
        _parser().print_help()
        return EXIT_USAGE
    except ConfigError as err:
        console.print(
            f"[bold red]config error[/]\n{format_problems(err)}", highlight=False, soft_wrap=True
        )
        return EXIT_USAGE
    except ControlSocketError as err:
        console.print(f"[red]{err}[/]", highlight=False)
        return EXIT_FAIL
    except ZcwError as err:
        console.print(f"[red]error:[/] {err}", highlight=False)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return EXIT_FAIL


def _load(path: Path | None) -> Config:
    return load_config(path) if path is not None else default_config()


def _config_check(path: Path | None, console: Console) -> int:
    try:
        cfg = _load(path)
    except ConfigError as err:
        console.print(
            f"[bold red]{path}: invalid[/]\n{format_problems(err)}", highlight=False, soft_wrap=True
        )
        return EXIT_USAGE
    where = str(path) if path else "built-in default"
    loops = ", ".join(lc.name for lc in cfg.loops)
    out = Console()
    out.print(
        f"[green]{where}: valid[/] ({cfg.topology}, loops: {loops}, bridge: {cfg.bridge.port})"
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

    cfg = _load(args.config)
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
    if args.bridge_command == "console":
        with contextlib.suppress(KeyboardInterrupt):
            bridge_console(cfg, lambda line: out.print(line, highlight=False), seconds=args.seconds)
        return EXIT_OK
    out.print("usage: zcw bridge info|console [-c FILE]")
    return EXIT_USAGE


def _config_for_run(args: argparse.Namespace) -> Config:
    if args.config is not None:
        return load_config(args.config)
    if args.sim:
        from hil.house import load_house
        from hil.plant import Plant
        from zcw.config import config_for_house_loops

        plant = Plant(load_house(args.sim))
        return config_for_house_loops(plant.loops, args.sim, sensors=plant.sensor_names)
    return default_config()


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

    cfg = _load(args.config)
    path = cfg.socket_path
    if args.command == "monitor":
        try:
            for item in stream(path, {"cmd": "monitor"}):
                out.print(_monitor_line(item), highlight=False)
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    req: dict[str, Any] = {"cmd": args.command}
    if args.command == "start" and args.loop:
        req["loop"] = args.loop
    reply = request(path, req)
    if not reply.get("ok"):
        out.print(f"[red]{reply.get('error', 'the daemon refused')}[/]", highlight=False)
        return EXIT_FAIL
    if args.command == "history":
        if args.json:
            print(json.dumps({"cycles": reply["cycles"], "faults": reply["faults"]}, indent=2))
        else:
            out.print(_history_text(reply), highlight=False)
        return EXIT_OK
    if args.command == "status":
        if args.json:
            print(json.dumps(reply["status"], indent=2))
        else:
            out.print(_status_text(reply["status"]), highlight=False)
        return EXIT_OK
    events = reply.get("events", [])
    for event in events:
        out.print(_event_text(event), highlight=False)
    if not events:
        out.print(f"{args.command}: done")
    rejected = any(e.get("event") == "rejected" for e in events)
    return EXIT_FAIL if rejected else EXIT_OK


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
    reply = request(_load(getattr(args, "config", None)).socket_path, req)
    if not reply.get("ok"):
        out.print(f"[red]{reply.get('error', 'the daemon refused')}[/]", highlight=False)
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
    reply = request(_load(getattr(args, "config", None)).socket_path, req)
    if not reply.get("ok"):
        out.print(f"[red]{reply.get('error', 'the daemon refused')}[/]", highlight=False)
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
        source, outcome = c["source"], c["outcome"]
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


def _event_text(e: dict[str, Any]) -> str:
    kind = e.get("event", "?")
    loop = f" on {e['loop']}" if e.get("loop") else ""
    reason = f": {e['reason']}" if e.get("reason") else ""
    return f"{kind}{loop}{reason}"


def _monitor_line(item: dict[str, Any]) -> str:
    if "event" in item:
        return _event_text(item["event"])
    return _status_text(item.get("status", {}))


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
            lines.append(f"    learned: {summary_text(learned)}")
    fault = s.get("fault")
    if fault:
        lines.append(f"fault {fault['code']}: {fault['message']}\n  → {fault['hint']}")
    last = s.get("last_cycle")
    if last:
        lines.append(
            f"last cycle: {', '.join(last['loops'])} time to hot {last['time_to_hot_s']} s, "
            f"volume {last['volume_l']} L, {last['outcome']}"
        )
    return "\n".join(lines)
