"""The graph: nodes, bounded edges, budgets; validated, then run under one TaskGroup.

    g = Graph("voice")
    g.add(MicSource(), "mic")
    g.add(Asr(), "asr")
    g.connect("mic.audio", "asr.audio")                   # the input's declared policy
    g.connect("cam.frame", "vision.frame", policy=Latest())
    g.budget("mic.audio", "asr.text", ms=300)
    report = await g.run()                                # until every node has finished
    print(report.table())

Rules checked by `validate()` (each error names the key and the fix):
every edge joins an existing output to an existing input with compatible
types; every input is connected (or the node is an `Inlet`-fed graph input);
every cycle contains a `latest` or `drop_oldest` edge (a cycle of `block`
edges can deadlock); budgets name existing ports with a path between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from liveloop.graph.budget import PathBudget
from liveloop.graph.channel import Block, Channel, Policy
from liveloop.graph.clock import NS_PER_MS, Clock, MonotonicClock
from liveloop.graph.errors import GraphValidationError, NodeFailed
from liveloop.graph.event import Event, EventKind
from liveloop.graph.metrics import prometheus_text
from liveloop.graph.node import Node
from liveloop.graph.report import RunReport
from liveloop.graph.runtime import NodeContext, run_node
from liveloop.graph.trace import TraceRecorder

log = logging.getLogger("liveloop.graph")


@dataclass(frozen=True, slots=True)
class Edge:
    src_node: str
    src_port: str
    dst_node: str
    dst_port: str
    policy: Policy

    def __str__(self) -> str:
        return f"{self.src_node}.{self.src_port} -> {self.dst_node}.{self.dst_port} [{self.policy.name}]"


def split_endpoint(text: str) -> tuple[str, str]:
    node, dot, port = text.partition(".")
    if not dot or not node or not port:
        raise GraphValidationError(f"endpoint {text!r} must be 'node.port'")
    return node, port


class _Stop(Exception):
    """Raised inside the TaskGroup to end a run on request."""


class Graph:
    def __init__(self, name: str = "graph", *, clock: Clock | None = None, trace: bool = False) -> None:
        self.name = name
        self.clock: Clock = clock or MonotonicClock()
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.budgets: list[PathBudget] = []
        self.node_budgets: dict[str, float] = {}
        self.runtimes: dict[str, NodeContext] = {}
        self.trace: TraceRecorder | None = TraceRecorder(name) if trace else None
        self._input_policy: dict[tuple[str, str], Policy] = {}
        self._stop: asyncio.Event | None = None
        self._built = False
        self._running = False
        self._live = 0

    # -- declaration ------------------------------------------------------
    def add(self, node: Node, name: str | None = None) -> Node:
        if name is not None:
            node.name = name
        if node.name in self.nodes:
            raise GraphValidationError(f"graph {self.name!r} already has a node named {node.name!r}; pick another name")
        if "." in node.name:
            raise GraphValidationError(f"node name {node.name!r} must not contain '.'")
        self.nodes[node.name] = node
        self._built = False
        return node

    def connect(self, src: str, dst: str, *, policy: Policy | None = None) -> Edge:
        """Join output `src` ('node.port') to input `dst`; `policy` overrides the input's declared one."""
        sn, sp = split_endpoint(src)
        dn, dp = split_endpoint(dst)
        s_node = self._node(sn, src)
        d_node = self._node(dn, dst)
        if sp not in s_node.outputs:
            raise GraphValidationError(
                f"edge {src} -> {dst}: node {sn!r} has no output {sp!r}; its outputs are {sorted(s_node.outputs)}"
            )
        if dp not in d_node.inputs:
            raise GraphValidationError(
                f"edge {src} -> {dst}: node {dn!r} has no input {dp!r}; its inputs are {sorted(d_node.inputs)}"
            )
        out_t, in_t = s_node.outputs[sp].type, d_node.inputs[dp].type
        if not _compatible(out_t, in_t):
            raise GraphValidationError(
                f"edge {src} -> {dst}: type mismatch, {sn}.{sp} emits {_tname(out_t)} but {dn}.{dp} accepts "
                f"{_tname(in_t)}; insert a converting node or fix the port types"
            )
        key = (dn, dp)
        declared = self._input_policy.get(key, d_node.inputs[dp].policy)
        if policy is not None:
            if key in self._input_policy and self._input_policy[key] != policy:
                raise GraphValidationError(
                    f"edge {src} -> {dst}: input {dn}.{dp} already has policy {self._input_policy[key].name}; "
                    f"one input has one policy"
                )
            declared = policy
        self._input_policy[key] = declared
        edge = Edge(sn, sp, dn, dp, declared)
        self.edges.append(edge)
        self._built = False
        return edge

    def budget(
        self, src: str, dst: str, *, ms: float, name: str | None = None, kind: EventKind = EventKind.DATA
    ) -> PathBudget:
        """A latency budget on the path from `src` ('node.port') to `dst` ('node.port', input or output)."""
        sn, sp = split_endpoint(src)
        dn, dp = split_endpoint(dst)
        self._node(sn, src)
        self._node(dn, dst)
        b = PathBudget(name or f"{sn}.{sp}->{dn}.{dp}", sn, sp, dn, dp, float(ms), kind)
        if any(x.name == b.name for x in self.budgets):
            raise GraphValidationError(f"graph {self.name!r} already has a budget named {b.name!r}")
        self.budgets.append(b)
        self._built = False
        return b

    def node_budget(self, node: str, *, ms: float) -> None:
        self._node(node, node)
        if not ms > 0:
            raise GraphValidationError(f"node budget for {node!r}: ms must be > 0, got {ms}")
        self.node_budgets[node] = float(ms)
        self._built = False

    def _node(self, name: str, where: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise GraphValidationError(
                f"{where!r}: graph {self.name!r} has no node {name!r}; nodes are {sorted(self.nodes)}"
            ) from None

    # -- validation and wiring ----------------------------------------------
    def successors(self, name: str) -> set[str]:
        return {e.dst_node for e in self.edges if e.src_node == name}

    def validate(self) -> None:
        connected = {(e.dst_node, e.dst_port) for e in self.edges}
        for n, node in self.nodes.items():
            for p in node.inputs:
                if (n, p) not in connected:
                    raise GraphValidationError(
                        f"input {n}.{p} is not connected; connect an output to it or remove the node"
                    )
        self._check_cycles()
        for b in self.budgets:
            s, d = self.nodes[b.src_node], self.nodes[b.dst_node]
            if b.src_port not in s.outputs:
                raise GraphValidationError(
                    f"budget {b.name!r}: {b.src_node} has no output {b.src_port!r}; outputs are {sorted(s.outputs)}"
                )
            if b.dst_port not in d.inputs and b.dst_port not in d.outputs:
                raise GraphValidationError(
                    f"budget {b.name!r}: {b.dst_node} has no port {b.dst_port!r}; ports are "
                    f"{sorted(d.inputs) + sorted(d.outputs)}"
                )
            if b.dst_node != b.src_node and b.dst_node not in self._reachable(b.src_node):
                raise GraphValidationError(f"budget {b.name!r}: no path from {b.src_node} to {b.dst_node}")

    def _reachable(self, start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for nxt in self.successors(stack.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def _check_cycles(self) -> None:
        """Every cycle must contain a lossy edge: look for a cycle among `block` edges only."""
        blocking: dict[str, list[Edge]] = {}
        for e in self.edges:
            if isinstance(e.policy, Block):
                blocking.setdefault(e.src_node, []).append(e)
        state: dict[str, int] = {}
        path: list[Edge] = []

        def visit(n: str) -> None:
            state[n] = 1
            for e in blocking.get(n, ()):
                path.append(e)
                if state.get(e.dst_node) == 1:
                    cyc = path[next(i for i, x in enumerate(path) if x.src_node == e.dst_node) :]
                    raise GraphValidationError(
                        "cycle of block edges can deadlock: "
                        + ", ".join(map(str, cyc))
                        + "; make one of them policy latest or drop_oldest(n)"
                    )
                if state.get(e.dst_node, 0) == 0:
                    visit(e.dst_node)
                path.pop()
            state[n] = 2

        for n in self.nodes:
            if state.get(n, 0) == 0:
                visit(n)

    def build(self) -> None:
        """Validate and create the runtime (channels, budgets wiring). Idempotent until the graph changes."""
        if self._built:
            return
        self.validate()
        self.runtimes = {n: NodeContext(node, self.clock, self.name) for n, node in self.nodes.items()}
        for n, ctx in self.runtimes.items():
            ctx.trace = self.trace
            for p in self.nodes[n].inputs:
                policy = self._input_policy[(n, p)]
                ctx.channels[p] = Channel(f"{n}.{p}", policy, ctx.inbox)
            if n in self.node_budgets:
                ctx.node_budget_ns = int(self.node_budgets[n] * NS_PER_MS)
        for e in self.edges:
            self.runtimes[e.src_node].out_edges[e.src_port].append(
                (self.runtimes[e.dst_node].channels[e.dst_port], e.dst_port)
            )
        for b in self.budgets:
            dst_ctx = self.runtimes[b.dst_node]
            if b.dst_port in self.nodes[b.dst_node].inputs:
                dst_ctx.in_budgets.setdefault(b.dst_port, []).append(b)
                on_path_end = False
            else:
                dst_ctx.out_budgets.setdefault(b.dst_port, []).append(b)
                on_path_end = True
            # nodes lying on the path, each with the nodes after it (for knob selection)
            fwd = self._reachable(b.src_node) | {b.src_node}
            on_path = [n for n in fwd if n == b.dst_node or b.dst_node in self._reachable(n)]
            for n in on_path:
                after = [
                    self.runtimes[m]
                    for m in on_path
                    if m != n and m in self._reachable(n) and (m != b.dst_node or on_path_end)
                ]
                self.runtimes[n].through_budgets.append((b, after))
        self._built = True

    # -- running -------------------------------------------------------------
    async def run(self, *, duration_s: float | None = None) -> RunReport:
        """Run until every node has finished, `duration_s` has passed, or `stop()`; then report."""
        self.build()
        if self._running:
            raise GraphValidationError(f"graph {self.name!r} is already running")
        self._running = True
        self._stop = asyncio.Event()
        started = self.clock.now_ns()
        set_up: list[NodeContext] = []
        try:
            for ctx in self.runtimes.values():
                try:
                    await ctx.node.setup(ctx)
                except Exception as exc:
                    raise NodeFailed(ctx.name, f"setup failed: {type(exc).__name__}: {exc}") from exc
                set_up.append(ctx)
            self._live = len(self.runtimes)
            try:
                async with asyncio.TaskGroup() as tg:
                    for ctx in self.runtimes.values():
                        tg.create_task(run_node(ctx, self._node_done), name=f"{self.name}/{ctx.name}")
                    if duration_s is not None:
                        tg.create_task(self._stop_after(duration_s), name=f"{self.name}/timer")
                    tg.create_task(self._watch(), name=f"{self.name}/watch")
            except* _Stop:
                pass
            except* NodeFailed as eg:
                first = eg.exceptions[0]
                raise first from first.__cause__
        finally:
            for ctx in reversed(set_up):
                try:
                    await ctx.node.teardown(ctx)
                except Exception:
                    log.exception("teardown of node %r failed", ctx.name)
            for ctx in self.runtimes.values():
                for ch in ctx.channels.values():
                    ch.close()
            self._running = False
        return RunReport(self, self.clock.now_ns() - started)

    def _node_done(self) -> None:
        self._live -= 1
        if self._live == 0 and self._stop is not None:
            self._stop.set()

    async def _stop_after(self, duration_s: float) -> None:
        await self.clock.sleep(duration_s)
        self.stop()

    async def _watch(self) -> None:
        assert self._stop is not None
        await self._stop.wait()
        raise _Stop  # ends the TaskGroup: every node still running is cancelled

    def stop(self) -> None:
        """Ask a running graph to stop (cancels every node; teardown still runs)."""
        if self._stop is not None:
            self._stop.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Graph]:
        """Run the graph in the background of an `async with` block; stopped on exit."""
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(self.run(), name=f"{self.name}/run")
            while not self._running:
                if task.done():
                    break
                await asyncio.sleep(0)
            try:
                yield self
            finally:
                self.stop()

    async def send_control(self, node: str, kind: EventKind, *, port: str | None = None) -> None:
        """Inject a control event into a node's input (e.g. an interrupt from outside)."""
        ctx = self.runtimes[node]
        if not ctx.channels:
            raise GraphValidationError(f"node {node!r} has no inputs to receive {kind.name}")
        ch = ctx.channels[port] if port is not None else next(iter(ctx.channels.values()))
        now = self.clock.now_ns()
        await ch.put(
            Event(None, now, 0, "<external>", ch.name.split(".", 1)[1], ("<external>", now, now, None), kind), now
        )

    # -- observability ----------------------------------------------------------
    def lag_ns(self, nodes: Iterable[str] | None = None, *, now_ns: int | None = None) -> int:
        """How far behind real time `nodes` (default: all) are, in ns: the age of the oldest data they hold.

        A node holds an event while it waits in one of its input queues (or a door's
        own buffer), while `process` handles it, and while its output waits on a
        full `block` channel. Age is measured from the event's origin, so this is
        meant for streams whose origin is their capture time (audio, video): a
        reply that inherits the origin of the speech it answers is old by design.
        0 when they hold nothing or the graph has not been built.
        """
        if not self.runtimes:
            return 0
        names = self.runtimes.keys() if nodes is None else [n for n in nodes if n in self.runtimes]
        oldest: int | None = None
        for name in names:
            ctx = self.runtimes[name]
            origins = [ch.oldest_origin_ns() for ch in (*ctx.channels.values(), *ctx.node.held_channels())]
            if ctx._cur is not None:
                origins.append(ctx._cur.origin_ns)
            origins.extend(ev.origin_ns for _ch, ev in ctx._blocked if not ev[6])
            for o in origins:
                if o is not None and (oldest is None or o < oldest):
                    oldest = o
        if oldest is None:
            return 0
        now = self.clock.now_ns() if now_ns is None else now_ns
        return max(0, now - oldest)

    def prometheus_text(self) -> str:
        self.build()
        return prometheus_text([self])

    def write_trace(self, path: str | Path) -> Path:
        if self.trace is None:
            raise GraphValidationError(f"graph {self.name!r} was created without trace=True")
        return self.trace.write(path)

    def report(self) -> RunReport:
        return RunReport(self, 0)


def _compatible(out_t: type, in_t: type) -> bool:
    if in_t is object or out_t is object:
        return True
    try:
        return issubclass(out_t, in_t)
    except TypeError:  # typing constructs: accept, checked at run time by the node
        return True


def _tname(t: type) -> str:
    return getattr(t, "__qualname__", repr(t))
