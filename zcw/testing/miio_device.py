"""A Mi Wi-Fi plug on loopback that speaks the real miIO protocol over UDP, for tests and bench.

Its codec is written here from the protocol, independently of python-miio's, so the two can
be checked against each other and against a known-answer vector (tests/mihome):

- Every packet starts with a 32-byte header: magic 0x2131, total length, 4 unknown bytes,
  the device id, a stamp (the device's seconds since boot), and a 16-byte checksum.
- A hello is that header alone, all 0xFF after the length; the device answers with its
  device id and stamp, and 0xFF in the checksum field (a provisioned device: it does not
  give its token away).
- Otherwise the checksum is MD5(header's first 16 bytes + token + payload), and the
  payload is AES-128-CBC with key = MD5(token) and iv = MD5(key + token), PKCS#7 padding,
  over a JSON object followed by one NUL byte.

The device answers ``get_properties``/``set_properties`` (``kind = "miot"``, with a
per-property ``code``, -4003 for a property it does not have, and -9999 to legacy methods),
or ``get_prop ["power"]``/``set_power`` (``kind = "miio_plug"``, -32601 to the rest). It can
go silent, answer every request with an error, answer late, or hold another token than the
client's: then the hello works and requests fail their checksum and get no answer, as on a
real plug. Every request it understood is logged with its method, params and time.

With ``record = True`` it also keeps a *trace*: every change a user made to its switch and
every request it could read, silent or not, in the one order in which they happened (a lock
orders them), each with the switch's state after it, what it answered, and whether that
answer was sent. A test can then tell from the device's side alone what a client could have
known of the switch and when (see ``tests/mihome/test_mihome_toggles.py``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PORT = 54321
MAGIC = 0x2131
HELLO = bytes.fromhex("21310020" + "ff" * 28)
_HEADER = struct.Struct(">HHIII")


class BadPacket(ValueError):
    """Not a packet this token can verify and read."""


def key_iv(token: bytes) -> tuple[bytes, bytes]:
    key = hashlib.md5(token).digest()
    return key, hashlib.md5(key + token).digest()


def encrypt(token: bytes, plain: bytes) -> bytes:
    key, iv = key_iv(token)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt(token: bytes, data: bytes) -> bytes:
    key, iv = key_iv(token)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def encode(token: bytes, device_id: int, stamp: int, message: dict[str, Any]) -> bytes:
    """A request or answer: header, checksum, encrypted JSON (+ NUL), as a device sends it."""
    data = encrypt(token, json.dumps(message).encode() + b"\x00")
    head = _HEADER.pack(MAGIC, 32 + len(data), 0, device_id, stamp)
    return head + hashlib.md5(head + token + data).digest() + data


def decode(token: bytes, packet: bytes) -> tuple[int, int, dict[str, Any]]:
    """(device id, stamp, message) of a packet; BadPacket if this token cannot verify it."""
    if len(packet) < 32:
        raise BadPacket("shorter than a header")
    magic, length, _unknown, device_id, stamp = _HEADER.unpack(packet[:16])
    if magic != MAGIC or length != len(packet):
        raise BadPacket("bad magic or length")
    data = packet[32:]
    if hashlib.md5(packet[:16] + token + data).digest() != packet[16:32]:
        raise BadPacket("checksum does not match this token")
    try:
        message = json.loads(decrypt(token, data).rstrip(b"\x00"))
    except ValueError as exc:
        raise BadPacket(f"payload: {exc}") from None
    if not isinstance(message, dict):
        raise BadPacket("payload is not a JSON object")
    return device_id, stamp, message


def hello_answer(device_id: int, stamp: int) -> bytes:
    return _HEADER.pack(MAGIC, 32, 0, device_id, stamp) + b"\xff" * 16


_hosts = itertools.cycle(range(2, 255))
_hosts_lock = threading.Lock()


def bind_free_host(port: int = PORT) -> socket.socket:
    """A UDP socket on a free 127.0.0.x:``port`` (x from 2 to 254, taken in turn)."""
    with _hosts_lock:
        for _ in range(253):
            host = f"127.0.0.{next(_hosts)}"
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise
            return sock
    raise RuntimeError(f"no free 127.0.0.x:{port} for an emulated plug")


@dataclass(frozen=True, slots=True)
class Received:
    """One request the device understood: method, params, and time.monotonic() of arrival."""

    method: str
    params: Any
    at: float


@dataclass(slots=True)
class Step:
    """One entry of the trace: a user's switching (``user``), or a request it could read."""

    at: float  # time.monotonic()
    on: bool  # the switch's state after this step
    user: bool = False
    method: str = ""
    params: Any = None
    reply: dict[str, Any] | None = None  # the answer's body; None: none (silent)
    delivered: bool = False  # the answer was sent (set once sendto returned)

    @property
    def answered_ok(self) -> bool:
        """A request answered with a result, and the answer sent."""
        return self.delivered and self.reply is not None and "result" in self.reply


