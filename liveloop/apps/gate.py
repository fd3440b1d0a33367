"""The speculation gate: holds a speculative turn's output until the endpoint is confirmed.

    voice ──TurnItem──► gate ──TurnItem──► egress

`SpeculationGate` (sans-I/O) keeps one state per turn::

    TurnOpen(speculative) ─► HELD ──Confirm──► OPEN     (what was held goes out at once, in order)
                              └────Cancel───► DROPPED  (what was held, and what comes later, is dropped)
    TurnOpen(not speculative) ─► OPEN

An interrupt (barge-in) at origin t drops the audio and captions, held or
arriving, of every turn about something before t (their client events still
go out: the text of a reply that was cut off stays on the page). Held output
is bounded: a turn that holds more than `max_held` items is dropped (and
counted), as if it had been cancelled.

The core never touches events; it hands back the opaque `token` it was given
with each item (the adapter passes the graph event, so lineage and origin
survive the hold).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from liveloop.apps.messages import Cancel, Confirm, TurnAudio, TurnItem, TurnMark, TurnOpen
from liveloop.graph import Block, Event, Input, Node, NodeContext, Output

KEEP_TURNS = 32  # states of this many recent turns are remembered


class GateState(enum.Enum):
    HELD = "held"
    OPEN = "open"
    DROPPED = "dropped"


@dataclass(slots=True)
class _Turn:
    state: GateState
    held: list[tuple[TurnItem, int, Any]] = field(default_factory=list)  # (item, origin_ns, token)


@dataclass(slots=True)
class GateStats:
    held: int = 0
    released: int = 0
    dropped: int = 0
    overflows: int = 0


class SpeculationGate:
    def __init__(self, max_held: int = 1000) -> None:
        if max_held < 1:
            raise ValueError(f"max_held must be >= 1, got {max_held}")
        self.max_held = max_held
        self.stats = GateStats()
        self._turns: OrderedDict[int, _Turn] = OrderedDict()
        self._stop_before_ns = -(1 << 62)

    def state(self, turn: int) -> GateState | None:
        t = self._turns.get(turn)
        return None if t is None else t.state

    def feed(self, item: TurnItem, origin_ns: int, token: Any) -> list[tuple[TurnItem, Any]]:
        """What goes out now: [(item, token)]."""
        if isinstance(item, TurnOpen):
            self._turns[item.turn] = _Turn(GateState.HELD if item.speculative else GateState.OPEN)
            while len(self._turns) > KEEP_TURNS:
                self._turns.popitem(last=False)
            return []
        t = self._turns.get(item.turn)
        if isinstance(item, Confirm):
            if t is None or t.state is not GateState.HELD:
                return []
            t.state = GateState.OPEN
            out = [(i, tok) for i, o, tok in t.held if not self._stale(i, o)]
            self.stats.released += len(out)
            self.stats.dropped += len(t.held) - len(out)
            t.held = []
            return out
        if isinstance(item, Cancel):
            if t is not None:
                self.stats.dropped += len(t.held)
                t.held = []
                t.state = GateState.DROPPED
            return []
        if t is not None and t.state is GateState.DROPPED:
            self.stats.dropped += 1
            return []
        if self._stale(item, origin_ns):
            self.stats.dropped += 1
            return []
        if t is not None and t.state is GateState.HELD:
            if len(t.held) >= self.max_held:
                self.stats.overflows += 1
                self.stats.dropped += len(t.held) + 1
                t.held = []
                t.state = GateState.DROPPED
                return []
            t.held.append((item, origin_ns, token))
            self.stats.held += 1
            return []
        return [(item, token)]

    def interrupt(self, origin_ns: int) -> None:
        """Barge-in at `origin_ns`: audio and captions about anything before it are void."""
        self._stop_before_ns = max(self._stop_before_ns, origin_ns)
        for t in self._turns.values():
            kept = [h for h in t.held if not self._stale(h[0], h[1])]
            self.stats.dropped += len(t.held) - len(kept)
            t.held = kept

    def _stale(self, item: TurnItem, origin_ns: int) -> bool:
        return isinstance(item, TurnAudio | TurnMark) and origin_ns < self._stop_before_ns


class GateNode(Node):
    items = Input(object, Block(64), doc="TurnItems from the voice")
    out = Output(object, doc="TurnItems released")
    drop_on_interrupt = False  # the core drops by age what an interrupt voids; client events stay

    def __init__(self, core: SpeculationGate | None = None, name: str = "gate") -> None:
        super().__init__(name)
        self.core = core or SpeculationGate()

    async def process(self, event: Event, ctx: NodeContext) -> None:
        for item, parent in self.core.feed(event.data, event.origin_ns, event):
            await ctx.emit("out", item, parent=parent)

    async def on_interrupt(self, event: Event, ctx: NodeContext) -> None:
        self.core.interrupt(event.origin_ns)
