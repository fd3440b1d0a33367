"""One MQTT connection that stays up: aiomqtt, credentials, optional TLS, reconnect with backoff.

Both ends of the control loop use it: the agent's `MqttBridge` and the
simulated robot. It owns two bounded queues with named policies, so that
neither a flood nor an outage can grow memory:

    incoming   drop_oldest(incoming_max)   messages received, waiting for the owner to `drain()` them
    outgoing   drop_oldest(outgoing_max)   messages to publish; while disconnected nothing is queued
                                           (`publish_nowait` returns False and counts a drop): a
                                           stale action must never be replayed after a reconnect

Connection states::

    DISCONNECTED ──► CONNECTING ──► CONNECTED ──(broker gone)──► DISCONNECTED ──backoff──► CONNECTING …
                          └──(credentials refused)──► AuthRefused raised (retrying cannot help)

Every task (the receiver and the sender of each connection) is owned by a TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import socket
import ssl
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from liveloop.graph.clock import Clock, MonotonicClock
from liveloop.graph.errors import LiveloopError

AUTH_REFUSED_CODES = {4, 5, 0x86, 0x87}  # MQTT 3.1.1 CONNACK 4/5 and their MQTT 5 reason codes


class AuthRefused(LiveloopError):
    """The broker refused the credentials; names the broker and the user."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca_file: str | None = None  # None: the system's CA store
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # skip hostname verification (self-signed test brokers only)

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.insecure:
            ctx.check_hostname = False
        return ctx


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and who we are to it."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsConfig | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("broker host must be non-empty")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"broker port must be in [1, 65535], got {self.port}")
        if self.password is not None and self.username is None:
            raise ValueError("a broker password needs a username")

    @classmethod
    def from_url(cls, url: str, username: str | None = None, password: str | None = None) -> BrokerAddress:
        """``mqtt://[user:pass@]host[:port]`` or ``mqtts://…`` (TLS, port 8883 by default)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"broker URL has no host: {url!r}")
        tls = TlsConfig() if parts.scheme == "mqtts" else None
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ValueError(f"broker URL has a bad port: {url!r}") from exc
        user = urllib.parse.unquote(parts.username) if parts.username else username
        pw = urllib.parse.unquote(parts.password) if parts.password else password
        return cls(parts.hostname, port, user, pw, tls)

    def describe(self) -> str:
        who = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{who}{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LinkConfig:
    client_id: str
    keepalive_s: int = 5
    connect_timeout_s: float = 2.0
    backoff_min_ms: float = 50.0
    backoff_max_ms: float = 2000.0
    backoff_factor: float = 2.0
    incoming_max: int = 64
    outgoing_max: int = 64

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id must be non-empty")
        if self.keepalive_s < 1:
            raise ValueError(f"keepalive_s must be >= 1, got {self.keepalive_s}")
        if not 0 < self.backoff_min_ms <= self.backoff_max_ms:
            raise ValueError(f"backoff must satisfy 0 < min <= max, got {self.backoff_min_ms}, {self.backoff_max_ms}")
        if self.backoff_factor < 1.0:
            raise ValueError(f"backoff_factor must be >= 1, got {self.backoff_factor}")
        if self.incoming_max < 1 or self.outgoing_max < 1:
            raise ValueError(f"queue sizes must be >= 1, got {self.incoming_max}, {self.outgoing_max}")


class Backoff:
    """Exponential backoff with full jitter (pure): delays in [min, cap], cap doubling per failure."""

    def __init__(self, min_ms: float, max_ms: float, factor: float = 2.0, seed: int | None = None) -> None:
        self.min_ms, self.max_ms, self.factor = min_ms, max_ms, factor
        self._rng = random.Random(seed)
        self.failures = 0

    def next_delay_s(self) -> float:
        cap = min(self.max_ms, self.min_ms * self.factor**self.failures)
        self.failures += 1
        return self._rng.uniform(self.min_ms, cap) / 1000.0

    def reset(self) -> None:
        self.failures = 0


class LinkState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class Incoming(NamedTuple):
    topic: str
    payload: bytes
    received_ns: int  # graph clock, when the receiver task took it off the socket queue


class Outgoing(NamedTuple):
    topic: str
    payload: bytes
    qos: int = 0


class _DropOldestQueue(asyncio.Queue):  # type: ignore[type-arg]
    """aiomqtt's own receive queue: full → evict the oldest (aiomqtt would drop the newest)."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.dropped = 0

    def put_nowait(self, item: object) -> None:
        if self.maxsize > 0 and self.qsize() >= self.maxsize:
            self.get_nowait()
            self.dropped += 1
        super().put_nowait(item)


@dataclass(slots=True)
class LinkStats:
    connects: int = 0
    disconnects: int = 0
    received: int = 0
    sent: int = 0
    incoming_drops: int = 0
    outgoing_drops: int = 0
    peak_incoming: int = 0
    peak_outgoing: int = 0


