"""The per-node runtime: the context a node sees, and the loop that drives it.

`NodeContext` is what a node's code touches: the clock, the knob picked for
the current event, `emit`, control, and the time left on its budgets. The
runtime stamps time in and out of every event, measures queue wait and service
time, picks the knob, records budget outcomes at path ends and traces.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from liveloop.graph.budget import CostModel, PathBudget, pick_mode
from liveloop.graph.channel import Channel, Inbox
from liveloop.graph.clock import Clock, MonotonicClock
from liveloop.graph.errors import GraphValidationError
from liveloop.graph.event import Event, EventKind, oldest
from liveloop.graph.metrics import NodeStats
from liveloop.graph.node import Mode, Node

if TYPE_CHECKING:
    from liveloop.graph.trace import TraceRecorder

log = logging.getLogger("liveloop.graph")


class _Done:
    """An awaitable that is already finished (what `emit` returns outside a running node).

    A running node gets a finished `asyncio.Future` instead (`NodeContext.bind_loop`):
    awaiting that never yields and costs a third of a Python-level ``__await__``.
    """

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


_DONE = _Done()
_new = tuple.__new__  # builds Event tuples without the NamedTuple's Python-level __new__
_DATA = EventKind.DATA


class NodeContext:
    """The runtime of one node in one graph (what `process` receives as `ctx`)."""

    def __init__(self, node: Node, clock: Clock, graph_name: str) -> None:
        self.node = node
        self.name = node.name
        self.graph_name = graph_name
        self.clock = clock
        # the real clock's bound method is replaced by the builtin itself: one call less per stamp
        self.now_ns = time.monotonic_ns if type(clock) is MonotonicClock else clock.now_ns
        self.inbox = Inbox()
        self.stats = NodeStats()
        self.cost = CostModel()
        self.mode: Mode | None = None
        # port -> list of (channel, destination port name)
        self.out_edges: dict[str, list[tuple[Channel, str]]] = {p: [] for p in node.outputs}
        # budgets measured where an event arrives on an input / leaves on an output of this node
        self.in_budgets: dict[str, list[PathBudget]] = {}
        self.out_budgets: dict[str, list[PathBudget]] = {}
        # budgets this node lies on (for knob selection): (budget, downstream nodes after this one)
        self.through_budgets: list[tuple[PathBudget, list[NodeContext]]] = []
        self.node_budget_ns: int | None = None
        self.trace: TraceRecorder | None = None
        self.channels: dict[str, Channel] = {}
        self._eos_ports: set[str] = set()
        self.eos_sent = False
        self._seq = itertools.count()
        self._t_in = 0
        self._cur: Event | None = None
        self._blocked: list[tuple[Channel, Event]] = []
        self._done: Awaitable[None] = _DONE  # what `emit` returns when nothing had to wait
        # output port -> (its edges, its budgets): one lookup per emit; the lists are filled by the graph
        self._routes: dict[str, tuple[list[tuple[Channel, str]], list[PathBudget]]] = {}

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Prepare the hot path for the running loop: `emit` then returns a finished future."""
        done = loop.create_future()
        done.set_result(None)
        self._done = done
        self._routes = {p: (edges, self.out_budgets.setdefault(p, [])) for p, edges in self.out_edges.items()}

    # -- what nodes call -------------------------------------------------
    def emit(
        self,
        port: str,
        data: Any,
        *,
        parent: Event | Sequence[Event] | None = None,
        origin_ns: int | None = None,
    ) -> Awaitable[None]:
        """Send `data` on output `port`; ``await`` the result (it waits only while a `block` edge is full).

        The output inherits origin and sequence number from `parent` (the
        oldest of several). Without a parent it is a new origin, stamped
        `origin_ns` (capture time) or now.

        The event is handed to every edge that has room before this returns;
        what is returned is an already-finished awaitable unless some `block`
        edge was full, in which case awaiting it applies the back-pressure.
        (A plain function, not a coroutine: no coroutine object per event.)
        """
        now = self.now_ns()
        route = self._routes.get(port)
        if route is None:
            if port not in self.out_edges:
                raise GraphValidationError(
                    f"node {self.name!r} emitted on unknown output {port!r}; its outputs are {sorted(self.out_edges)}"
                )
            route = self.out_edges[port], self.out_budgets.get(port, [])
        edges, budgets = route
        if parent is None:
            origin = now if origin_ns is None else origin_ns
            seq = next(self._seq)
            source = self.name
            prev = None
            t_in = origin if origin_ns is not None else now
        else:
            if parent.__class__ is not Event:
                parent = oldest(parent)  # type: ignore[arg-type]
            _, origin, seq, source, _, prev, _ = parent  # type: ignore[misc]
            t_in = self._t_in
        trail = (self.name, t_in, now, prev)
        self.stats.events_out += 1
        if budgets:
            for b in budgets:
                if b.src_node == source and b.kind is _DATA:
                    b.record(now - origin)
        blocked: list[tuple[Channel, Event]] | None = None
        for ch, dst_port in edges:
            ev = _new(Event, (data, origin, seq, source, dst_port, trail, _DATA))
            # Channel.offer inlined for the common case (room left); the rest goes through it.
            q = ch._data
            if len(q) < ch._max:
                q.append(ev)
                st = ch.stats
                st.puts += 1
                if len(q) > st.peak:
                    st.peak = len(q)
                inbox = ch._inbox
                w = inbox._waiter
                if w is not None:
                    inbox._waiter = None
                    if not w.done():
                        w.set_result(None)
            elif not ch.offer(ev, now):  # a full `block` edge
                if blocked is None:
                    blocked = []
                blocked.append((ch, ev))
        if blocked is None:
            return self._done
        self._blocked = blocked
        return self._put_blocked(blocked, now)

    async def _put_blocked(self, blocked: list[tuple[Channel, Event]], now: int) -> None:
        for ch, ev in blocked:
            await ch.put(ev, now)

    def emit_nowait(self, port: str, data: Any, *, parent: Event | None = None, origin_ns: int | None = None) -> None:
        """Like `emit` but never waits: a full `block` edge counts a drop instead."""
        pending = self.emit(port, data, parent=parent, origin_ns=origin_ns)
        if pending is not self._done:
            pending.close()  # type: ignore[attr-defined]
            for ch, _ in self._blocked:
                ch.stats.drops += 1

    async def send_control(self, kind: EventKind, port: str | None = None, *, origin_ns: int | None = None) -> None:
        """Originate a control event (interrupt, flush, end of stream) on one output or all."""
        if not kind.is_control:
            raise ValueError(f"send_control needs a control kind, got {kind!r}")
        now = self.now_ns()
        origin = now if origin_ns is None else origin_ns
        ev = Event(None, origin, next(self._seq), self.name, "", (self.name, now, now, None), kind)
        await self._send_control_event(ev, port)

    async def forward_control(self, event: Event) -> None:
        """Pass a control event on to every output (what `Node.on_control` does by default)."""
        now = self.now_ns()
        ev = event._replace(trail=(self.name, self._t_in, now, event.trail))
        await self._send_control_event(ev, None)

    async def _send_control_event(self, ev: Event, port: str | None) -> None:
        now = self.now_ns()
        ports = [port] if port is not None else list(self.out_edges)
        if ev.kind is EventKind.EOS and port is None:
            self.eos_sent = True
        for p in ports:
            for b in self.out_budgets.get(p, ()):
                if b.kind is ev.kind and b.src_node == ev.source:
                    b.record(now - ev.origin_ns)
            for ch, dst_port in self.out_edges[p]:
                await ch.put(ev._replace(port=dst_port), now)

    def drop_pending(self) -> int:
        """Drop all queued input data (not control); returns how many were dropped."""
        return self.inbox.clear_data()

    def time_left_ns(self, event: Event | None = None) -> int | None:
        """Time left on the tightest budget `event` is under, after the predicted cost downstream; None if none."""
        ev = event if event is not None else self._cur
        now = self.now_ns()
        left: float | None = None
        if ev is not None:
            for b, downstream in self.through_budgets:
                if b.src_node != ev.source or b.kind is not EventKind.DATA:
                    continue
                rest = b.ns - (now - ev.origin_ns) - sum(d._expected_cost_ns() for d in downstream)
                left = rest if left is None else min(left, rest)
        if self.node_budget_ns is not None:
            left = self.node_budget_ns if left is None else min(left, self.node_budget_ns)
        return None if left is None else int(left)

    def downstream_latency_ns(self, port: str) -> int:
        """Expected time from leaving `port` to the end of the longest budgeted path it feeds (0 if none).

        This is what PVT++-style predictors need: the age their output will have when it is used.
        """
        targets = {ch.name.split(".", 1)[0] for ch, _ in self.out_edges.get(port, ())}
        best = 0.0
        for _b, downstream in self.through_budgets:
            if targets & {d.name for d in downstream}:
                best = max(best, sum(d._expected_latency_ns() for d in downstream))
        return int(best)

    def _expected_cost_ns(self) -> float:
        st = self.stats.service
        return st.sum_ns / st.count if st.count else 0.0

    def _expected_latency_ns(self) -> float:
        qw = self.stats.queue_wait
        return self._expected_cost_ns() + (qw.sum_ns / qw.count if qw.count else 0.0)

    # -- the default loop ------------------------------------------------
    async def serve(self, node: Node) -> None:
        """Pull events and hand them to `node.process` until every input has ended."""
        inbox = self.inbox
        now_ns = self.now_ns
        stats = self.stats
        service, qwait = stats.service, stats.queue_wait
        service_add = service.append  # folded into the statistics every FOLD_AT samples
        qwait_add = qwait.append
        pending = qwait._pending
        fold_at = qwait.FOLD_AT
        modes = node.modes
        process = node.process
        in_budgets = self.in_budgets
        n_inputs = len(node.inputs)
        single = inbox.channels[0] if len(inbox.channels) == 1 else None
        create_future = asyncio.get_running_loop().create_future
        extras = bool(modes) or self.node_budget_ns is not None or self.trace is not None
        item: Event | None
        t_in = 0  # the end of the previous event, reused as the start of one already waiting
        while True:
            if single is not None and not single._control:
                data = single._data
                if not data:  # Inbox.get inlined for one input: wait for a put to wake us
                    t_in = 0
                    inbox._waiter = create_future()
                    await inbox._waiter
                    continue
                item = data.popleft()
                if single._putters:
                    single._wake_putter()
            else:
                item = inbox.get_nowait()
                if item is None:  # Inbox.get inlined: wait for a put to wake us, then look again
                    t_in = 0
                    inbox._waiter = create_future()
                    await inbox._waiter
                    continue
            ev = item
            if not t_in:
                t_in = now_ns()
            self._t_in = t_in
            if ev[6]:  # kind: control
                self.stats.control_latency.add(t_in - ev.origin_ns)
                self._record_in_budgets(ev, t_in)
                if self.trace is not None:
                    self.trace.instant(self.name, ev.kind.name.lower(), t_in, ev.seq)
                if ev.kind is EventKind.EOS:
                    self._eos_ports.add(ev.port)
                    await node.on_eos(ev.port, self)
                    if len(self._eos_ports) >= n_inputs:
                        await self.forward_control(ev)
                        return
                else:
                    await node.on_control(ev, self)
                t_in = 0
                continue
            hop = ev[5]
            qwait_add(t_in - hop[2] if hop is not None else 0)
            if in_budgets:
                self._record_in_budgets(ev, t_in)
            if modes:
                mode = pick_mode(modes, self.time_left_ns(ev), self.cost)
                self.mode = mode
                stats.mode_counts[mode.name] = stats.mode_counts.get(mode.name, 0) + 1
            self._cur = ev
            await process(ev, self)  # on an exception, run_node resets `_cur`
            self._cur = None
            t_out = now_ns()
            dt = t_out - t_in
            service_add(dt)
            if len(pending) >= fold_at:
                qwait.fold()
                service.fold()
            if extras:
                self._after_event(ev, t_in, dt)
            t_in = t_out

    def _after_event(self, ev: Event, t_in: int, dt: int) -> None:
        """Bookkeeping only some nodes need: the knob's cost model, a node budget, the trace."""
        if self.mode is not None and self.node.modes:
            self.cost.observe(self.mode.name, dt)
        if self.node_budget_ns is not None and dt > self.node_budget_ns:
            self.stats.budget_misses += 1
        if self.trace is not None:
            self.trace.complete(self.name, ev.port, t_in, dt, ev.seq, self.mode.name if self.mode else None)

    @property
    def busy(self) -> bool:
        """True while the node is inside `process`."""
        return self._cur is not None

    def _record_in_budgets(self, ev: Event, t_in: int) -> None:
        for b in self.in_budgets.get(ev.port, ()):
            if b.src_node == ev.source and b.kind is ev.kind:
                b.record(t_in - ev.origin_ns)

    async def close_outputs(self) -> None:
        """Send end-of-stream on every output (after a source's `run` returns)."""
        await self.send_control(EventKind.EOS)

    def __repr__(self) -> str:
        return f"<NodeContext {self.graph_name}/{self.name}>"


