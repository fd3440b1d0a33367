"""The session graph's door out: everything for the client goes to its `Transport` here.

    asr, turns, vision ──events (dict)──► egress ──► transport.send_event
    gate ──TurnItem──────────────────────►   │    ──► transport.push_speech / mark / flush_speech
                                             └──first_sent──► (the voice_to_voice / text_to_voice budgets end here)

The first audio of each turn is pinned with an in-band marker (`TURN_AUDIO`)
that the transport reports back, through `sent(turn, sent_ns)`, when that sample
leaves the server (the paced WebRTC track pulls it, the WebSocket writer sends
it). The egress then emits `first_sent` with the turn's first-audio event as
parent, so the runtime measures end of user speech (or the typed turn's
arrival) → first sample out, and tells the client in `audio.start`, with the
per-stage breakdown read from the hops of that same event (`stages`).

`sent` emits from the transport's callback itself, on the event loop, and not
after a hop through an input queue: `first_sent` has no edges, so the emit
never waits, and a hop would add the loop's scheduling delay (milliseconds
under load) to the number the dashboard shows beside the client's.

A turn held by the speculation gate arrives as a burst when it is confirmed
(its client events, then tens of audio frames): after the turn's first audio
the egress yields once, so the transport's writer sends it at once instead of
after the whole burst has been queued (≈ 10 ms on a loaded machine).

An INTERRUPT (barge-in) flushes the transport's speech when the agent is
talking (`audio.flush` to the client); audio and captions about anything before
the interrupt that are still on their way are dropped.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from liveloop.apps.messages import TurnAudio, TurnDone, TurnEvent, TurnMark
from liveloop.graph import Block, Event, EventKind, Input, Node, NodeContext, Output
from liveloop.graph.clock import NS_PER_MS

TURN_AUDIO = "_turn_audio"  # internal mark: the first sample of a turn's reply (reported by the transport)
TIMING_KEPT = 16  # turns whose first-audio event is kept until the transport reports it


class Transport(Protocol):
    """What a session needs from its client connection (WebRTC or /ws)."""

    def send_event(self, event: dict[str, Any]) -> None: ...

    def push_speech(self, samples: np.ndarray, rate_hz: int) -> None: ...

    def mark(self, payload: dict[str, Any]) -> None: ...

    def flush_speech(self) -> int: ...

    def speech_pending(self) -> bool:
        """Is agent speech still queued or playing at the client (so that barge-in has something to stop)?"""
        ...


@dataclass(frozen=True, slots=True)
class Stage:
    """A stage of the turn path: its name in `audio.start.stages` and the node whose output ends it."""

    name: str
    node: str
    first: bool = False  # the node's first hop on the path (the turn-taker appears twice: pause, then text)


def stage_breakdown(event: Event, end_ns: int, stages: Sequence[Stage]) -> dict[str, float]:
    """Milliseconds per stage along the event's path, in order, summing to ``end_ns - origin``.

    A stage whose node the event did not pass through is left out (typed turns skip the recognizer).
    A stage ends when its node emitted the event on its way (the hop's time out).
    """
    hops = event.hops()
    out: dict[str, float] = {}
    prev = event.origin_ns
    for st in stages:
        times = [h.t_out_ns for h in hops if h.node == st.node]
        if not times:
            continue
        t = max(times[0] if st.first else times[-1], prev)
        out[f"{st.name}_ms"] = (t - prev) / NS_PER_MS
        prev = t
    out["egress_ms"] = (end_ns - prev) / NS_PER_MS
    return out


class EgressNode(Node):
    events = Input(dict, Block(256), doc="client events: transcripts, speech.start, tracks, regions")
    speech = Input(object, Block(64), doc="TurnItems from the gate")
    first_sent = Output(int, doc="a turn number, when its first audio sample left the server")
    drop_on_interrupt = False  # client events are never dropped; audio is dropped by age

    def __init__(
        self,
        transport: Transport,
        *,
        stages: Sequence[Stage] = (),
        spoken_source: str = "mic",
        events: bool = True,
        name: str = "egress",
    ) -> None:
        super().__init__(name)
        if not events:  # nothing in this graph sends client events besides the turns (no ASR, no vision)
            del self.inputs["events"]
        self.transport = transport
        self.stages = tuple(stages)
        self.spoken_source = spoken_source  # turns whose origin this node stamped are voice-to-voice
        self._first: OrderedDict[int, Event] = OrderedDict()  # turn → its first audio event
        self._speaking: int | None = None
        self._last_turn: int | None = None
        self._stop_before_ns = -(1 << 62)
        self._interrupts: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._ctx: NodeContext | None = None
        self.dropped_audio = 0

    async def setup(self, ctx: NodeContext) -> None:
        self._ctx = ctx

    async def process(self, event: Event, ctx: NodeContext) -> None:
        data = event.data
        t = self.transport
        if event.port == "events":
            t.send_event(data)
        elif isinstance(data, TurnEvent):
            t.send_event(data.event)
        elif isinstance(data, TurnAudio | TurnMark) and event.origin_ns < self._stop_before_ns:
            self.dropped_audio += 1
        elif isinstance(data, TurnAudio):
            first = data.turn not in self._first and self._speaking != data.turn
            if first:
                self._first[data.turn] = event
                while len(self._first) > TIMING_KEPT:
                    self._first.popitem(last=False)
                t.mark({"type": TURN_AUDIO, "turn": data.turn})
            self._speaking = self._last_turn = data.turn
            t.push_speech(data.samples, data.rate_hz)
            if first:
                await asyncio.sleep(0)  # let the transport's writer send it before the rest of a burst is queued
        elif isinstance(data, TurnMark):
            t.mark({"type": "caption", "turn": data.turn, **data.payload})
        elif isinstance(data, TurnDone) and self._speaking == data.turn:
            self._speaking = None

    def sent(self, turn: int, sent_ns: int) -> None:
        """The transport reports `turn`'s first sample leaving the server (call it on the event loop)."""
        first = self._first.pop(turn, None)
        ctx = self._ctx
        if first is None or ctx is None:
            return
        ctx.emit_nowait("first_sent", turn, parent=first)  # the runtime records the path budgets here (now)
        latency_ms = (sent_ns - first.origin_ns) / NS_PER_MS
        spoken = first.source == self.spoken_source
        self.transport.send_event(
            {
                "type": "audio.start",
                "turn": turn,
                "spoken": spoken,
                ("voice_to_voice_ms" if spoken else "text_to_voice_ms"): latency_ms,
                "stages": stage_breakdown(first, sent_ns, self.stages),
            }
        )

    async def on_control(self, event: Event, ctx: NodeContext) -> None:
        if event.kind is EventKind.INTERRUPT:
            key = (event.source, event.seq)  # the same interrupt may arrive on several inputs
            if key not in self._interrupts:
                self._interrupts[key] = None
                while len(self._interrupts) > 16:
                    self._interrupts.popitem(last=False)
                self._barge_in(event)
        await ctx.forward_control(event)

    def _barge_in(self, event: Event) -> None:
        self._stop_before_ns = max(self._stop_before_ns, event.origin_ns)
        t = self.transport
        if self._speaking is None and not t.speech_pending():
            return
        turn = self._speaking if self._speaking is not None else self._last_turn
        dropped = t.flush_speech()
        self._speaking = None
        t.send_event({"type": "audio.flush", "reason": "barge_in", "turn": turn, "dropped_samples": dropped})
