"""The local control socket: JSON lines over a Unix socket (permissions 0660).

Framing and transport only. The server hands each decoded request to a handler supplied by
the composition root, and writes back what it returns; the client is what `zcw status`,
`zcw start` and friends use.

Wire format, one JSON object per line each way::

    → {"cmd": "start", "loop": "bathroom"}
    ← {"ok": true, "events": [{"event": "cycle_started", "loop": "bathroom", "source": "cli"}]}
    → {"cmd": "status"}
    ← {"ok": true, "status": {"state": "idle", "pump": false, ...}}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from zcw.errors import ControlSocketError

log = logging.getLogger("zcw.control")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Streamer = Callable[[dict[str, Any]], AsyncIterator[dict[str, Any]]]
MAX_LINE = 64 * 1024
# Commands answered with a stream of lines rather than one reply.
STREAMED = ("monitor", "commission")


class ControlServer:
    """Serves the control socket until :meth:`close`."""

    def __init__(self, path: Path, handler: Handler, streamer: Streamer | None = None) -> None:
        self.path = path
        self._handler = handler
        self._streamer = streamer
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if _is_live(self.path):
                raise ControlSocketError(
                    f"another zcw daemon is already running on {self.path}; stop it first "
                    "(`systemctl stop zcw`), or set [control] socket to another path"
                )
            self.path.unlink()  # stale socket left by a killed daemon
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_LINE
        )
        os.chmod(self.path, 0o660)

    async def close(self) -> None:
        # A `zcw monitor` client waits on the daemon's events forever: end it here, quietly,
        # rather than leave asyncio to cancel it at exit with a traceback in the log.
        for task in list(self._clients):
            task.cancel()
        for task in list(self._clients):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("expected a JSON object")
                except ValueError as exc:
                    await _send(writer, {"ok": False, "error": f"bad request: {exc}"})
                    continue
                if request.get("cmd") in STREAMED and self._streamer is not None:
                    async for item in self._streamer(request):
                        await _send(writer, item)
                    continue
                await _send(writer, await self._handler(request))
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            # close() ends a monitor client this way. Ending the task normally matters: on
            # Python 3.11 asyncio's stream callback logs a traceback for a cancelled handler.
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _send(writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
    writer.write(json.dumps(obj).encode() + b"\n")
    await writer.drain()


def _is_live(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True


def _connect(path: Path, timeout_s: float) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        s.close()
        raise ControlSocketError(
            f"no zcw daemon is running (nothing listens on {path}). Start one with "
            "`zcw run` (or `zcw run --sim`), or pass the daemon's config with -c."
        ) from exc
    except PermissionError as exc:
        s.close()
        raise ControlSocketError(
            f"permission denied on {path}: add yourself to the daemon's group "
            "(e.g. `sudo usermod -aG zcw $USER`) and log in again"
        ) from exc
    return s


def request(path: Path, obj: dict[str, Any], *, timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request to a running daemon and return its reply."""
    with _connect(path, timeout_s) as s, s.makefile("rwb") as f:
        f.write(json.dumps(obj).encode() + b"\n")
        f.flush()
        line = f.readline(MAX_LINE)
    if not line:
        raise ControlSocketError(f"the daemon on {path} closed the connection without answering")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise ControlSocketError(f"unexpected reply from the daemon: {line[:200]!r}")
    return reply


def stream(path: Path, obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Send one request and yield every line the daemon sends back (for `zcw monitor` and
    `zcw commission`); the caller stops when it has what it wants."""
    with _connect(path, 5.0) as s, s.makefile("rwb") as f:
        s.settimeout(None)
        f.write(json.dumps(obj).encode() + b"\n")
        f.flush()
        while line := f.readline(MAX_LINE):
            item = json.loads(line)
            if isinstance(item, dict):
                yield item
