"""Runs the Pico's start-up files (boot.py, main.py, hal.py) off the Pico, on stub modules.

    micropython tests/firmware/pico_start.py '<scenario as JSON>'

The scenario's ``run`` lists what to do, in order, as a Pico would after a reset:

- ``boot``: import boot.py (the firmware's first file at every reset);
- ``main``: import main.py: the recovery check, then the bridge loop until the watchdog's
  stub has been fed ``feeds`` times;
- ``restart``: build hal.Hal and call its restart_into_safe_mode() (the host's ``SAFE``).

With ``wait_for_host`` it first waits (≤ 10 s) for the test's frames on stdin, so that the
bridge's first pass finds them whatever the machine's load. The bridge writes its frames to
stdout as on the Pico; the report (pico_stubs.LOG and what was loaded) goes to stderr as
one JSON line. Everything the Pico's own modules would do is in pico_stubs.py.

MicroPython's unix port only: there ``sys.stdin.buffer`` is unbuffered, as the Pico's USB
serial is, while CPython's would swallow the host's frames into a buffer ``select.poll``
cannot see (hal.py polls the descriptor, then reads a byte at a time).
"""

import json
import os
import select
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
FIRMWARE = HERE + "/../../firmware_bridge"
sys.path.insert(0, HERE)
sys.path.insert(0, FIRMWARE)

import pico_stubs  # noqa: E402

FIRMWARE_MODULES = sorted([n[:-3] for n in os.listdir(FIRMWARE) if n.endswith(".py")])


def loaded():
    return [m for m in FIRMWARE_MODULES if m in sys.modules]


def wait_for_host():
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    poller.poll(10000)


def main():
    if sys.implementation.name != "micropython":
        raise SystemExit("pico_start.py runs under the MicroPython unix port only")
    scenario = json.loads(sys.argv[1])
    report = {"missing": pico_stubs.missing_from_the_real_port(), "ended": "returned"}
    import board  # board.py imports nothing: reading it first changes nothing

    report["config"] = board.CONFIG
    if "active_low" in scenario:
        board.CONFIG["relay_active_low"] = scenario["active_low"]
    pico_stubs.install(scenario, board.CONFIG["safe_mode_pin"])
    if scenario.get("wait_for_host"):
        wait_for_host()
    try:
        for step in scenario["run"]:
            if step == "boot":
                import boot  # noqa: F401

                report["loaded_after_boot"] = loaded()
                report["events_after_boot"] = len(pico_stubs.LOG)
            elif step == "main":
                import main as firmware_main

                report["safe_mode"] = hasattr(firmware_main, "SAFE_MODE")
            elif step == "restart":
                import hal

                hal.Hal(board.CONFIG).restart_into_safe_mode()
    except pico_stubs.StopLoop:
        report["ended"] = "StopLoop"
    except pico_stubs.ResetCalled:
        report["ended"] = "reset"
    except Exception as exc:  # the report says what stopped it; the test judges
        report["ended"] = "%s: %s" % (type(exc).__name__, exc)
    report["events"] = pico_stubs.LOG
    report["feeds"] = pico_stubs.STATE["feeds"]
    report["now_ms"] = pico_stubs.STATE["time"].now
    report["loaded"] = loaded()
    report["flag"] = "safe_mode" in os.listdir(".")
    sys.stderr.write(json.dumps(report) + "\n")


main()
