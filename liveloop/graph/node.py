"""Nodes: typed ports, one uniform entry point, knobs, restart policy.

A node is a thin asyncio adapter around a sans-I/O core. It declares its ports
as class attributes and implements one coroutine, `process`::

    class Upper(Node):
        '''Upper-cases text; the logic lives in a plain class.'''
        text = Input(str, Block(8))
        upper = Output(str)

        def __init__(self, name: str | None = None) -> None:
            super().__init__(name)
            self.core = UpperCore()          # plain class: feed(x, now_ns) -> outputs

        async def process(self, event: Event, ctx: NodeContext) -> None:
            for out in self.core.feed(event.data, ctx.now_ns()):
                await ctx.emit("upper", out, parent=event)

The runtime calls `process` once per data event (``event.port`` says which
input), stamping time in and out, measuring service time and queue wait. A
source node (no inputs) overrides `run(ctx)` instead and stamps origins with
``ctx.emit(port, data, origin_ns=...)``. Control events (interrupt, flush,
end of stream) go to `on_control`, whose default drops pending data on
interrupt (when ``drop_on_interrupt``), calls `on_interrupt`/`on_flush`, and
forwards the control event on every output.

**Knobs.** A node may declare `modes`, best quality first. For each event the
runtime picks the best mode whose predicted service time (learned online from
this node's own measurements on this machine) fits the time left on the
tightest budget the event is under, and sets ``ctx.mode`` before `process`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from liveloop.graph.channel import Block, Channel, Policy
from liveloop.graph.event import Event, EventKind

if TYPE_CHECKING:
    from liveloop.graph.runtime import NodeContext


@dataclass(frozen=True, slots=True)
class Input:
    """An input port: the payload type accepted and the default overflow policy."""

    type: type = object
    policy: Policy = field(default_factory=Block)
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Output:
    """An output port: the payload type emitted."""

    type: type = object
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Mode:
    """One operating point of a node (a knob setting).

    `quality` orders modes (higher is better); `cost_hint_ms` is the prior for
    the cost model before any measurement; `params` is free for the node.
    """

    name: str
    quality: float
    cost_hint_ms: float = 0.0
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, key: str, default: Any = None) -> Any:
        for k, v in self.params:
            if k == key:
                return v
        return default


class OnError(enum.Enum):
    STOP_GRAPH = "stop_graph"  # the graph stops; NodeFailed names the node
    RESTART = "restart"  # the node's loop restarts after a backoff; queued input is kept


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    on_error: OnError = OnError.STOP_GRAPH
    max_restarts: int = 3
    backoff_ms: float = 10.0
    backoff_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")
        if self.backoff_ms < 0:
            raise ValueError(f"backoff_ms must be >= 0, got {self.backoff_ms}")


class Node:
    """Base of every node. Subclass, declare ports, implement `process` (or `run`)."""

    # Declared on the class (from the port attributes); copied per instance so a node may add ports.
    inputs: dict[str, Input] = {}  # noqa: RUF012 - replaced by a per-class copy in __init_subclass__
    outputs: dict[str, Output] = {}  # noqa: RUF012
    modes: ClassVar[tuple[Mode, ...]] = ()
    restart: ClassVar[RestartPolicy] = RestartPolicy()
    drop_on_interrupt: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ins = dict(getattr(cls, "inputs", {}))
        outs = dict(getattr(cls, "outputs", {}))
        for key, value in list(vars(cls).items()):
            if isinstance(value, Input):
                ins[key] = value
            elif isinstance(value, Output):
                outs[key] = value
        cls.inputs = ins
        cls.outputs = outs

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__.lower()
        # Per-instance copies, so a node may add ports dynamically (e.g. a subgraph).
        self.inputs = dict(type(self).inputs)
        self.outputs = dict(type(self).outputs)

    # -- the uniform entry point --------------------------------------
    async def process(self, event: Event, ctx: NodeContext) -> None:
        """Handle one data event arriving on ``event.port``."""
        raise NotImplementedError(f"node {self.name!r} ({type(self).__name__}) must implement process() or run()")

    async def run(self, ctx: NodeContext) -> None:
        """The node's loop. The default pulls from the inbox and calls `process`."""
        await ctx.serve(self)

    # -- lifecycle and control hooks -----------------------------------
    async def setup(self, ctx: NodeContext) -> None:
        """Called once before the loop starts (load models here)."""

    async def teardown(self, ctx: NodeContext) -> None:
        """Called once when the graph stops (also after a failure)."""

    async def on_interrupt(self, event: Event, ctx: NodeContext) -> None:
        """Stop what is in progress (barge-in). Pending input was already dropped."""

    async def on_flush(self, event: Event, ctx: NodeContext) -> None:
        """Emit whatever is held back."""

    async def on_eos(self, port: str, ctx: NodeContext) -> None:
        """One input reached end of stream."""

    async def on_control(self, event: Event, ctx: NodeContext) -> None:
        """Default control handling; override for something else."""
        if event.kind is EventKind.INTERRUPT:
            if self.drop_on_interrupt:
                ctx.drop_pending()
            await self.on_interrupt(event, ctx)
        elif event.kind is EventKind.FLUSH:
            await self.on_flush(event, ctx)
        await ctx.forward_control(event)

    def held_channels(self) -> tuple[Channel, ...]:
        """Queues of this node's own that the runtime does not see (a door's buffer), for `Graph.lag_ns`."""
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
