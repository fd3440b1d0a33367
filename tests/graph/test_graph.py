"""The runtime in a running graph, on the virtual clock: budgets, knobs, interrupts, errors, subgraphs."""

import asyncio

import pytest

from liveloop.graph import (
    NS_PER_MS,
    Block,
    Collect,
    DropOldest,
    Event,
    EventKind,
    Graph,
    GraphValidationError,
    Inlet,
    Input,
    Latest,
    Mode,
    Node,
    NodeContext,
    NodeFailed,
    OnError,
    Output,
    RestartPolicy,
    Subgraph,
    VirtualClock,
)
from liveloop.testing import NodeHarness


class Ticker(Node):
    """Emits `n` integers every `period_ms` of (virtual) time."""

    out = Output(int)

    def __init__(self, name=None, *, n=10, period_ms=10.0):
        super().__init__(name)
        self.n, self.period_ms = n, period_ms

    async def run(self, ctx: NodeContext) -> None:
        t0 = ctx.now_ns()
        for i in range(self.n):
            await ctx.clock.sleep_until(t0 + int((i + 1) * self.period_ms * NS_PER_MS))
            await ctx.emit("out", i)


class Work(Node):
    """Takes `cost_ms` of virtual time per event."""

    inp = Input(int, Block(64))
    out = Output(int)

    def __init__(self, name=None, *, cost_ms=1.0):
        super().__init__(name)
        self.cost_ms = cost_ms

    async def process(self, event: Event, ctx: NodeContext) -> None:
        await ctx.clock.sleep(self.cost_ms / 1e3)
        await ctx.emit("out", event.data, parent=event)


def chain(clock, *, n=10, period_ms=10.0, costs=(1.0,), budget_ms=None, sink_policy=None):
    g = Graph("chain", clock=clock)
    g.add(Ticker(n=n, period_ms=period_ms), "src")
    prev = "src.out"
    for i, c in enumerate(costs):
        g.add(Work(cost_ms=c), f"w{i}")
        g.connect(prev, f"w{i}.inp")
        prev = f"w{i}.out"
    sink = g.add(Collect(), "sink")
    g.connect(prev, "sink.inp", policy=sink_policy)
    if budget_ms is not None:
        g.budget("src.out", "sink.inp", ms=budget_ms, name="e2e")
    return g, sink


async def test_budget_goodput_and_latency_are_exact_on_virtual_time():
    # 10 events, 10 ms apart; two stages of 3 ms each → every event is 6 ms old at the sink.
    g, sink = chain(VirtualClock(), n=10, costs=(3.0, 3.0), budget_ms=5)
    report = await g.run()
    assert sink.data == list(range(10))
    b = report.budgets()[0]
    assert b["count"] == 10 and b["misses"] == 10 and b["goodput"] == 0.0
    assert b["p50_ms"] == pytest.approx(6.0)
    g2, _ = chain(VirtualClock(), n=10, costs=(3.0, 3.0), budget_ms=6)
    assert (await g2.run()).budgets()[0]["goodput"] == 1.0


async def test_queueing_under_overload_shows_as_age_and_misses():
    # 5 ms between events but 8 ms of work each: the queue grows, ages grow linearly.
    g, _ = chain(VirtualClock(), n=5, period_ms=5.0, costs=(8.0,), budget_ms=20)
    report = await g.run()
    lat = sorted(g.budgets[0].stats.latency.samples())
    assert [x / NS_PER_MS for x in lat] == [8.0, 11.0, 14.0, 17.0, 20.0]
    assert report.budgets()[0]["misses"] == 0
    assert g.runtimes["w0"].stats.queue_wait.max_ns == 12 * NS_PER_MS


async def test_hops_and_origin_are_carried():
    g, sink = chain(VirtualClock(), n=2, costs=(1.0, 2.0))
    await g.run()
    ev = sink.events[1]
    assert ev.path() == ["src", "w0", "w1"]
    assert ev.origin_ns == 20 * NS_PER_MS
    hops = ev.hops()
    assert hops[1].t_out_ns - hops[1].t_in_ns == 1 * NS_PER_MS
    assert hops[2].t_out_ns - hops[2].t_in_ns == 2 * NS_PER_MS


class Join(Node):
    a = Input(int)
    b = Input(int)
    out = Output(tuple)

    def __init__(self, name=None):
        super().__init__(name)
        self.last: dict[str, Event] = {}

    async def process(self, event, ctx):
        self.last[event.port] = event
        if len(self.last) == 2:
            await ctx.emit("out", (self.last["a"].data, self.last["b"].data), parent=list(self.last.values()))
            self.last.clear()


