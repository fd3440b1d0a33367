"""The README's graph, runnable: python examples/readme_graph.py"""

import asyncio

import numpy as np

from liveloop.graph import Block, Event, Graph, Input, Latest, Mode, Node, NodeContext, Output


class Mic(Node):
    """A source: 20 ms of noise every 20 ms, stamped with its capture time."""

    audio = Output(np.ndarray)

    async def run(self, ctx: NodeContext) -> None:
        rng, t = np.random.default_rng(0), ctx.now_ns()
        for _ in range(100):
            t += 20_000_000
            await ctx.clock.sleep_until(t)
            await ctx.emit("audio", rng.standard_normal(320).astype(np.float32), origin_ns=t)


class Loudness(Node):
    """A thin adapter: real logic would live in a plain class (feed(x, now) -> outputs)."""

    audio = Input(np.ndarray, Block(8))  # lossless back-pressure
    level = Output(float)
    modes = (Mode("exact", quality=1.0, cost_hint_ms=2.0), Mode("rough", quality=0.3, cost_hint_ms=0.2))

    async def process(self, event: Event, ctx: NodeContext) -> None:
        x = event.data if ctx.mode.name == "exact" else event.data[::8]  # the runtime picked the mode
        await ctx.emit("level", float(np.sqrt(np.mean(x**2))), parent=event)  # inherits the capture time


class Meter(Node):
    level = Input(float, Latest())  # a display only wants the newest value

    async def process(self, event: Event, ctx: NodeContext) -> None:
        print(f"\rlevel {event.data:.2f}", end="")


g = Graph("demo")
g.add(Mic(), "mic")
g.add(Loudness(), "loud")
g.add(Meter(), "meter")
g.connect("mic.audio", "loud.audio")
g.connect("loud.level", "meter.level")
g.budget("mic.audio", "meter.level", ms=30)
report = asyncio.run(g.run())
print("\n" + report.table())  # budgets vs measured p50/p95/p99, misses, goodput, drops
