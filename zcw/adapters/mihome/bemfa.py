"""A switch in Bemfa's cloud (巴法云), which Mi Home lists, over a second MQTT session.

Mi Home cannot hold a DIY device, but it lists Bemfa devices under 其他平台设备, so XiaoAI
can switch a topic whose name ends in ``006`` (a switch). Bemfa's convention, as its clients
use it: the client id is the user's private key (no user name or password), MQTT 3.1.1,
QoS 0 or 1 only (QoS 2 gets the client thrown off), and a message published to
``<topic>/set`` updates the switch and reaches every subscriber but the publisher, so zcw
publishes its ``off`` there and does not hear itself. It needs the internet; an outage is a
transient fault and blocks nothing. As in the zcw MQTT link, paho's callbacks run in paho's
thread and only hand their data to the event loop.

Because the key *is* the client id, the session goes over TLS by default (port 9503, where
public Bemfa clients connect with TLS; not checked against Bemfa's own documentation, which
could not be reached when this was written), the server's certificate checked against the
system's CAs or ``ca_file``; a certificate that does not verify is the ``bemfa_tls`` fault,
and the key is never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from zcw.adapters.mihome.machine import Action, Ask, CloudSwitchMachine, Switch
from zcw.adapters.mihome.plug import Problem

log = logging.getLogger("zcw.mihome")

CONNECT_TIMEOUT_S = 10.0
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
KEEPALIVE_S = 30  # Bemfa drops a client silent for more than about 60 s


@dataclass(frozen=True, slots=True)
class BemfaSettings:
    """``[mihome.bemfa]``, resolved. ``key`` stays out of ``repr``."""

    topic: str
    loop: str
    key: str = field(repr=False)
    host: str = "bemfa.com"
    port: int = 9503
    tls: bool = True
    ca_file: Path | None = None  # None: the system's CAs
    keepalive_s: int = KEEPALIVE_S

    def tls_context(self) -> ssl.SSLContext:
        """Verify the server's certificate and host name (system CAs unless ``ca_file``)."""
        cafile = None if self.ca_file is None else str(self.ca_file.expanduser())
        return ssl.create_default_context(cafile=cafile)

    @property
    def set_topic(self) -> str:
        return f"{self.topic}/set"


class BemfaLink:
    """Keeps the Bemfa session up until ``close()``; same trigger interface as a plug."""

    def __init__(
        self,
        settings: BemfaSettings,
        *,
        on_request: Callable[[str], None],
        on_problem: Callable[[Problem | None], None],
    ) -> None:
        self.settings = settings
        self.machine = CloudSwitchMachine()
        self._on_request = on_request
        self._on_problem = on_problem
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._closed = asyncio.Event()
        self._connected = asyncio.Event()
        self._dropped = asyncio.Event()
        self._refused: ReasonCode | None = None
        self._want_off = False  # an "off" to publish once connected
        self.connected = False
        self.published: deque[str] = deque(maxlen=100)  # latest payloads sent (for tests)
        self._client = self._make_client()

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"BemfaLink({s.host}:{s.port}, tls={s.tls}, topic={s.topic}, "
            f"connected={self.connected})"
        )

    @property
    def loop_name(self) -> str:
        return self.settings.loop

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.settings.key,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if self.settings.tls:
            client.tls_set_context(self.settings.tls_context())
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_message = self._cb_message
        return client

    # -- paho's thread: hand over to the event loop, nothing more -----------------------

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(fn, *args)

    def _cb_connect(
        self,
        _c: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        self._call(self._on_connack, reason)

    def _cb_disconnect(
        self,
        _c: mqtt.Client,
        _u: object,
        _f: mqtt.DisconnectFlags,
        _r: ReasonCode,
        _p: Properties | None,
    ) -> None:
        self._call(self._dropped.set)

    def _cb_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self._call(self._on_message, msg.topic, bytes(msg.payload), bool(msg.retain))

    # -- event loop ---------------------------------------------------------------------

    def _on_connack(self, reason: ReasonCode) -> None:
        if reason.is_failure:
            self._refused = reason
            self._dropped.set()
            return
        self._client.subscribe(self.settings.topic, qos=1)
        self._connected.set()

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic != self.settings.topic:
            return
        text = payload.decode("utf-8", errors="replace")
        log.info("Bemfa %s: %r%s", topic, text[:20], " (retained)" if retained else "")
        self._perform(self.machine.message(time.monotonic(), text, retained=retained))

    def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Ask):
                self._on_request(action.action)
            elif isinstance(action, Switch) and not action.on:
                self._want_off = True
                self._flush()

    def _flush(self) -> None:
        if self._want_off and self.connected:
            info = self._client.publish(self.settings.set_topic, "off", qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self._want_off = False
                self.published.append("off")

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = BACKOFF_MIN_S
        while not self._closing:
            problem = await self._session()
            if self._closing:
                break
            self.connected = False
            if problem is not None:
                log.warning("Bemfa: %s (%s)", problem.message, problem.hint)
                self._on_problem(problem)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), backoff)
            backoff = BACKOFF_MIN_S if problem is None else min(backoff * 2, BACKOFF_MAX_S)

    async def _session(self) -> Problem | None:
        """Connect and serve until the connection drops; say why it failed (None: dropped)."""
        s = self.settings
        self._connected.clear()
        self._dropped.clear()
        self._refused = None
        try:
            self._client = self._make_client()
            if s.tls:
                # Before the key goes out as the client id, and in a socket of our own: paho
                # leaks its half-open socket when a handshake fails.
                await asyncio.wait_for(asyncio.to_thread(_verify_tls, s), CONNECT_TIMEOUT_S)
            await asyncio.wait_for(
                asyncio.to_thread(self._client.connect, s.host, s.port, s.keepalive_s),
                CONNECT_TIMEOUT_S,
            )
        except ssl.SSLCertVerificationError as exc:
            _dispose(self._client)
            return _untrusted(s, exc.verify_message or str(exc))
        except (_NoTls, ssl.SSLError) as exc:
            _dispose(self._client)
            return _no_tls(s, str(exc))
        except (OSError, TimeoutError) as exc:
            _dispose(self._client)
            return _unreachable(s, f"{type(exc).__name__}: {exc}")
        self._client.loop_start()
        done: asyncio.Event | None = None
        try:
            with contextlib.suppress(TimeoutError):
                done = await asyncio.wait_for(self._first(), CONNECT_TIMEOUT_S)
            if done is self._connected:
                self.connected = True
                log.info("Bemfa connected to %s:%d, topic %s", s.host, s.port, s.topic)
                self._on_problem(None)
                self._flush()
                await self._dropped.wait()
                if not self._closing:
                    log.warning("Bemfa connection lost")
                return None
            if self._refused is not None:
                return Problem(
                    "bemfa_refused",
                    f"Bemfa's cloud at {s.host}:{s.port} refused zcw ({self._refused}).",
                    "Check mihome.bemfa.key: it is the private key (私钥) shown in Bemfa's "
                    "console, used as the MQTT client id.",
                )
            return _unreachable(s, "no answer to the MQTT connect")
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                self._client.disconnect()
            await asyncio.to_thread(self._client.loop_stop)
            _dispose(self._client)

    async def _first(self) -> asyncio.Event:
        a, b = self._connected, self._dropped
        ta, tb = asyncio.create_task(a.wait()), asyncio.create_task(b.wait())
        done, pending = await asyncio.wait({ta, tb}, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        return a if ta in done else b

    # -- news from the daemon ---------------------------------------------------------

    def answered(self, started: bool) -> None:
        self._perform(self.machine.answered(time.monotonic(), started))

    def started_elsewhere(self) -> None:
        self._perform(self.machine.started_elsewhere(time.monotonic()))

    def ended(self) -> None:
        self._perform(self.machine.ended(time.monotonic()))

    @property
    def awaiting(self) -> bool:
        return self.machine.awaiting

    @property
    def active(self) -> bool:
        return self.machine.active

    async def close(self) -> None:
        """Publish a pending ``off`` if connected, then disconnect."""
        self._flush()
        if self.connected:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._wait_published, 2.0)
        self._closing = True
        self._closed.set()
        self._dropped.set()

    def _wait_published(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.02)


