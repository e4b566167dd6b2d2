"""systemd's notify protocol (sd_notify), written out: it is a datagram on a Unix socket.

systemd passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace) and, with
``WatchdogSec=``, ``WATCHDOG_USEC``. zcw sends ``READY=1``, ``WATCHDOG=1``, ``STATUS=…`` and
``STOPPING=1``. Eleven lines of socket code are less to trust than a dependency for them, and
outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping


class SystemdNotifier:
    """Sends notify messages when run under systemd; does nothing otherwise."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        self.watchdog_s: float | None = int(usec) / 1e6 if usec.isdigit() and ours else None

    def __repr__(self) -> str:
        return f"SystemdNotifier(active={self.active}, watchdog_s={self.watchdog_s})"

    @property
    def active(self) -> bool:
        return bool(self._address)

    def send(self, *fields: str) -> bool:
        """Send ``fields`` as one message ("READY=1", "STATUS=idle"); True if it went out."""
        if not self._address:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode()
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        ):
            sock.sendto(message, self._address)
            return True
        return False