async def test_combined_output_inherits_the_oldest_origin():
    async with NodeHarness(Join()) as h:
        await h.feed("a", 1, at_s=0.010)
        await h.feed("b", 2, at_s=0.030)
        await h.idle()
    (ev,) = h.outputs["out"]
    assert ev.data == (1, 2) and ev.origin_ns == 10 * NS_PER_MS


class Knobbed(Node):
    inp = Input(int, Block(64))
    out = Output(str)
    modes = (
        Mode("hi", quality=1.0, cost_hint_ms=8, params=(("cost_ms", 8),)),
        Mode("mid", quality=0.6, cost_hint_ms=4, params=(("cost_ms", 4),)),
        Mode("lo", quality=0.2, cost_hint_ms=1, params=(("cost_ms", 1),)),
    )

    async def process(self, event, ctx):
        await ctx.clock.sleep(ctx.mode.param("cost_ms") / 1e3)
        await ctx.emit("out", ctx.mode.name, parent=event)


async def test_knob_selection_follows_a_shrinking_budget():
    # Each event is fed with an older origin: the time left shrinks from 20 ms to 0.
    async with NodeHarness(Knobbed(), budgets={("inp", "out"): 20}) as h:
        for i, age_ms in enumerate([0, 10, 14, 17, 25]):
            await h.sleep_until(1.0 + i)
            await h.feed("inp", i, origin_ns=h.clock.now_ns() - age_ms * NS_PER_MS)
            await h.idle()
    assert h.data("out") == ["hi", "hi", "mid", "lo", "lo"]
    assert h.graph.runtimes["knobbed"].stats.mode_counts == {"hi": 2, "mid": 1, "lo": 2}


async def test_cost_model_learns_the_real_cost_over_the_hint():
    class Liar(Knobbed):
        modes = (
            Mode("hi", quality=1.0, cost_hint_ms=1, params=(("cost_ms", 15),)),  # hint says cheap; it is not
            Mode("lo", quality=0.2, cost_hint_ms=1, params=(("cost_ms", 1),)),
        )

    async with NodeHarness(Liar(), budgets={("inp", "out"): 10}) as h:
        for i in range(8):
            await h.sleep_until(1.0 + i)
            await h.feed("inp", i)
            await h.idle()
    out = h.data("out")
    assert out[:3] == ["hi", "hi", "hi"]  # warm-up on the hint
    assert set(out[3:]) == {"lo"}  # measured 15 ms > 10 ms budget → the cheap mode


class Slow(Node):
    inp = Input(int, Block(64))
    out = Output(int)
    seen: list

    def __init__(self, name=None):
        super().__init__(name)
        self.seen = []
        self.interrupted = 0

    async def process(self, event, ctx):
        await ctx.clock.sleep(0.010)
        self.seen.append(event.data)
        await ctx.emit("out", event.data, parent=event)

    async def on_interrupt(self, event, ctx):
        self.interrupted += 1


async def test_interrupt_overtakes_queued_data_and_drops_it():
    node = Slow()
    async with NodeHarness(node) as h:
        await h.feed("inp", 0)
        await h.sleep_until(0.001)  # the node is busy with event 0 until t = 10 ms
        for i in range(1, 6):
            await h.feed("inp", i)  # queued behind it
        await h.interrupt()
        await h.idle()
    assert node.seen == [0]  # the rest was dropped by the interrupt
    assert node.interrupted == 1
    assert h.graph.runtimes["slow"].channels["inp"].stats.drops == 5
    (ctl,) = h.controls("out")
    assert ctl.kind is EventKind.INTERRUPT
    # measured crossing time: sent at 1 ms, it waited for the event in progress (until 10 ms), nothing more
    assert h.graph.runtimes["slow"].stats.control_latency.samples() == [9 * NS_PER_MS]


class Boom(Node):
    inp = Input(int)
    out = Output(int)

    def __init__(self, name=None, fail_on=(2,)):
        super().__init__(name)
        self.fail_on = set(fail_on)

    async def process(self, event, ctx):
        if event.data in self.fail_on:
            raise RuntimeError(f"bad value {event.data}")
        await ctx.emit("out", event.data, parent=event)


