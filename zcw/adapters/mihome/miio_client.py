"""One miIO request to a Mi plug: python-miio's codec over a socket of our own.

The packets are built and checked by python-miio 0.5.12 (``miio.protocol.Message``: header,
MD5 checksum over header + token + payload, AES-128-CBC with key MD5(token) and IV
MD5(key + token)). Its ``MiIOProtocol.send`` is not used: its handshake calls ``discover()``,
which ignores the timeout and waits 5 s for an absent device; it retries three times (one
failed poll would last about 20 s); and it leaves its sockets to the garbage collector.
Here a call makes at most one hello and one request, each with a short timeout, no retries,
and tells *why* it failed, so the fault can say what to fix.

This module is imported only when ``[mihome]`` has a proxy, and python-miio itself only by
:func:`load_codec`: its import costs about 0.23 s of CPU here (seconds on a Pi) and memory,
and the Mi Home glue calls it after the bridge has answered, so it does not hold up READY
(README, "Footprint"). Calls block: run them in the plug's
:class:`~zcw.adapters.mihome.worker.DeviceWorker`, never in the event loop.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import socket
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

PORT = 54321
HELLO = bytes.fromhex("21310020" + "ff" * 28)
CALL_TIMEOUT_S = 1.5
# MIoT error codes (spec.miot.com): the property does not exist / cannot be read or written.
MIOT_NO_PROPERTY = (-4001, -4002, -4003)
LEGACY_ON_MIOT = -9999  # a MIoT-only plug's answer to legacy get_prop
METHOD_NOT_FOUND = -32601

ProblemKind = Literal["offline", "token", "kind", "property", "error"]


@dataclass(frozen=True)
class Codec:
    """What zcw uses of python-miio (and of construct, which it builds on)."""

    message: Any  # miio.protocol.Message
    checksum_error: type[Exception]  # construct.core.ChecksumError
    payload_error: type[Exception]  # miio.exceptions.PayloadDecodeException


def miio_installed() -> bool:
    """Whether python-miio can be found, without importing it (that is :func:`load_codec`)."""
    try:
        return importlib.util.find_spec("miio") is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def load_codec() -> Codec:
    """Import python-miio's codec (once; ImportError if it cannot be imported)."""
    with warnings.catch_warnings():
        # python-miio 0.5.12 subclasses click classes that click 8.2 deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        from construct.core import ChecksumError
        from miio.exceptions import PayloadDecodeException
        from miio.protocol import Message
    return Codec(Message, ChecksumError, PayloadDecodeException)


