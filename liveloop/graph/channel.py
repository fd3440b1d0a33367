"""Bounded channels with named overflow policies, and a node's inbox.

Every edge into a node input is a `Channel` with a bound and a policy:

    Block(n)       lossless back-pressure: a put waits while n items are queued (audio, text)
    Latest()       keep only the newest item; a put over a waiting one replaces it (video, robot state)
    DropOldest(n)  keep the newest n; a put into a full channel evicts the oldest

Each channel counts depth, peak depth, puts and drops (`ChannelStats`). There is
no unbounded queue: the control lane is bounded too (control events are rare;
when it is full, a put waits). Interrupt and flush take the control lane and
overtake queued data; end of stream stays in order behind the data it ends and
is never evicted.

A node with several inputs waits on one `Inbox` that merges its channels:
control events first (from any input), then data round-robin.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from liveloop.graph.errors import ChannelClosed
from liveloop.graph.event import Event, EventKind

CONTROL_LANE_SIZE = 64


@dataclass(frozen=True, slots=True)
class Block:
    """Lossless back-pressure with at most `maxsize` queued items."""

    maxsize: int = 16

    def __post_init__(self) -> None:
        if self.maxsize < 1:
            raise ValueError(f"Block maxsize must be >= 1, got {self.maxsize}")

    @property
    def name(self) -> str:
        return f"block({self.maxsize})"


@dataclass(frozen=True, slots=True)
class Latest:
    """Keep only the newest item."""

    maxsize: int = field(default=1, init=False)

    @property
    def name(self) -> str:
        return "latest"


@dataclass(frozen=True, slots=True)
class DropOldest:
    """Keep the newest `maxsize` items; evict the oldest on overflow."""

    maxsize: int = 8

    def __post_init__(self) -> None:
        if self.maxsize < 1:
            raise ValueError(f"DropOldest maxsize must be >= 1, got {self.maxsize}")

    @property
    def name(self) -> str:
        return f"drop_oldest({self.maxsize})"


Policy = Block | Latest | DropOldest


def parse_policy(text: str) -> Policy:
    """'block', 'block(8)', 'latest', 'drop_oldest(4)' → a policy."""
    t = text.strip().replace(" ", "")
    name, _, rest = t.partition("(")
    arg = rest.rstrip(")")
    try:
        if name == "block":
            return Block(int(arg)) if arg else Block()
        if name == "latest":
            if arg:
                raise ValueError("latest takes no size")
            return Latest()
        if name == "drop_oldest":
            return DropOldest(int(arg)) if arg else DropOldest()
    except ValueError as exc:
        raise ValueError(f"bad policy {text!r}: {exc}") from exc
    raise ValueError(f"unknown policy {text!r}: must be block(n), latest or drop_oldest(n)")


@dataclass(slots=True)
class ChannelStats:
    peak: int = 0
    puts: int = 0
    drops: int = 0


class Channel:
    """One bounded input queue of events.

    The time an event was enqueued is its last hop's `t_out_ns` (when its
    producer emitted it), so no timestamp is stored beside it.
    """

    __slots__ = ("_closed", "_control", "_data", "_inbox", "_lossless", "_max", "_putters", "name", "policy", "stats")

    def __init__(self, name: str, policy: Policy, inbox: Inbox) -> None:
        self.name = name
        self.policy = policy
        self.stats = ChannelStats()
        self._max = policy.maxsize
        self._data: deque[Event] = deque()
        self._control: deque[Event] = deque()
        self._inbox = inbox
        self._putters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._lossless = type(policy) is Block
        inbox._channels.append(self)

    def offer(self, event: Event, now_ns: int) -> bool:
        """The hot path for data: put without waiting unless a `block` channel is full (then False).

        Lossy policies always succeed (evicting and counting the oldest).
        """
        data = self._data
        if len(data) >= self._max:
            if self._lossless or self._closed:
                return False
            data.popleft()
            self.stats.drops += 1
        data.append(event)
        st = self.stats
        st.puts += 1
        n = len(data)
        if n > st.peak:
            st.peak = n
        inbox = self._inbox
        w = inbox._waiter
        if w is not None:
            inbox._waiter = None
            if not w.done():
                w.set_result(None)
        return True

    # -- producer side -------------------------------------------------
    async def put(self, event: Event, now_ns: int) -> None:
        if self._closed:
            raise ChannelClosed(f"channel {self.name!r} is closed")
        if event.kind:
            if event.kind is EventKind.EOS:  # in order, after the data it ends; never evicted
                self._data.append(event)
                self._inbox._wake()
                return
            while len(self._control) >= CONTROL_LANE_SIZE:  # interrupt / flush: the priority lane
                await self._wait_for_room()
            self._control.append(event)
            self._inbox._wake()
            return
        data = self._data
        stats = self.stats
        if len(data) >= self._max:
            if type(self.policy) is Block:
                while len(data) >= self._max:
                    await self._wait_for_room()
                    if self._closed:
                        raise ChannelClosed(f"channel {self.name!r} is closed")
            else:  # Latest / DropOldest: evict the oldest, count it
                data.popleft()
                stats.drops += 1
        data.append(event)
        stats.puts += 1
        n = len(data)
        if n > stats.peak:
            stats.peak = n
        self._inbox._wake()

    def put_nowait(self, event: Event, now_ns: int) -> bool:
        """Put without waiting; returns False (and counts a drop) if a Block channel is full."""
        if event.kind:
            if event.kind is EventKind.EOS:
                self._data.append(event)
                self._inbox._wake()
                return True
            if len(self._control) >= CONTROL_LANE_SIZE:
                self.stats.drops += 1
                return False
            self._control.append(event)
            self._inbox._wake()
            return True
        if len(self._data) >= self._max:
            if type(self.policy) is Block:
                self.stats.drops += 1
                return False
            self._data.popleft()
            self.stats.drops += 1
        self._data.append(event)
        self.stats.puts += 1
        self.stats.peak = max(self.stats.peak, len(self._data))
        self._inbox._wake()
        return True

    async def _wait_for_room(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._putters.append(fut)
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()

    def _wake_putter(self) -> None:
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # -- consumer side (through the Inbox) -------------------------------
    def clear(self) -> int:
        """Drop all queued data (not control, not end of stream); returns how many were dropped."""
        eos = [e for e in self._data if e.kind]
        n = len(self._data) - len(eos)
        self._data.clear()
        self._data.extend(eos)
        self.stats.drops += n
        while self._putters:
            self._wake_putter()
        return n

    def close(self) -> None:
        self._closed = True
        for fut in self._putters:
            if not fut.done():
                fut.set_result(None)
        self._putters.clear()

    def __len__(self) -> int:
        return len(self._data)

    @property
    def depth(self) -> int:
        """Items queued now."""
        return len(self._data)

    def oldest_origin_ns(self) -> int | None:
        """The origin time of the oldest data event queued here (None when no data waits)."""
        for ev in self._data:  # end of stream waits in this lane too, behind the data it ends
            if not ev[6]:  # kind: data
                return ev.origin_ns
        return None


class Inbox:
    """All the input channels of one node, waited on together."""

    __slots__ = ("_channels", "_rr", "_waiter")

    def __init__(self) -> None:
        self._channels: list[Channel] = []
        self._waiter: asyncio.Future[None] | None = None
        self._rr = 0

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def get_nowait(self) -> Event | None:
        chans = self._channels
        for ch in chans:
            if ch._control:
                item = ch._control.popleft()
                if ch._putters:
                    ch._wake_putter()
                return item
        n = len(chans)
        if n == 1:
            ch = chans[0]
            if ch._data:
                item = ch._data.popleft()
                if ch._putters:
                    ch._wake_putter()
                return item
            return None
        for i in range(n):
            ch = chans[(self._rr + i) % n]
            if ch._data:
                self._rr = (self._rr + i + 1) % n
                item = ch._data.popleft()
                if ch._putters:
                    ch._wake_putter()
                return item
        return None

    async def get(self) -> Event:
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def clear_data(self) -> int:
        return sum(ch.clear() for ch in self._channels)

    def pending(self) -> int:
        return sum(len(ch._data) + len(ch._control) for ch in self._channels)

    @property
    def channels(self) -> list[Channel]:
        return self._channels