async def run_node(ctx: NodeContext, on_done: Callable[[], None] | None = None) -> None:
    """Drive one node: setup was done by the graph; run its loop, restarting per its policy.

    A node that keeps `Node.run` is served directly (one coroutine frame less on every wake-up).
    `on_done` is called when the node finishes normally.
    """
    from liveloop.graph.errors import NodeFailed
    from liveloop.graph.node import OnError

    node = ctx.node
    policy = node.restart
    restarts = 0
    backoff_s = policy.backoff_ms / 1e3
    ctx.bind_loop(asyncio.get_running_loop())
    while True:
        try:
            if type(node).run is Node.run:
                await ctx.serve(node)
            else:
                await node.run(ctx)
            if not ctx.eos_sent:  # the node finished: end of stream downstream
                await ctx.close_outputs()
            if on_done is not None:
                on_done()
            return
        except asyncio.CancelledError:
            raise
        except GraphValidationError as exc:
            raise NodeFailed(ctx.name, str(exc)) from exc
        except Exception as exc:
            ctx.stats.errors += 1
            ctx._cur = None
            if policy.on_error is OnError.RESTART and restarts < policy.max_restarts:
                restarts += 1
                ctx.stats.restarts += 1
                log.warning(
                    "node %r raised %s: %s; restart %d/%d in %.0f ms",
                    ctx.name,
                    type(exc).__name__,
                    exc,
                    restarts,
                    policy.max_restarts,
                    backoff_s * 1e3,
                )
                await ctx.clock.sleep(backoff_s)
                backoff_s *= policy.backoff_factor
                continue
            raise NodeFailed(ctx.name, f"{type(exc).__name__}: {exc}") from exc
