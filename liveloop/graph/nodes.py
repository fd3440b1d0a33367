"""Built-in nodes: the graph's doors to the outside, a function node, a graph as a node.

- `Inlet`: feed a running graph from outside (a WebRTC track, a socket):
  ``await inlet.put(data, origin_ns=capture_ns)``; `inlet.close()` ends the stream.
- `Outlet`: read a running graph's outputs from outside: ``async for ev in outlet``.
- `Map`: a stateless function on each event.
- `Subgraph`: a whole graph used as one node of another graph.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from liveloop.graph.channel import Block, Channel, Inbox, Policy
from liveloop.graph.event import Event, EventKind
from liveloop.graph.node import Input, Node, Output
from liveloop.graph.runtime import NodeContext


class Inlet(Node):
    """A source fed from outside the graph through a bounded buffer of its own."""

    out = Output(object)

    def __init__(self, name: str | None = None, *, policy: Policy | None = None, type_: type = object) -> None:
        super().__init__(name)
        self.outputs = {"out": Output(type_)}
        self._inbox = Inbox()
        self._buf = Channel(f"{self.name}.<outside>", policy or Block(64), self._inbox)
        self._ctx: NodeContext | None = None
        self._ready = asyncio.Event()
        self._seq = itertools.count()

    def held_channels(self) -> tuple[Channel, ...]:
        return (self._buf,)

    async def put(self, data: Any, *, origin_ns: int | None = None) -> None:
        """Hand `data` to the graph (waits when the buffer is full under `block`)."""
        await self._ready.wait()
        assert self._ctx is not None
        now = self._ctx.now_ns()
        await self._buf.put(Event(data, now if origin_ns is None else origin_ns, next(self._seq), self.name), now)

    async def put_event(self, event: Event) -> None:
        """Forward an event from another graph, keeping its origin, sequence number and source."""
        await self._ready.wait()
        assert self._ctx is not None
        await self._buf.put(event, self._ctx.now_ns())

    async def control(self, kind: EventKind) -> None:
        await self._ready.wait()
        assert self._ctx is not None
        now = self._ctx.now_ns()
        await self._buf.put(Event(None, now, 0, self.name, kind=kind), now)

    async def close(self) -> None:
        """End of stream: the graph drains what was put, then this path ends."""
        await self.control(EventKind.EOS)

    async def run(self, ctx: NodeContext) -> None:
        self._ctx = ctx
        self._ready.set()
        await pump(self._inbox, ctx, self._deliver)

    async def _deliver(self, ev: Event, ctx: NodeContext) -> None:
        ctx._t_in = ctx.now_ns()
        await ctx.emit("out", ev.data, parent=ev)


async def pump(inbox: Inbox, ctx: NodeContext, deliver: Callable[[Event, NodeContext], Awaitable[None]]) -> None:
    """A door's loop: what outside code put into `inbox` enters the graph — data through `deliver`,
    interrupt and flush onto the control lane — until end of stream."""
    while True:
        ev = await inbox.get()
        if ev.kind is EventKind.EOS:
            return
        if ev.kind:
            await ctx.send_control(ev.kind, origin_ns=ev.origin_ns)
            continue
        await deliver(ev, ctx)


class Outlet(Node):
    """A sink read from outside: ``async for event in outlet`` (ends at end of stream)."""

    inp = Input(object, Block(64))

    def __init__(self, name: str | None = None, *, policy: Policy | None = None, maxsize: int = 64) -> None:
        super().__init__(name)
        self.inputs = {"inp": Input(object, policy or Block(64))}
        self._out = Inbox()
        self._buf = Channel(f"{self.name}.<outside>", Block(maxsize), self._out)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        await self._buf.put(event, ctx.now_ns())

    async def on_control(self, event: Event, ctx: NodeContext) -> None:
        await self._buf.put(event, ctx.now_ns())

    async def on_eos(self, port: str, ctx: NodeContext) -> None:
        now = ctx.now_ns()
        await self._buf.put(Event(None, now, 0, self.name, kind=EventKind.EOS), now)

    async def get(self) -> Event:
        """The next event (data or control); an EOS event at the end."""
        ev = await self._out.get()
        return ev

    async def __aiter__(self) -> AsyncIterator[Event]:  # type: ignore[override]
        while True:
            ev = await self.get()
            if ev.kind is EventKind.EOS:
                return
            yield ev


class Map(Node):
    """Apply `fn` to each event's data; `None` results are not emitted."""

    inp = Input(object)
    out = Output(object)

    def __init__(self, fn: Callable[[Any], Any], name: str | None = None, *, policy: Policy | None = None) -> None:
        super().__init__(name)
        self.fn = fn
        if policy is not None:
            self.inputs = {"inp": Input(object, policy)}

    async def process(self, event: Event, ctx: NodeContext) -> None:
        result = self.fn(event.data)
        if result is not None:
            await ctx.emit("out", result, parent=event)