@dataclass
class MiioDevice:
    """``with MiioDevice(token=…) as plug:`` serves on ``plug.host``:54321 until exit."""

    token: str = field(repr=False)
    kind: Literal["miot", "miio_plug"] = "miot"
    device_id: int = 0x0ABC1234
    switch: tuple[int, int] = (2, 1)  # (siid, piid) of its on/off property (MIoT)
    on: bool = False
    silent: bool = False  # answers nothing at all, as if unplugged
    error: dict[str, Any] | None = None  # answers every request with this error
    delay_s: float = 0.0  # answers this late
    record: bool = False  # keep the trace (unbounded: for tests, not for a month's soak)
    host: str = field(init=False, default="")
    requests: list[Received] = field(init=False, default_factory=list)
    hellos: int = field(init=False, default=0)
    unreadable: int = field(init=False, default=0)  # packets this token could not verify
    trace: list[Step] = field(init=False, default_factory=list)
    _sock: socket.socket | None = field(init=False, default=None, repr=False)
    _thread: threading.Thread | None = field(init=False, default=None, repr=False)
    _boot: float = field(init=False, default_factory=time.monotonic, repr=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __enter__(self) -> MiioDevice:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._sock = bind_free_host()
        self.host = self._sock.getsockname()[0]
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, name=f"miio-{self.host}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if self._thread is not None:
            self._thread.join(5)
        if sock is not None:
            sock.close()

    # -- what a user does -------------------------------------------------------------

    def user_set(self, on: bool) -> None:
        """Switch the plug as a user would (the Mi Home app, a scene, XiaoAI, its button)."""
        with self._lock:
            self.on = on
            if self.record:
                self.trace.append(Step(time.monotonic(), on, user=True))

    def user_toggle(self) -> bool:
        """Flip the switch as a user would, from whatever state it is in now; the new state.

        Atomic with the requests: zcw's own switching cannot slip in between the reading of
        the state and its change."""
        with self._lock:
            self.on = not self.on
            if self.record:
                self.trace.append(Step(time.monotonic(), self.on, user=True))
            return self.on

    def steps(self) -> list[Step]:
        """A copy of the trace (``record = True``), in the order things happened."""
        with self._lock:
            return list(self.trace)

    def log(self, method: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    def switched_to(self) -> list[bool]:
        """The values zcw set, in order (set_properties or set_power)."""
        out = []
        for r in self.log():
            if r.method == "set_properties":
                out += [bool(p.get("value")) for p in r.params if isinstance(p, dict)]
            elif r.method == "set_power":
                out.append(r.params == ["on"])
        return out

    # -- the device -------------------------------------------------------------------

    @property
    def stamp(self) -> int:
        return 1000 + int(time.monotonic() - self._boot)

    def _serve(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                return
            try:
                packet, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            answer, step = self._answer(packet)
            if answer is None or self.silent:
                continue
            if self.delay_s > 0:
                time.sleep(self.delay_s)
            with contextlib.suppress(OSError):
                sock.sendto(answer, peer)
                if step is not None:
                    with self._lock:
                        step.delivered = True

    def _answer(self, packet: bytes) -> tuple[bytes | None, Step | None]:
        if packet == HELLO:
            if self.silent:
                return None, None
            self.hellos += 1
            return hello_answer(self.device_id, self.stamp), None
        token = bytes.fromhex(self.token)
        try:
            _did, _stamp, message = decode(token, packet)
        except BadPacket:
            if not self.silent:
                self.unreadable += 1  # a wrong token: a real plug stays silent too
            return None, None
        method, params = str(message.get("method")), message.get("params")
        now = time.monotonic()
        with self._lock:  # one order for requests and a user's switching
            if self.silent:  # heard, not answered: only the trace knows
                if self.record:
                    self.trace.append(Step(now, self.on, method=method, params=params))
                return None, None
            self.requests.append(Received(method, params, now))
            body: dict[str, Any] = {}
            if self.error is not None:
                body["error"] = self.error
            else:
                body.update(self._call(method, params))
            step = None
            if self.record:
                step = Step(now, self.on, method=method, params=params, reply=body)
                self.trace.append(step)
        reply = {"id": message.get("id"), **body}
        return encode(token, self.device_id, self.stamp, reply), step

    def _call(self, method: str, params: Any) -> dict[str, Any]:
        items = params if isinstance(params, list) else []
        if self.kind == "miot":
            if method == "get_properties":
                return {"result": [self._get(p) for p in items if isinstance(p, dict)]}
            if method == "set_properties":
                return {"result": [self._set(p) for p in items if isinstance(p, dict)]}
            if method in ("get_prop", "set_power", "set_on", "set_off"):
                return {"error": {"code": -9999, "message": "user ack timeout"}}
        else:
            if method == "get_prop":
                power = "on" if self.on else "off"
                return {"result": [power if p == "power" else None for p in items]}
            if method == "set_power" and items in (["on"], ["off"]):
                self.on = items == ["on"]
                return {"result": ["ok"]}
        return {"error": {"code": -32601, "message": "Method not found."}}

    def _get(self, p: dict[str, Any]) -> dict[str, Any]:
        out = {k: p.get(k) for k in ("did", "siid", "piid")}
        if (p.get("siid"), p.get("piid")) != self.switch:
            return {**out, "code": -4003}
        return {**out, "code": 0, "value": self.on}

    def _set(self, p: dict[str, Any]) -> dict[str, Any]:
        out = {k: p.get(k) for k in ("did", "siid", "piid")}
        if (p.get("siid"), p.get("piid")) != self.switch:
            return {**out, "code": -4003}
        if not isinstance(p.get("value"), bool):
            return {**out, "code": -4005}
        self.on = bool(p["value"])
        return {**out, "code": 0}