class PlugFailure(Exception):
    """Why a call failed; ``detail`` never holds the token."""

    def __init__(self, kind: ProblemKind, detail: str, code: int | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.code = code


@dataclass
class MiioPlug:
    """A plug's switch, read and set over miIO (``kind`` miot or miio_plug)."""

    host: str
    token: str = field(repr=False)
    kind: Literal["miot", "miio_plug"] = "miot"
    siid: int = 2
    piid: int = 1
    timeout_s: float = CALL_TIMEOUT_S
    port: int = PORT
    _device_id: bytes | None = field(default=None, init=False, repr=False)
    _device_ts: dt.datetime | None = field(default=None, init=False, repr=False)
    _id: int = field(default=0, init=False, repr=False)
    _mute_after_hello: int = field(default=0, init=False, repr=False)

    # -- the switch -------------------------------------------------------------------

    def read(self) -> bool:
        if self.kind == "miot":
            result = self.request(
                "get_properties", [{"did": "zcw", "siid": self.siid, "piid": self.piid}]
            )
            item = self._miot_item(result)
            value = item.get("value")
            if isinstance(value, bool) or value in (0, 1):
                return bool(value)
            raise PlugFailure("error", f"get_properties gave {value!r}, not on/off")
        result = self.request("get_prop", ["power"])
        first = result[0] if isinstance(result, list) and result else None
        if first in ("on", True):
            return True
        if first in ("off", False):
            return False
        raise PlugFailure("error", f"get_prop power gave {result!r}, not on/off")

    def switch(self, on: bool) -> None:
        if self.kind == "miot":
            item = {"did": "zcw", "siid": self.siid, "piid": self.piid, "value": on}
            self._miot_item(self.request("set_properties", [item]))
            return
        result = self.request("set_power", ["on" if on else "off"])
        if result != ["ok"]:
            raise PlugFailure("error", f"set_power gave {result!r}")

    def _miot_item(self, result: Any) -> dict[str, Any]:
        items = result if isinstance(result, list) else []
        item = next(
            (
                i
                for i in items
                if isinstance(i, dict) and i.get("siid") == self.siid and i.get("piid") == self.piid
            ),
            None,
        )
        if item is None:
            raise PlugFailure("error", f"no siid={self.siid} piid={self.piid} in {result!r}")
        code = item.get("code", 0)
        if code in MIOT_NO_PROPERTY:
            raise PlugFailure("property", f"MIoT code {code}", code)
        if code not in (0, 1):  # 1: accepted, done asynchronously
            raise PlugFailure("error", f"MIoT code {code}", code)
        return item

    # -- the protocol -----------------------------------------------------------------

    def request(self, method: str, params: Any) -> Any:
        """One request and its answer's ``result``; PlugFailure says why not."""
        fresh = False
        if self._device_id is None:
            self._hello()
            fresh = True
        try:
            return self._exchange(method, params)
        except TimeoutError:
            self._id += 100  # a device ignores an id it has seen; python-miio does the same
            self._device_id = None
            if not fresh:
                self._hello()  # raises "offline" if the hello goes unanswered too
            # It answers the hello (unencrypted) but not the request: once may be a lost
            # packet, twice in a row is a token it cannot verify.
            self._mute_after_hello += 1
            if self._mute_after_hello >= 2:
                raise PlugFailure("token", "it answers the hello but not requests") from None
            raise PlugFailure(
                "offline", f"answered the hello but not {method} within {self.timeout_s:g} s"
            ) from None
        except PlugFailure:
            self._device_id = None
            raise

    def _socket(self) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(self.timeout_s)
        return s

    def _hello(self) -> None:
        with self._socket() as s:
            try:
                s.sendto(HELLO, (self.host, self.port))
                while True:
                    data = s.recv(1024)
                    if len(data) == 32 and data[:4] == HELLO[:4]:
                        break
            except OSError as exc:
                self._mute_after_hello = 0
                why = (
                    f"no answer to the miIO hello within {self.timeout_s:g} s"
                    if isinstance(exc, TimeoutError)
                    else f"{type(exc).__name__}: {exc.strerror or exc}"
                )
                raise PlugFailure("offline", why) from None
        try:
            header = load_codec().message.parse(data).header.value
        except Exception:  # construct's errors: not a miIO hello after all
            raise PlugFailure("error", "its answer to the hello is not a miIO packet") from None
        self._device_id = bytes(header.device_id)
        self._device_ts = header.ts

    def _exchange(self, method: str, params: Any) -> Any:
        assert self._device_id is not None and self._device_ts is not None
        token = bytes.fromhex(self.token)
        self._id = self._id + 1 if self._id < 9999 else 1
        request = {"id": self._id, "method": method, "params": params}
        codec = load_codec()
        packet = codec.message.build(
            {
                "data": {"value": request},
                "header": {
                    "value": {
                        "length": 0,
                        "unknown": 0,
                        "device_id": self._device_id,
                        "ts": self._device_ts + dt.timedelta(seconds=1),
                    }
                },
                "checksum": 0,
            },
            token=token,
        )
        with self._socket() as s:
            try:
                s.sendto(packet, (self.host, self.port))
                while True:  # skip a duplicate of an earlier answer, if any
                    data = s.recv(4096)
                    try:
                        reply = codec.message.parse(data, token=token)
                    except codec.checksum_error:
                        raise PlugFailure(
                            "token", "its answer fails the checksum for this token"
                        ) from None
                    except codec.payload_error:
                        raise PlugFailure("error", "its answer is not JSON") from None
                    except Exception:  # construct's errors: some other packet
                        continue
                    payload = reply.data.value
                    if isinstance(payload, dict) and payload.get("id") == self._id:
                        break
            except OSError as exc:
                if isinstance(exc, TimeoutError):
                    raise
                why = f"{type(exc).__name__}: {exc.strerror or exc}"
                raise PlugFailure("offline", why) from None
        self._device_ts = reply.header.value.ts
        self._mute_after_hello = 0
        error = payload.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            text = str(error.get("message", ""))[:80]
            if code == LEGACY_ON_MIOT and self.kind == "miio_plug":
                raise PlugFailure("kind", f"{method} answered {code} ({text})", code)
            if code == METHOD_NOT_FOUND or "not found" in text.lower():
                raise PlugFailure("kind", f"{method}: method not found ({code})", code)
            raise PlugFailure("error", f"{method} answered error {code} ({text})", code)
        return payload.get("result")
