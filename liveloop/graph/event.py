"""Events: what travels along the edges of a graph.

An `Event` is an immutable record (a NamedTuple, so it is cheap to make):

    data        the payload (audio frame, text, tracks, actions …)
    origin_ns   monotonic time at which the source captured what this event is about;
                outputs derived from inputs inherit it (the oldest when several combine)
    seq         the source's sequence number, inherited like origin_ns
    source      name of the node that stamped origin_ns
    port        the input port it is being delivered to
    trail       the hops it took, newest first, as a linked list of plain
                ``(node, t_in_ns, t_out_ns, prev)`` tuples (O(1) per hop; plain
                tuples because a NamedTuple costs three times as much to make
                on the hot path); `hop` and `hops()` give them as `Hop` records
    kind        DATA, or one of the control kinds that travel on the priority lane

Control events (`EventKind.INTERRUPT`, `FLUSH`, `EOS`) overtake queued data.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, NamedTuple


class EventKind(enum.IntEnum):
    DATA = 0
    INTERRUPT = 1  # stop what you are doing (barge-in); nodes drop pending data
    FLUSH = 2  # emit what you hold, then carry on
    EOS = 3  # end of stream: no more events on this path

    @property
    def is_control(self) -> bool:
        return self is not EventKind.DATA


class Hop(NamedTuple):
    """One node an event passed through; `prev` links back towards the source (a raw trail tuple)."""

    node: str
    t_in_ns: int
    t_out_ns: int
    prev: Trail | None


Trail = tuple[str, int, int, "Trail | None"]  # the raw form of a Hop, as events carry it


class Event(NamedTuple):
    data: Any
    origin_ns: int
    seq: int
    source: str
    port: str = ""
    trail: Trail | None = None
    kind: EventKind = EventKind.DATA

    @property
    def hop(self) -> Hop | None:
        """The last hop this event took (None for an event that has not left its source yet)."""
        t = self.trail
        return None if t is None else Hop(*t)

    def age_ns(self, now_ns: int) -> int:
        return now_ns - self.origin_ns

    def hops(self) -> list[Hop]:
        """The hops from the source to here, oldest first."""
        out: list[Hop] = []
        h = self.trail
        while h is not None:
            out.append(Hop(*h))
            h = h[3]
        out.reverse()
        return out

    def path(self) -> list[str]:
        return [h.node for h in self.hops()]


def oldest(events: Iterator[Event] | list[Event] | tuple[Event, ...]) -> Event:
    """The event with the oldest origin: what a combined output inherits."""
    best: Event | None = None
    for ev in events:
        if best is None or ev.origin_ns < best.origin_ns:
            best = ev
    if best is None:
        raise ValueError("oldest() needs at least one event")
    return best
