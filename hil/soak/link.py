"""Lockstep between the emulated Pico and the daemon's real serial link.

The emulator runs on a manual clock, so it only moves when the soak advances it; the link's
reader thread, though, reads the pty whenever bytes arrive. After each advance the soak waits
until that thread has taken every byte the firmware wrote (:meth:`LinkSync.wait`), so the
next control tick sees exactly what a daemon on a real Pico would have seen by then.

:class:`CountingSerial` is the port the link opens (through ``SerialBridge(opener=…)``): a
plain pyserial port that counts what it hands to the reader and can be frozen (what SIGSTOP
does to the reader thread) or killed (the process is gone: the port closes under the link,
and nothing more is written, not even the relays-off a clean shutdown sends).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import serial

from hil.emulator import Emulator


class LinkSync:
    """Byte accounting between the emulator's writes and the link's reads, for one port."""

    def __init__(self, step_lock: threading.RLock) -> None:
        self.step_lock = step_lock  # held while the emulator runs a pass
        self.cond = threading.Condition()
        self.port: CountingSerial | None = None
        self.written = 0  # bytes the firmware wrote since the port opened
        self.returned = 0  # bytes read() handed to the reader
        self.processed = 0  # bytes the reader had finished with when it read again
        self.in_read = False
        self.timeouts = 0

    def opened(self, port: CountingSerial) -> None:
        with self.cond:
            self.port = port
            self.written = self.returned = self.processed = 0
            self.in_read = False

    def closed(self, port: CountingSerial) -> None:
        with self.cond:
            if self.port is port:
                self.port = None
            self.cond.notify_all()

    def emulator_wrote(self, n: int) -> None:
        with self.cond:
            if self.port is not None:
                self.written += n

    def wait(self, timeout_s: float = 2.0) -> bool:
        """Until the reader has handled every byte written (False on a timeout)."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                port = self.port
                if port is None or port.frozen.is_set():
                    return True
                if self.in_read and self.processed >= self.written and _pending(port) == 0:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    self.timeouts += 1
                    return False
                self.cond.wait(min(left, 0.002))


def _pending(port: serial.Serial) -> int:
    try:
        return int(port.in_waiting)
    except (OSError, serial.SerialException, TypeError, ValueError):
        return 0


class CountingSerial(serial.Serial):  # type: ignore[misc]
    """The daemon's port to the emulator, with the byte accounting and a freeze and a kill."""

    def __init__(self, port: str, baud: int, sync: LinkSync) -> None:
        self._sync = sync
        self.frozen = threading.Event()
        self.killed = False
        super().__init__(port, baud, timeout=0.05, write_timeout=0.5)

    def open(self) -> None:
        # Under the step lock: no firmware pass writes between the flush pyserial does on
        # open and the counters starting from zero.
        with self._sync.step_lock:
            super().open()
            self._sync.opened(self)

    def read(self, size: int = 1) -> bytes:
        sync = self._sync
        with sync.cond:
            sync.processed = sync.returned
            sync.in_read = True
            sync.cond.notify_all()
        while self.frozen.is_set() and not self.killed:
            time.sleep(0.005)  # SIGSTOP: the reader does not run; bytes wait in the pty
        if self.killed:
            raise serial.SerialException("the process was killed")
        try:
            data: bytes = super().read(size)
        except Exception:
            with sync.cond:
                sync.in_read = False
            raise
        with sync.cond:
            sync.in_read = False
            sync.returned += len(data)
        return data

    def write(self, data: Any) -> int | None:
        if self.killed:
            raise serial.SerialException("the process was killed")
        n: int | None = super().write(data)
        return n

    def close(self) -> None:
        self._sync.closed(self)
        super().close()

    def kill(self) -> None:
        """SIGKILL: from now on every read and write fails, and the port is gone."""
        self.killed = True
        self.frozen.clear()
        self._sync.closed(self)


FRAME_KINDS = ("T", "LCLOSE", "FAULT", "BOOT", "BTN", "OFF")


class EmulatorTaps:
    """What passes between the firmware and the pty, batched and noted cheaply.

    The firmware writes one frame at a time; here they are kept in a buffer and written to
    the pty in one go after each step (:meth:`flush`), with their count going to the live
    daemon's :class:`LinkSync`. The frames the oracle needs are noted as they are written,
    with the plant time, in ``hal.frames`` (the emulator's own format), and the plant time of
    each pass in which the firmware received a host frame in ``rx``.
    """

    def __init__(self, emu: Emulator, sync_of: Any) -> None:
        self.emu = emu
        self.sync_of = sync_of
        self.buffer = bytearray()
        self.rx: list[float] = []
        self.dropped = 0
        hal = emu.hal
        self._read = hal.read
        hal.write = self._write  # type: ignore[method-assign]
        hal.read = self._read_noting  # type: ignore[method-assign]

    def _write(self, data: bytes) -> None:
        hal = self.emu.hal
        t = hal.plant.t_s
        for line in data.split(b"\n"):
            star = line.rfind(b"*")
            if line[:1] != b"$" or star < 0:
                continue
            parts = line[1:star].decode(errors="replace").split(",")
            if len(parts) > 1 and parts[1] in FRAME_KINDS:
                hal.frames.append((t, parts[1], parts[2:]))
        if hal.fd >= 0:
            self.buffer += data

    def garbage(self, data: bytes) -> None:
        """Bytes the bridge sends that are not its frames (noise, a broken firmware)."""
        if self.emu.hal.fd >= 0:
            self.buffer += data

    def _read_noting(self) -> bytes:
        data: bytes = self._read()
        if b"\n" in data:
            self.rx.append(self.emu.hal.plant.t_s)
        return data

    def flush(self) -> None:
        hal = self.emu.hal
        data, self.buffer = bytes(self.buffer), bytearray()
        if not data or hal.fd < 0:
            return
        sync = self.sync_of()
        while data:
            try:
                n = os.write(hal.fd, data)
            except BlockingIOError:
                self.dropped += len(data)  # a full pty: a Pico drops output nobody reads
                return
            except OSError:
                return
            if sync is not None:
                sync.emulator_wrote(n)
            data = data[n:]