async def test_node_error_surfaces_with_the_node_name():
    g = Graph("g", clock=VirtualClock())
    g.add(Ticker(n=5), "src")
    g.add(Boom(), "parser")
    g.add(Collect(), "sink")
    g.connect("src.out", "parser.inp")
    g.connect("parser.out", "sink.inp")
    with pytest.raises(NodeFailed, match=r"node 'parser' failed: RuntimeError: bad value 2") as info:
        await g.run()
    assert info.value.node == "parser"
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_restart_policy_keeps_queued_input():
    class Flaky(Boom):
        restart = RestartPolicy(OnError.RESTART, max_restarts=2, backoff_ms=5)

    g = Graph("g", clock=VirtualClock())
    g.add(Ticker(n=6, period_ms=1), "src")
    g.add(Flaky(fail_on=(1, 3)), "flaky")
    sink = g.add(Collect(), "sink")
    g.connect("src.out", "flaky.inp")
    g.connect("flaky.out", "sink.inp")
    await g.run()
    assert sink.data == [0, 2, 4, 5]  # failing events are reported, everything else goes through
    st = g.runtimes["flaky"].stats
    assert (st.errors, st.restarts) == (2, 2)


async def test_restart_budget_exhausted_stops_the_graph():
    class Flaky(Boom):
        restart = RestartPolicy(OnError.RESTART, max_restarts=1, backoff_ms=1)

    g = Graph("g", clock=VirtualClock())
    g.add(Ticker(n=6, period_ms=1), "src")
    g.add(Flaky(fail_on=(1, 2, 3)), "flaky")
    g.add(Collect(), "sink")
    g.connect("src.out", "flaky.inp")
    g.connect("flaky.out", "sink.inp")
    with pytest.raises(NodeFailed, match="flaky"):
        await g.run()


async def test_stop_cancels_cleanly_and_runs_teardown():
    torn = []

    class Forever(Node):
        out = Output(int)

        async def run(self, ctx):
            while True:
                await ctx.clock.sleep(1)

        async def teardown(self, ctx):
            torn.append(self.name)

    g = Graph("g", clock=VirtualClock())
    g.add(Forever(), "f")
    report = await g.run(duration_s=10)
    assert torn == ["f"]
    assert report.elapsed_ns == 10_000 * NS_PER_MS


async def test_latest_edge_on_a_slow_consumer_drops_exactly():
    # 20 events 1 ms apart into a 10 ms/event consumer behind a latest edge.
    g = Graph("g", clock=VirtualClock())
    g.add(Ticker(n=20, period_ms=1), "src")
    g.add(Work(cost_ms=10), "slow")
    sink = g.add(Collect(), "sink")
    g.connect("src.out", "slow.inp", policy=Latest())
    g.connect("slow.out", "sink.inp")
    await g.run()
    # event i is emitted at t = i+1 ms. Taken at t=1 (event 0), then at t=11 the newest waiting one (9: the
    # consumer's wake-up at 11 ms was scheduled before the source's, so it runs first), then at t=21 (19).
    assert sink.data == [0, 9, 19]
    assert g.runtimes["slow"].channels["inp"].stats.drops == 17


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (lambda g: g.connect("src.nope", "w.inp"), "has no output 'nope'"),
        (lambda g: g.connect("src.out", "w.nope"), "has no input 'nope'"),
        (lambda g: g.connect("src.out", "ghost.inp"), "has no node 'ghost'"),
        (lambda g: g.connect("src", "w.inp"), "must be 'node.port'"),
        (lambda g: g.connect("src.out", "s.inp"), "type mismatch"),
    ],
)
def test_wiring_errors_name_the_fault(wire, message):
    class StrSink(Node):
        inp = Input(str)

    g = Graph("g")
    g.add(Ticker(), "src")
    g.add(Work(), "w")
    g.add(StrSink(), "s")
    with pytest.raises(GraphValidationError, match=message):
        wire(g)


def test_unconnected_input_is_rejected():
    g = Graph("g")
    g.add(Work(), "w")
    with pytest.raises(GraphValidationError, match=r"input w\.inp is not connected"):
        g.validate()


def test_cycle_of_block_edges_is_rejected_but_a_latest_edge_breaks_it():
    class Merge(Node):
        a = Input(int)
        b = Input(int)
        out = Output(int)

    def build(policy):
        g = Graph("g")
        g.add(Ticker(), "src")
        g.add(Merge(), "m")
        g.add(Work(), "w")
        g.connect("src.out", "m.a")
        g.connect("m.out", "w.inp")
        g.connect("w.out", "m.b", policy=policy)
        return g

    with pytest.raises(GraphValidationError, match=r"cycle of block edges.*latest or drop_oldest"):
        build(None).validate()
    build(Latest()).validate()
    build(DropOldest(2)).validate()


