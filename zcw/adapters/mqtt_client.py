"""The MQTT connection: paho-mqtt 2.x (callback API v2, MQTT v5), reconnect with backoff.

Like aiomqtt, paho's callbacks run in paho's thread and only hand data to the event loop
(``call_soon_threadsafe``); nothing else happens there. Connecting is done by our own loop,
so every failure gets a clear reason and a hint (wrong password, wrong CA, broker down)
and the retry interval backs off from 1 s to 8 s. Secrets never reach a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger("zcw.mqtt")

CONNECT_TIMEOUT_S = 10.0
BACKOFF_MIN_S = 1.0
# Capped low enough that a returning broker is found again within 10 s.
BACKOFF_MAX_S = 8.0


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Connection settings. ``password`` is kept out of ``repr`` so it cannot be logged."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: Path | None = None
    client_id: str = "zcw"
    keepalive_s: int = 30


@dataclass(frozen=True, slots=True)
class LinkProblem:
    """Why the link is down, in words a user can act on."""

    code: str
    message: str
    hint: str


OnMessage = Callable[[str, bytes, bool], None]
OnState = Callable[[bool, LinkProblem | None], None]


class MqttLink:
    """One broker connection. ``run()`` keeps it up until ``close()``."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        will_topic: str,
        subscriptions: tuple[str, ...],
        on_message: OnMessage,
        on_state: OnState,
    ) -> None:
        self.settings = settings
        self._will_topic = will_topic
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_state = on_state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._dropped = asyncio.Event()
        self._refused: ReasonCode | None = None
        self.connected = False
        self.attempts: deque[float] = deque(maxlen=100)  # times of the latest attempts
        self._client = self._make_client()

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"MqttLink({s.host}:{s.port}, connected={self.connected}, tls={s.tls_ca is not None})"
        )

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5,
        )
        client.will_set(self._will_topic, "offline", qos=1, retain=True)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls_ca is not None:
            client.tls_set(ca_certs=str(s.tls_ca))
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_message = self._cb_message
        return client

    # -- paho thread: hand over to the event loop, nothing more -------------------------

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _cb_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._call(self._on_connack, reason)

    def _cb_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._call(self._dropped.set)

    def _cb_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._call(self._on_message, msg.topic, bytes(msg.payload), bool(msg.retain))

    # -- event loop ---------------------------------------------------------------------

    def _on_connack(self, reason: ReasonCode) -> None:
        if reason.is_failure:
            self._refused = reason
            self._dropped.set()
            return
        for topic in self._subscriptions:
            self._client.subscribe(topic, qos=1)
        self._connected.set()

    def publish(
        self, topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 0
    ) -> bool:
        """Publish if connected; returns False (and drops the message) when not."""
        if not self.connected:
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = BACKOFF_MIN_S
        while not self._closing:
            problem = await self._session()
            if self._closing:
                break
            self._set_state(False, problem)
            log.info("MQTT reconnect in %.0f s", backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_closing(), backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            if problem is None:
                backoff = BACKOFF_MIN_S  # we were connected: the next try is quick

    async def _wait_closing(self) -> None:
        while not self._closing:
            await asyncio.sleep(0.2)

    async def _session(self) -> LinkProblem | None:
        """Connect, serve until the connection drops; return why it failed (None: it dropped)."""
        s = self.settings
        self._connected.clear()
        self._dropped.clear()
        self._refused = None
        # A fresh client per session: paho would otherwise replay QoS 1 messages queued while
        # the broker was away, and stale state must not overtake the state we re-publish.
        self._client = self._make_client()
        self.attempts.append(asyncio.get_running_loop().time())
        try:
            if s.tls_ca is not None:
                await asyncio.wait_for(asyncio.to_thread(_verify_tls, s), CONNECT_TIMEOUT_S)
            await asyncio.wait_for(
                asyncio.to_thread(
                    self._client.connect, s.host, s.port, s.keepalive_s, clean_start=True
                ),
                CONNECT_TIMEOUT_S,
            )
        except ssl.SSLCertVerificationError as exc:
            _dispose(self._client)
            return LinkProblem(
                "mqtt_tls",
                f"TLS certificate of {s.host}:{s.port} failed verification ({exc.verify_message})",
                "check mqtt.tls_ca points at the CA that signed the broker's certificate, and "
                "that mqtt.host matches the certificate's name",
            )
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            _dispose(self._client)
            return LinkProblem(
                "mqtt_unreachable",
                f"cannot reach the MQTT broker at {s.host}:{s.port} ({type(exc).__name__}: {exc})",
                "check mqtt.host and mqtt.port, that the broker runs, and the firewall",
            )
        self._client.loop_start()
        try:
            done = await asyncio.wait_for(
                self._first_of(self._connected, self._dropped), CONNECT_TIMEOUT_S
            )
        except TimeoutError:
            done = None
        try:
            if done is self._connected:
                self._set_state(True, None)
                await self._dropped.wait()
                return None
            if self._refused is not None:
                return _refusal(self._refused, s)
            return LinkProblem(
                "mqtt_unreachable",
                f"the MQTT broker at {s.host}:{s.port} did not answer the connection",
                "check the broker and the network",
            )
        finally:
            with contextlib.suppress(Exception):
                self._client.disconnect()
            await asyncio.to_thread(self._client.loop_stop)
            _dispose(self._client)

    @staticmethod
    async def _first_of(a: asyncio.Event, b: asyncio.Event) -> asyncio.Event:
        ta, tb = asyncio.create_task(a.wait()), asyncio.create_task(b.wait())
        done, pending = await asyncio.wait({ta, tb}, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        return a if ta in done else b

    def _set_state(self, connected: bool, problem: LinkProblem | None) -> None:
        if connected != self.connected or problem is not None:
            if connected:
                log.info("MQTT connected to %s:%d", self.settings.host, self.settings.port)
            elif problem is not None:
                log.warning("MQTT: %s (%s)", problem.message, problem.hint)
            else:
                log.warning("MQTT connection lost")
        self.connected = connected
        self._on_state(connected, problem)

    async def close(self) -> None:
        """Publish ``offline`` and disconnect cleanly (the will covers unclean exits)."""
        self._closing = True
        if self.connected:
            self._client.publish(self._will_topic, "offline", qos=1, retain=True)
            self.connected = False
        self._dropped.set()


def _verify_tls(s: MqttSettings) -> None:
    """Check the broker's certificate ourselves first.

    paho leaks the half-open socket when its handshake fails; a handshake of our own, in a
    ``with`` block, gives the same verdict and closes cleanly.
    """
    assert s.tls_ca is not None
    context = ssl.create_default_context(cafile=str(s.tls_ca))
    with (
        socket.create_connection((s.host, s.port), timeout=CONNECT_TIMEOUT_S) as raw,
        context.wrap_socket(raw, server_hostname=s.host),
    ):
        pass


def _dispose(client: mqtt.Client) -> None:
    """Close every socket of a finished client now, not whenever the GC gets to it."""
    reset = getattr(client, "_reset_sockets", None)  # paho has no public close()
    if reset is not None:
        with contextlib.suppress(Exception):
            reset()


def _refusal(reason: ReasonCode, s: MqttSettings) -> LinkProblem:
    text = str(reason)
    if "password" in text.lower() or "authori" in text.lower():
        return LinkProblem(
            "mqtt_auth",
            f"the MQTT broker at {s.host}:{s.port} refused the login ({text})",
            "check mqtt.username and the password (ZCW_MQTT_PASSWORD or mqtt.password_file)",
        )
    return LinkProblem(
        "mqtt_refused",
        f"the MQTT broker at {s.host}:{s.port} refused the connection ({text})",
        "check the broker's log and its access control list for this client",
    )
