"""Architecture rules (STYLE.md): dependencies point inward, and every file says its job.

- ``zcw.domain`` imports only the standard library and ``zcw.domain``.
- adapters never import ``zcw.app`` (only the composition root knows concrete adapters).
- nothing in ``zcw`` imports ``hil`` except the composition root and the CLI.
- ``firmware_bridge/hal.py`` is the only firmware module that touches the hardware.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def py_files(*parts: str) -> list[Path]:
    return sorted((ROOT.joinpath(*parts)).rglob("*.py"))


# Ways to read a clock: the core never does; its caller hands it the time.
CLOCK_READS = {"now", "today", "utcnow", "monotonic", "time_ns", "perf_counter"}


@pytest.mark.parametrize("path", py_files("zcw", "domain"), ids=lambda p: p.name)
def test_domain_is_pure(path: Path) -> None:
    for name in imports_of(path):
        top = name.split(".")[0]
        assert top in STDLIB or name.startswith("zcw.domain"), f"{path.name} imports {name}"
        assert top not in ("time", "asyncio", "socket", "threading"), (
            f"{path.name} imports {name}: the core takes time from its caller"
        )
    # datetime is allowed for calendar values (a date, a time of day), never to read the clock.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    reads = {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in CLOCK_READS
    }
    assert not reads, f"{path.name} reads a clock ({reads}): the core takes time from its caller"


@pytest.mark.parametrize("path", py_files("zcw", "adapters"), ids=lambda p: p.name)
def test_adapters_do_not_import_the_app(path: Path) -> None:
    for name in imports_of(path):
        assert not name.startswith(("zcw.app", "zcw.cli", "hil")), f"{path.name} imports {name}"


def test_only_the_composition_root_imports_hil() -> None:
    allowed = {ROOT / "zcw" / "cli.py"} | set(py_files("zcw", "app"))
    for path in py_files("zcw"):
        if path in allowed:
            continue
        bad = [n for n in imports_of(path) if n.split(".")[0] == "hil"]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_hal_touches_the_hardware() -> None:
    for path in py_files("firmware_bridge"):
        if path.name == "hal.py":
            continue
        hardware = ("machine", "onewire", "ds18x20", "rp2", "micropython")
        hw = {n for n in imports_of(path) if n.split(".")[0] in hardware}
        assert not hw, f"{path.name} imports {hw}; only hal.py may"


@pytest.mark.parametrize(
    "path",
    py_files("zcw") + py_files("hil") + py_files("firmware_bridge") + py_files("tests"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_file_has_a_module_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not tree.body and path.name == "__init__.py":
        return
    assert ast.get_docstring(tree), f"{path.relative_to(ROOT)} has no module docstring"


# The controller is sequencing only; its parts (zcw/domain/cycle/) each answer one question.
CONTROLLER = ROOT / "zcw" / "domain" / "controller.py"
CONTROL_FILES = [
    CONTROLLER,
    *py_files("zcw", "domain", "cycle"),
    ROOT / "zcw" / "domain" / "learning.py",
    ROOT / "zcw" / "domain" / "arrival.py",
]
MAX_CONTROLLER_LINES = 400
MAX_FUNCTION_LINES = 40


def test_the_controller_stays_small() -> None:
    lines = len(CONTROLLER.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_CONTROLLER_LINES, (
        f"controller.py has {lines} lines: give what grew a part of its own in zcw/domain/cycle/"
    )


@pytest.mark.parametrize("path", CONTROL_FILES, ids=lambda p: p.name)
def test_no_controller_function_is_longer_than_40_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: {', '.join(long)}"
