"""Test harness: drive a node (or a graph) with scripted events on a virtual clock.

    async with NodeHarness(Upper()) as h:            # a VirtualClock by default
        await h.feed("text", "hi", at_s=0.010)       # delivered at t = 10 ms (virtual)
        await h.interrupt()
        await h.idle()                               # let the node work until nothing is pending
        assert h.data("upper") == ["HI"]
        assert h.outputs["upper"][0].origin_ns == 10_000_000

Every input port gets an `Inlet` and every output a `Collect` sink, so the node
runs inside a real graph with its declared policies, knobs and budgets.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from liveloop.graph.channel import Policy
from liveloop.graph.clock import NS_PER_S, Clock, VirtualClock
from liveloop.graph.event import Event, EventKind
from liveloop.graph.graph import Graph
from liveloop.graph.node import Node
from liveloop.graph.nodes import Collect, Inlet
from liveloop.graph.report import RunReport


class NodeHarness:
    def __init__(
        self,
        node: Node,
        *,
        clock: Clock | None = None,
        policies: dict[str, Policy] | None = None,
        budgets: dict[tuple[str, str], float] | None = None,
        node_budget_ms: float | None = None,
        trace: bool = False,
    ) -> None:
        """`budgets` maps (input port, output port) of the node to ms: a path budget from its inlet."""
        self.clock = clock or VirtualClock()
        self.node = node
        self.graph = Graph(f"harness:{node.name}", clock=self.clock, trace=trace)
        self.graph.add(node)
        self.inlets: dict[str, Inlet] = {}
        self.sinks: dict[str, Collect] = {}
        for port in node.inputs:
            inlet = Inlet(f"in_{port}")
            self.graph.add(inlet)
            self.graph.connect(f"{inlet.name}.out", f"{node.name}.{port}", policy=(policies or {}).get(port))
            self.inlets[port] = inlet
        for port in node.outputs:
            sink = Collect(f"out_{port}")
            self.graph.add(sink)
            self.graph.connect(f"{node.name}.{port}", f"{sink.name}.inp")
            self.sinks[port] = sink
        for (ip, op), ms in (budgets or {}).items():
            self.graph.budget(f"in_{ip}.out", f"{node.name}.{op}", ms=ms, name=f"{ip}->{op}")
        if node_budget_ms is not None:
            self.graph.node_budget(node.name, ms=node_budget_ms)
        self._tg: asyncio.TaskGroup | None = None
        self._task: asyncio.Task[RunReport] | None = None
        self.report: RunReport | None = None

    async def __aenter__(self) -> NodeHarness:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._task = self._tg.create_task(self.graph.run(), name="NodeHarness.run")
        for _ in range(1000):
            if self.graph._running and all(i._ready.is_set() for i in self.inlets.values()):
                break
            await asyncio.sleep(0)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tg is not None and self._task is not None
        if et is None:
            await self.idle()
        self.graph.stop()
        await self._tg.__aexit__(et, e, tb)
        if not self._task.cancelled() and self._task.done() and self._task.exception() is None:
            self.report = self._task.result()

    @property
    def now_s(self) -> float:
        return self.clock.now_ns() / NS_PER_S

    async def sleep_until(self, t_s: float) -> None:
        await self.clock.sleep_until(round(t_s * NS_PER_S))

    async def feed(self, port: str, data: Any, *, at_s: float | None = None, origin_ns: int | None = None) -> None:
        """Deliver `data` on input `port` (at virtual time `at_s` if given; origin defaults to then)."""
        if port not in self.inlets:
            raise KeyError(f"node {self.node.name!r} has no input {port!r}; inputs: {sorted(self.inlets)}")
        if at_s is not None:
            await self.sleep_until(at_s)
        await self.inlets[port].put(data, origin_ns=origin_ns)

    async def control(self, kind: EventKind, port: str | None = None) -> None:
        inlet = self.inlets[port] if port is not None else next(iter(self.inlets.values()))
        await inlet.control(kind)

    async def interrupt(self, port: str | None = None) -> None:
        await self.control(EventKind.INTERRUPT, port)

    async def close(self) -> None:
        """End of stream on every input."""
        for inlet in self.inlets.values():
            await inlet.close()

    async def idle(self, max_rounds: int = 100_000) -> None:
        """Yield until nothing is queued anywhere and no node is inside `process`."""
        stable = stuck = 0
        for _ in range(max_rounds):
            await asyncio.sleep(0)
            busy = any(ctx.busy or ctx.inbox.pending() for ctx in self.graph.runtimes.values())
            busy = busy or any(i._inbox.pending() for i in self.inlets.values())
            stable = 0 if busy else stable + 1
            if stable >= 5:
                return
            stuck = stuck + 1 if busy else 0
            # Busy but nothing moved for a while: the node waits on virtual time.
            if stuck >= 20 and isinstance(self.clock, VirtualClock) and self.clock.jump_to_next():
                stuck = 0
        raise TimeoutError("NodeHarness.idle: the node never became idle")

    @property
    def outputs(self) -> dict[str, list[Event]]:
        return {p: s.events for p, s in self.sinks.items()}

    def data(self, port: str) -> list[Any]:
        return self.sinks[port].data

    def controls(self, port: str) -> list[Event]:
        return self.sinks[port].controls


async def run_graph(graph: Graph, *, duration_s: float | None = None) -> RunReport:
    """Run a graph to completion (or for `duration_s`) and return its report."""
    return await graph.run(duration_s=duration_s)
