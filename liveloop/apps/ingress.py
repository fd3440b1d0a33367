"""Doors into a session graph for synchronous producers (transport callbacks), and silence fill.

`Ingress` is a source node with a bounded buffer of its own and a named
policy. A transport calls ``offer(data, origin_ns=capture_ns)`` from its
callbacks: it never waits (a full `block` buffer refuses and counts a drop,
`drop_oldest`/`latest` evict and count). ``control(kind)`` puts an interrupt on
the graph's control lane; ``close()`` ends the stream.

`MicIngress` adds `GapFiller` (sans-I/O): browsers send no packets while Opus
DTX is on, and lost packets leave gaps, so without it the endpointer would
never hear the end of a turn. After `gap_ms` without audio, the gap up to now
is emitted as silence, stamped where the audio stopped; late audio that filled
silence already covers is dropped. Audio offered but not yet delivered (the
loop was busy) is not a gap: filling it would replace the user's voice with
silence.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveloop.graph import Channel, Event, EventKind, Node, NodeContext, Output, Policy
from liveloop.graph.channel import Inbox
from liveloop.graph.clock import NS_PER_MS, NS_PER_S, Clock
from liveloop.graph.nodes import pump
from liveloop.rtc.audio import PcmFrame


class Ingress(Node):
    """A source fed from outside through `offer` (sync, never waits)."""

    out = Output(object)

    def __init__(self, name: str, *, policy: Policy, clock: Clock, type_: type = object) -> None:
        super().__init__(name)
        self.outputs = {"out": Output(type_)}
        self.clock = clock
        self._inbox = Inbox()
        self.buffer = Channel(f"{name}.<outside>", policy, self._inbox)
        self._seq = 0

    def offer(self, data: Any, *, origin_ns: int | None = None) -> bool:
        """Hand `data` to the graph; False when the buffer (policy block) is full and it was dropped."""
        now = self.clock.now_ns()
        self._seq += 1
        return self.buffer.put_nowait(Event(data, now if origin_ns is None else origin_ns, self._seq, self.name), now)

    def control(self, kind: EventKind) -> bool:
        now = self.clock.now_ns()
        return self.buffer.put_nowait(Event(None, now, 0, self.name, kind=kind), now)

    def close(self) -> None:
        self.control(EventKind.EOS)

    @property
    def depth(self) -> int:
        return self.buffer.depth

    def held_channels(self) -> tuple[Channel, ...]:
        return (self.buffer,)

    async def run(self, ctx: NodeContext) -> None:
        await pump(self._inbox, ctx, self.deliver)

    async def deliver(self, ev: Event, ctx: NodeContext) -> None:
        await ctx.emit("out", ev.data, origin_ns=ev.origin_ns)


@dataclass(slots=True)
class GapFiller:
    """Contiguous audio from gappy audio (sans-I/O); see the module docstring."""

    gap_ms: float = 100.0
    rate_hz: int = 16_000
    last_end_ns: int | None = None
    filled_ms: float = 0.0
    late_frames: int = 0

    def __post_init__(self) -> None:
        if self.gap_ms <= 0:
            raise ValueError(f"gap_ms must be > 0, got {self.gap_ms}")

    def feed(self, frame: PcmFrame) -> PcmFrame | None:
        """The frame, or None when filled silence already covers it."""
        end = frame.capture_ns + frame.duration_ns
        if self.last_end_ns is not None and end <= self.last_end_ns:
            self.late_frames += 1
            return None
        self.last_end_ns = end
        return frame

    def idle(self, now_ns: int) -> PcmFrame | None:
        """Silence from where the audio stopped up to `now_ns`, once the gap is `gap_ms` long."""
        if self.last_end_ns is None or now_ns - self.last_end_ns < self.gap_ms * NS_PER_MS:
            return None
        n = (now_ns - self.last_end_ns) * self.rate_hz // NS_PER_S
        frame = PcmFrame(np.zeros(n, np.float32), self.rate_hz, self.last_end_ns)
        self.last_end_ns += n * NS_PER_S // self.rate_hz
        self.filled_ms += n * 1000 / self.rate_hz
        return frame


class MicIngress(Ingress):
    """The microphone's door: `PcmFrame`s (16 kHz mono float32) in, gaps filled with silence."""

    def __init__(self, name: str, *, policy: Policy, clock: Clock, gap_ms: float = 100.0) -> None:
        super().__init__(name, policy=policy, clock=clock, type_=PcmFrame)
        self.gaps = GapFiller(gap_ms)

    async def run(self, ctx: NodeContext) -> None:
        async with asyncio.TaskGroup() as tg:
            filler = tg.create_task(self._fill(ctx), name=f"{self.name}.gap_fill")
            try:
                await super().run(ctx)
            finally:
                filler.cancel()

    async def deliver(self, ev: Event, ctx: NodeContext) -> None:
        frame = self.gaps.feed(ev.data)
        if frame is not None:
            await ctx.emit("out", frame, origin_ns=frame.capture_ns)

    def fill_due(self, now_ns: int) -> PcmFrame | None:
        """Silence for a gap, unless audio is waiting in the door (a busy loop, not a silent client)."""
        return None if self.depth else self.gaps.idle(now_ns)

    async def _fill(self, ctx: NodeContext) -> None:
        while True:
            await ctx.clock.sleep(self.gaps.gap_ms / 4000)  # a gap is noticed within 1.25 x gap_ms
            frame = self.fill_due(ctx.now_ns())
            if frame is not None:
                await ctx.emit("out", frame, origin_ns=frame.capture_ns)