class Collect(Node):
    """A sink that keeps every event it receives (bounded by `limit`; the oldest are dropped).

    It records control events too and never drops queued data on interrupt: it is a recorder.
    """

    inp = Input(object, Block(1024))
    drop_on_interrupt = False

    def __init__(self, name: str | None = None, *, limit: int = 100_000) -> None:
        super().__init__(name)
        self.limit = limit
        self.events: list[Event] = []
        self.controls: list[Event] = []

    async def process(self, event: Event, ctx: NodeContext) -> None:
        self.events.append(event)
        if len(self.events) > self.limit:
            del self.events[0]

    async def on_control(self, event: Event, ctx: NodeContext) -> None:
        self.controls.append(event)
        await super().on_control(event, ctx)

    @property
    def data(self) -> list[Any]:
        return [e.data for e in self.events]


class _Bridge(Node):
    """Inside a subgraph: hands what reaches an exported output to the outer graph."""

    inp = Input(object, Block(64))

    def __init__(self, name: str, outer_port: str) -> None:
        super().__init__(name)
        self.outer_port = outer_port
        self.outer: NodeContext | None = None

    async def process(self, event: Event, ctx: NodeContext) -> None:
        assert self.outer is not None
        self.outer._t_in = ctx.now_ns()
        await self.outer.emit(self.outer_port, event.data, parent=event)

    async def on_control(self, event: Event, ctx: NodeContext) -> None:
        assert self.outer is not None
        await self.outer.forward_control(event)


class Subgraph(Node):
    """A graph used as one node: `inputs` maps outer input names to inner 'node.port' inputs,
    `outputs` maps outer output names to inner 'node.port' outputs.

    Events keep their origin across the boundary, so budgets measured outside
    include the time spent inside. The inner graph runs on the outer clock.
    """

    def __init__(self, graph: Any, *, inputs: dict[str, str], outputs: dict[str, str], name: str | None = None) -> None:
        super().__init__(name or graph.name)
        from liveloop.graph.graph import split_endpoint

        self.graph = graph
        self.inputs = {}
        self.outputs = {}
        self._inlets: dict[str, Inlet] = {}
        self._bridges: list[_Bridge] = []
        for outer, inner in inputs.items():
            n, p = split_endpoint(inner)
            port = graph.nodes[n].inputs[p]
            self.inputs[outer] = port
            inlet = Inlet(f"<in:{outer}>", policy=Block(port.policy.maxsize), type_=port.type)
            graph.add(inlet)
            graph.connect(f"{inlet.name}.out", inner)
            self._inlets[outer] = inlet
        for outer, inner in outputs.items():
            n, p = split_endpoint(inner)
            self.outputs[outer] = graph.nodes[n].outputs[p]
            bridge = _Bridge(f"<out:{outer}>", outer)
            graph.add(bridge)
            graph.connect(inner, f"{bridge.name}.inp")
            self._bridges.append(bridge)

    async def run(self, ctx: NodeContext) -> None:
        self.graph.clock = ctx.clock
        for b in self._bridges:
            b.outer = ctx
        async with asyncio.TaskGroup() as tg:
            inner = tg.create_task(self.graph.run(), name=f"subgraph:{self.name}")
            pending = set(self._inlets)
            while pending:
                ev = await ctx.inbox.get()
                inlet = self._inlets[ev.port]
                if ev.kind is EventKind.EOS:
                    pending.discard(ev.port)
                    await inlet.close()
                elif ev.kind:
                    await inlet.control(ev.kind)
                else:
                    await inlet.put_event(ev)
            await inner
