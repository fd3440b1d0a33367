"""Events: what travels along the edges of a graph.

An `Event` is an immutable record (a NamedTuple, so it is cheap to make):

    data        the payload (audio frame, text, tracks, actions …)
    origin_ns   monotonic time at which the source captured what this event is about;
                outputs derived from inputs inherit it (the oldest when several combine)
    seq         the source's sequence number, inherited like origin_ns
    source      name of the node that stamped origin_ns
    port        the input port it is being delivered to
    hop         the last `Hop` it took (a linked list back to the source: O(1) per hop)
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
    """One node an event passed through; `prev` links back towards the source."""

    node: str
    t_in_ns: int
    t_out_ns: int
    prev: Hop | None


class Event(NamedTuple):
    data: Any
    origin_ns: int
    seq: int
    source: str
    port: str = ""
    hop: Hop | None = None
    kind: EventKind = EventKind.DATA

    def age_ns(self, now_ns: int) -> int:
        return now_ns - self.origin_ns

    def hops(self) -> list[Hop]:
        """The hops from the source to here, oldest first."""
        out: list[Hop] = []
        h = self.hop
        while h is not None:
            out.append(h)
            h = h.prev
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