def _unreachable(s: BemfaSettings, why: str) -> Problem:
    return Problem(
        "bemfa_unreachable",
        f"Bemfa's cloud at {s.host}:{s.port} is unreachable ({why}).",
        "Bemfa needs the internet: check the Pi's connection and DNS. Until it is back, "
        "XiaoAI cannot reach zcw through Bemfa; the button and the LAN triggers work.",
    )


def _untrusted(s: BemfaSettings, why: str) -> Problem:
    cas = "the system's CAs" if s.ca_file is None else f"mihome.bemfa.ca_file ({s.ca_file})"
    return Problem(
        "bemfa_tls",
        f"The TLS certificate of Bemfa's cloud at {s.host}:{s.port} does not verify against "
        f"{cas} ({why}); zcw did not send the key.",
        "Check the Pi's clock (a wrong date fails every certificate), that mihome.bemfa.host "
        "is the name on the certificate, and the CA bundle (`sudo apt-get install "
        "ca-certificates`) or mihome.bemfa.ca_file. Set mihome.bemfa.tls = false only if "
        "Bemfa offers no TLS: the key then crosses the internet in clear.",
    )


def _no_tls(s: BemfaSettings, why: str) -> Problem:
    return Problem(
        "bemfa_tls",
        f"No TLS session with Bemfa's cloud at {s.host}:{s.port} ({why}); zcw did not send "
        "the key.",
        "Check mihome.bemfa.port: Bemfa's TLS port is 9503 (9501 is plain MQTT). Set "
        "mihome.bemfa.tls = false only if Bemfa offers no TLS: the key then crosses the "
        "internet in clear.",
    )


class _NoTls(Exception):
    """The TCP connection was made, and the TLS handshake on it failed (not the certificate)."""


def _verify_tls(s: BemfaSettings) -> None:
    """A TLS handshake of our own, closed at once: the certificate's verdict, no leak."""
    with socket.create_connection((s.host, s.port), timeout=CONNECT_TIMEOUT_S) as raw:
        try:
            with s.tls_context().wrap_socket(raw, server_hostname=s.host):
                pass
        except ssl.SSLCertVerificationError:
            raise
        except OSError as exc:  # SSLError too; a plain MQTT port resets or closes
            raise _NoTls(f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}") from exc


def _dispose(client: mqtt.Client) -> None:
    """Close every socket of a finished client now, not whenever the GC gets to it."""
    reset = getattr(client, "_reset_sockets", None)  # paho has no public close()
    if reset is not None:
        with contextlib.suppress(Exception):
            reset()