async def test_subgraph_is_a_node_and_budgets_see_through_it():
    inner = Graph("inner")
    inner.add(Work(cost_ms=2), "a")
    inner.add(Work(cost_ms=3), "b")
    inner.connect("a.out", "b.inp")
    g = Graph("outer", clock=VirtualClock())
    g.add(Ticker(n=4), "src")
    g.add(Subgraph(inner, inputs={"inp": "a.inp"}, outputs={"out": "b.out"}), "pipeline")
    sink = g.add(Collect(), "sink")
    g.connect("src.out", "pipeline.inp")
    g.connect("pipeline.out", "sink.inp")
    g.budget("src.out", "sink.inp", ms=4, name="e2e")
    report = await g.run()
    assert sink.data == [0, 1, 2, 3]
    assert report.budgets()[0]["p50_ms"] == pytest.approx(5.0)
    assert report.budgets()[0]["misses"] == 4


async def test_inlet_feeds_a_running_graph_from_outside():
    g = Graph("g", clock=VirtualClock())
    inlet = g.add(Inlet(), "mic")
    g.add(Work(cost_ms=1), "w")
    sink = g.add(Collect(), "sink")
    g.connect("mic.out", "w.inp")
    g.connect("w.out", "sink.inp")
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(g.run())
        for i in range(3):
            await inlet.put(i)
        await inlet.close()
    assert sink.data == [0, 1, 2]
    assert run.result().nodes()[1]["events_in"] == 3


async def test_graph_interrupt_from_outside_reaches_the_sink_in_order():
    g = Graph("g", clock=VirtualClock())
    inlet = g.add(Inlet(), "mic")
    g.add(Slow(), "slow")
    sink = g.add(Collect(), "sink")
    g.connect("mic.out", "slow.inp")
    g.connect("slow.out", "sink.inp")
    g.budget("mic.out", "sink.inp", ms=5, name="barge_in", kind=EventKind.INTERRUPT)
    async with g.running():
        for i in range(4):
            await inlet.put(i)
        await g.clock.sleep(0.001)
        await g.send_control("slow", EventKind.INTERRUPT)
        await g.clock.sleep(0.1)
    assert sink.data == [0]
    assert [c.kind for c in sink.controls] == [EventKind.INTERRUPT]


async def test_downstream_latency_is_what_comes_after_a_port_on_a_budgeted_path():
    g, _ = chain(VirtualClock(), n=5, costs=(1.0, 3.0, 2.0), budget_ms=50)
    await g.run()
    # after w0's output: w1 (3 ms) and w2 (2 ms) on the budgeted path to the sink; nothing waits in queues
    assert g.runtimes["w0"].downstream_latency_ns("out") == 5 * NS_PER_MS
    assert g.runtimes["w2"].downstream_latency_ns("out") == 0  # the sink itself costs nothing
    g2, _ = chain(VirtualClock(), n=5, costs=(1.0, 3.0))  # no budget: nothing to predict for
    await g2.run()
    assert g2.runtimes["w0"].downstream_latency_ns("out") == 0


async def test_lag_is_the_age_of_the_oldest_data_a_node_holds():
    # one event every 5 ms into a stage that takes 10: it falls behind by 5 ms per event it handles
    clock = VirtualClock()
    g, _sink = chain(clock, n=40, period_ms=5.0, costs=(10.0,))
    assert g.lag_ns() == 0  # not built yet
    seen: list[tuple[int, int, int]] = []

    async def watch() -> None:
        for t_ms in (50, 100, 150):
            await clock.sleep_until(t_ms * NS_PER_MS + 1)
            seen.append((t_ms, g.lag_ns(), g.lag_ns(["src"])))

    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(g.run())
        tg.create_task(watch())
    lags = [lag for _t, lag, _src in seen]
    # at t the stage works on the event emitted at (t + 5) / 2: it is t/2 behind (± one event)
    for t_ms, lag, src_lag in seen:
        assert abs(lag - t_ms * NS_PER_MS / 2) <= 10 * NS_PER_MS, (t_ms, lag)
        assert src_lag == 0  # a source holds nothing
    assert lags == sorted(lags) and lags[-1] > lags[0]
    assert run.result() is not None and g.lag_ns() == 0  # everything was handled