def _no_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle's algorithm off on the client's socket (paho leaves it on).

    A control loop sends small messages both ways: with Nagle on, a chunk waits
    for the ACK of the previous packet, and the peer delays that ACK until it has
    data to send or its delayed-ACK timer (40 ms on Linux) fires. Measured here:
    the robot's state → chunk round trip sat at one robot period (Mosquitto) or
    ≈ 45 ms (amqtt) at its median, whatever the agent did.
    """
    paho = getattr(client, "_client", None)
    sock = paho.socket() if paho is not None else None
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttLink:
    """A reconnecting MQTT client with bounded in/out queues; run it in a TaskGroup with `run()`."""

    def __init__(
        self,
        broker: BrokerAddress,
        config: LinkConfig,
        subscriptions: tuple[tuple[str, int], ...],
        clock: Clock | None = None,
    ) -> None:
        self.broker = broker
        self.config = config
        self.subscriptions = subscriptions
        self.clock = clock or MonotonicClock()
        self.state = LinkState.DISCONNECTED
        self.stats = LinkStats()
        self.last_error: str | None = None
        self._backoff = Backoff(config.backoff_min_ms, config.backoff_max_ms, config.backoff_factor)
        self._in: deque[Incoming] = deque(maxlen=config.incoming_max)
        self._out: deque[Outgoing] = deque(maxlen=config.outgoing_max)
        self._in_ready = asyncio.Event()
        self._out_ready = asyncio.Event()
        self._connected = asyncio.Event()
        self._closing = False
        self._close_evt = asyncio.Event()
        self._closed_evt = asyncio.Event()

    # -- owner side ------------------------------------------------------
    def publish_nowait(self, msg: Outgoing) -> bool:
        """Queue a message for the sender; False (a counted drop) while disconnected."""
        if self.state is not LinkState.CONNECTED:
            self.stats.outgoing_drops += 1
            return False
        if len(self._out) == self._out.maxlen:
            self.stats.outgoing_drops += 1  # the deque evicts the oldest
        self._out.append(msg)
        self.stats.peak_outgoing = max(self.stats.peak_outgoing, len(self._out))
        self._out_ready.set()
        return True

    def drain(self) -> list[Incoming]:
        """Everything received since the last call, oldest first."""
        items = list(self._in)
        self._in.clear()
        if not self._closing:  # once closing, waiters must keep waking up
            self._in_ready.clear()
        return items

    async def wait_incoming(self) -> None:
        await self._in_ready.wait()

    @property
    def closing(self) -> bool:
        return self._closing

    async def wait_closed(self) -> None:
        await self._closed_evt.wait()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def close(self) -> None:
        """Ask `run()` to finish: the current connection is closed cleanly, no reconnect follows."""
        self._closing = True
        self._close_evt.set()
        self._out_ready.set()
        self._in_ready.set()

    # -- the connection loop ---------------------------------------------
    async def run(self) -> None:
        cfg = self.config
        while not self._closing:
            self.state = LinkState.CONNECTING
            tls = self.broker.tls
            client = aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                username=self.broker.username,
                password=self.broker.password,
                identifier=cfg.client_id,
                keepalive=cfg.keepalive_s,
                timeout=cfg.connect_timeout_s,
                tls_context=tls.context() if tls else None,
                tls_insecure=tls.insecure if tls else None,
                queue_type=_DropOldestQueue,
                max_queued_incoming_messages=cfg.incoming_max,
                clean_session=True,
            )
            try:
                async with client:
                    await self._connected_session(client)
            except aiomqtt.MqttCodeError as exc:
                code = getattr(exc.rc, "value", exc.rc)
                if isinstance(exc, MqttConnectError) and code in AUTH_REFUSED_CODES:
                    self.state = LinkState.CLOSED
                    self._closed_evt.set()
                    raise AuthRefused(
                        f"broker {self.broker.describe()} refused client {cfg.client_id!r}: {exc}"
                    ) from exc
                self.last_error = str(exc)
            except aiomqtt.MqttError as exc:
                self.last_error = str(exc)
            finally:
                if self.state is LinkState.CONNECTED:
                    self.stats.disconnects += 1
                    self.stats.incoming_drops += client._queue.dropped  # type: ignore[attr-defined]
                self._connected.clear()
                self._out.clear()  # never replay what was queued for a connection that is gone
                if self.state is not LinkState.CLOSED:
                    self.state = LinkState.DISCONNECTED
            if self._closing:
                break
            # back off, but wake at once on close(); asyncio.timeout (not wait_for) never swallows a cancel
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._backoff.next_delay_s()):
                    await self._close_evt.wait()
        self.state = LinkState.CLOSED
        self._closed_evt.set()
        self._in_ready.set()  # wake whoever waits for messages: there will be none

    async def _connected_session(self, client: aiomqtt.Client) -> None:
        _no_delay(client)
        for topic, qos in self.subscriptions:
            await client.subscribe(topic, qos=qos)
        self._out.clear()
        self.state = LinkState.CONNECTED
        self.stats.connects += 1
        self._backoff.reset()
        self.last_error = None
        self._connected.set()
        name = self.config.client_id
        async with asyncio.TaskGroup() as tg:
            recv = tg.create_task(self._receive(client), name=f"{name}.receive")
            send = tg.create_task(self._send(client), name=f"{name}.send")
            await asyncio.wait((recv, send), return_when=asyncio.FIRST_COMPLETED)
            recv.cancel()
            send.cancel()

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Returns when the connection drops (the MqttError is kept in `last_error`)."""
        try:
            async for message in client.messages:
                payload = message.payload
                if not isinstance(payload, bytes | bytearray):
                    payload = str(payload).encode()
                if len(self._in) == self._in.maxlen:
                    self.stats.incoming_drops += 1  # the deque evicts the oldest
                self._in.append(Incoming(str(message.topic), bytes(payload), self.clock.now_ns()))
                self.stats.received += 1
                self.stats.peak_incoming = max(self.stats.peak_incoming, len(self._in))
                self._in_ready.set()
        except aiomqtt.MqttError as exc:
            self.last_error = str(exc)

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publishes the outgoing queue; returns on close() or when the connection drops."""
        try:
            while not self._closing:
                await self._out_ready.wait()
                self._out_ready.clear()
                while self._out and not self._closing:
                    msg = self._out.popleft()
                    await client.publish(msg.topic, msg.payload, qos=msg.qos)
                    self.stats.sent += 1
        except aiomqtt.MqttError as exc:
            self.last_error = str(exc)
