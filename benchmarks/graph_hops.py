"""Per-hop cost of the graph runtime, against a bare asyncio chain and Pipecat; memory under overload.

    python benchmarks/graph_hops.py [--quick] [--out benchmarks/results/graph_hops.json]

Side by side, each scenario in its own subprocess (so peak RSS is its own):
  latency   10 pass-through stages, events paced at 2,000/s; per-hop = end-to-end / 11 queue hops
  throughput the same chain, unpaced: events per second through all 10 stages
  overload  producer at 10,000 events/s into a sink that takes 1 ms per event, for 30 s (5 s quick):
            peak RSS and queue depth (liveloop: a drop_oldest(64) input; Pipecat: its own queues)
Systems: liveloop; the floor (asyncio.Queue(maxsize) + one task per stage); Pipecat 1.14 (pipecat-ai,
the `bench` extra), with its default observers and with none.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STAGES = 10
HOPS = STAGES + 1  # source → stage 0 … stage 9 → sink
RATE_HZ = 2_000
LOW_RATE_HZ = 200  # a rate every system keeps up with, for a like-for-like per-hop comparison
OVERLOAD_RATE_HZ = 10_000
SINK_COST_S = 0.001


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


async def paced(n: int, rate_hz: float, emit: Any) -> None:
    """Call `await emit(i)` n times on an absolute schedule of `rate_hz` (bursts when sleeps are coarse)."""
    t0 = time.monotonic_ns()
    period_ns = 1e9 / rate_hz
    i = 0
    while i < n:
        due = min(n, int((time.monotonic_ns() - t0) / period_ns) + 1)
        while i < due:
            await emit(i)
            i += 1
        next_ns = t0 + i * period_ns
        await asyncio.sleep(max(0.0, (next_ns - time.monotonic_ns()) / 1e9))


class RssSampler:
    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.series: list[tuple[float, float]] = []
        self.t0 = time.monotonic()

    def sample(self) -> float:
        mb = self.proc.memory_info().rss / 2**20
        self.series.append((round(time.monotonic() - self.t0, 3), round(mb, 1)))
        return mb

    async def run(self, period_s: float = 0.1) -> None:
        while True:
            self.sample()
            await asyncio.sleep(period_s)

    @property
    def peak(self) -> float:
        return max(mb for _, mb in self.series)


# ---------------------------------------------------------------------------------------------- liveloop
def _liveloop_nodes() -> tuple[type, type, type]:
    from liveloop.graph import Block, DropOldest, Input, Node, Output

    class Pass(Node):
        inp = Input(object, Block(64))
        out = Output(object)

        async def process(self, event, ctx):
            await ctx.emit("out", event.data, parent=event)

    class Sink(Node):
        inp = Input(object, Block(64))

        def __init__(self, name=None, cost_s: float = 0.0):
            super().__init__(name)
            self.lat_ns: list[int] = []
            self.cost_s = cost_s
            if cost_s:
                self.inputs = {"inp": Input(object, DropOldest(64))}

        async def process(self, event, ctx):
            self.lat_ns.append(time.monotonic_ns() - event.origin_ns)
            if self.cost_s:
                await asyncio.sleep(self.cost_s)

    class Src(Node):
        out = Output(object)

        def __init__(self, name=None, n: int = 0, rate_hz: float | None = None, seconds: float | None = None):
            super().__init__(name)
            self.n, self.rate_hz, self.seconds = n, rate_hz, seconds

        async def run(self, ctx):
            if self.rate_hz is None:
                for i in range(self.n):
                    await ctx.emit("out", i)
                return
            n = self.n or int(self.seconds * self.rate_hz)
            await paced(n, self.rate_hz, lambda i: ctx.emit("out", i))

    return Pass, Sink, Src


async def liveloop_chain(n: int, rate_hz: float | None) -> dict[str, Any]:
    from liveloop.graph import Graph

    Pass, Sink, Src = _liveloop_nodes()
    g = Graph("hops")
    g.add(Src(n=n, rate_hz=rate_hz), "src")
    prev = "src.out"
    for i in range(STAGES):
        g.add(Pass(), f"p{i}")
        g.connect(prev, f"p{i}.inp")
        prev = f"p{i}.out"
    sink = g.add(Sink(), "sink")
    g.connect(prev, "sink.inp")
    t0 = time.perf_counter()
    await g.run()
    return {"lat_ns": sink.lat_ns, "elapsed_s": time.perf_counter() - t0}


async def liveloop_overload(seconds: float) -> dict[str, Any]:
    from liveloop.graph import Graph

    _, Sink, Src = _liveloop_nodes()
    g = Graph("overload")
    g.add(Src(rate_hz=OVERLOAD_RATE_HZ, seconds=seconds), "src")
    sink = g.add(Sink(cost_s=SINK_COST_S), "sink")
    g.connect("src.out", "sink.inp")
    rss = RssSampler()
    rss.sample()
    async with asyncio.TaskGroup() as tg:
        sampler = tg.create_task(rss.run())
        await g.run()
        sampler.cancel()
    st = g.runtimes["sink"].channels["inp"].stats
    return {
        "rss_series": rss.series,
        "peak_rss_mb": rss.peak,
        "start_rss_mb": rss.series[0][1],
        "peak_queue_depth": st.peak,
        "drops": st.drops,
        "consumed": len(sink.lat_ns),
    }


# ---------------------------------------------------------------------------------------------- floor
async def floor_chain(n: int, rate_hz: float | None) -> dict[str, Any]:
    queues = [asyncio.Queue(maxsize=64) for _ in range(HOPS)]
    lat: list[int] = []
    done = object()

    async def stage(i: int) -> None:
        qin, qout = queues[i], queues[i + 1]
        while True:
            item = await qin.get()
            await qout.put(item)
            if item is done:
                return

    async def sink() -> None:
        q = queues[-1]
        while True:
            item = await q.get()
            if item is done:
                return
            lat.append(time.monotonic_ns() - item)

    async def put(_i: int) -> None:
        await queues[0].put(time.monotonic_ns())

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for i in range(STAGES):
            tg.create_task(stage(i))
        tg.create_task(sink())
        if rate_hz is None:
            for i in range(n):
                await put(i)
        else:
            await paced(n, rate_hz, put)
        await queues[0].put(done)
    return {"lat_ns": lat, "elapsed_s": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------- pipecat
def _pipecat_worker(n_stages: int, observers: bool, sink_cost_s: float = 0.0):
    from loguru import logger

    logger.remove()  # Pipecat logs at DEBUG to stderr by default; a deployment would log warnings only
    logger.add(sys.stderr, level="WARNING")
    from pipecat.frames.frames import DataFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.processors.frame_processor import FrameProcessor

    class Stamp(DataFrame):
        pass

    class PassP(FrameProcessor):
        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)

    lat: list[int] = []

    class SinkP(FrameProcessor):
        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            if isinstance(frame, Stamp):
                lat.append(time.monotonic_ns() - frame.metadata["t_ns"])
                if sink_cost_s:
                    await asyncio.sleep(sink_cost_s)
            else:
                await self.push_frame(frame, direction)

    procs = [PassP() for _ in range(n_stages)] + [SinkP()]
    kwargs: dict[str, Any] = {"idle_timeout_secs": None, "check_dangling_tasks": False}
    if not observers:
        kwargs.update(observers=[], enable_turn_tracking=False, enable_rtvi=False)
    worker = PipelineWorker(Pipeline(procs), **kwargs)
    started = asyncio.Event()

    async def on_started(_worker: Any, _frame: Any) -> None:
        started.set()

    worker.add_event_handler("on_pipeline_started", on_started)
    worker.liveloop_started = started  # type: ignore[attr-defined]

    def make(_i: int) -> Any:
        f = Stamp()
        f.metadata["t_ns"] = time.monotonic_ns()
        return f

    return worker, make, lat


async def pipecat_chain(n: int, rate_hz: float | None, observers: bool) -> dict[str, Any]:
    from pipecat.frames.frames import EndFrame
    from pipecat.pipeline.runner import PipelineRunner

    worker, make, lat = _pipecat_worker(STAGES, observers)
    runner = PipelineRunner(handle_sigint=False)
    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(runner.run(worker))
        await asyncio.wait_for(worker.liveloop_started.wait(), 30)  # StartFrame has reached the end
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()

        async def put(i: int) -> None:
            await worker.queue_frame(make(i))

        if rate_hz is None:
            for i in range(n):
                await put(i)
        else:
            await paced(n, rate_hz, put)
        await worker.queue_frame(EndFrame())
    return {"lat_ns": lat, "elapsed_s": time.perf_counter() - t0}


async def pipecat_overload(seconds: float) -> dict[str, Any]:
    from pipecat.frames.frames import CancelFrame
    from pipecat.pipeline.runner import PipelineRunner

    worker, make, lat = _pipecat_worker(0, observers=True, sink_cost_s=SINK_COST_S)
    runner = PipelineRunner(handle_sigint=False)
    rss = RssSampler()
    rss.sample()
    async with asyncio.TaskGroup() as tg:
        sampler = tg.create_task(rss.run())
        run = tg.create_task(runner.run(worker))
        await asyncio.wait_for(worker.liveloop_started.wait(), 30)
        await asyncio.sleep(0.2)
        await paced(int(seconds * OVERLOAD_RATE_HZ), OVERLOAD_RATE_HZ, lambda i: worker.queue_frame(make(i)))
        rss.sample()
        await worker.queue_frame(CancelFrame())
        await runner.cancel()
        sampler.cancel()
        run.cancel()
    produced = int(seconds * OVERLOAD_RATE_HZ)
    return {
        "rss_series": rss.series,
        "peak_rss_mb": rss.peak,
        "start_rss_mb": rss.series[0][1],
        "peak_queue_depth": produced - len(lat),
        "drops": 0,
        "consumed": len(lat),
    }


# ---------------------------------------------------------------------------------------------- driver
SCENARIOS = {
    "liveloop_latency": lambda a: liveloop_chain(a.n, a.rate),
    "floor_latency": lambda a: floor_chain(a.n, a.rate),
    "pipecat_latency": lambda a: pipecat_chain(a.n, a.rate, observers=True),
    "pipecat_bare_latency": lambda a: pipecat_chain(a.n, a.rate, observers=False),
    "liveloop_throughput": lambda a: liveloop_chain(a.n, None),
    "floor_throughput": lambda a: floor_chain(a.n, None),
    "pipecat_throughput": lambda a: pipecat_chain(a.n, None, observers=True),
    "liveloop_overload": lambda a: liveloop_overload(a.seconds),
    "pipecat_overload": lambda a: pipecat_overload(a.seconds),
}


def run_scenario(name: str, n: int, seconds: float, rate: float = RATE_HZ) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--scenario", name, "--n", str(n), "--seconds", str(seconds), "--rate", str(rate)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout)[-1500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(res: dict[str, Any], n: int, suffix: str = "") -> dict[str, Any]:
    lat_ns = res["lat_ns"][len(res["lat_ns"]) // 100 :]  # the first 1 % is warm-up
    lat = [x / HOPS / 1e3 for x in lat_ns]
    # a system that cannot keep up with the offered rate builds a backlog: its latency grows through the run
    tenth = max(1, len(lat) // 10)
    growth = percentile(lat[-tenth:], 0.5) / percentile(lat[:tenth], 0.5) if lat else float("nan")
    return {
        f"per_hop_us_p50{suffix}": percentile(lat, 0.5),
        f"per_hop_us_p99{suffix}": percentile(lat, 0.99),
        f"e2e_us_p50{suffix}": percentile([x / 1e3 for x in lat_ns], 0.5),
        f"delivered{suffix}": len(res["lat_ns"]),
        f"sent{suffix}": n,
        f"keeps_up{suffix}": bool(growth < 3.0),
        f"latency_growth{suffix}": growth,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10k events and 5 s of overload (≤ 60 s in all)")
    ap.add_argument("--out", default="benchmarks/results/graph_hops.json")
    ap.add_argument("--scenario", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=RATE_HZ, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scenario:
        gc.disable() if "latency" in args.scenario else None
        res = asyncio.run(SCENARIOS[args.scenario](args))
        print(json.dumps(res))
        return 0

    n_lat = 6_000 if args.quick else 100_000
    n_tp = 10_000 if args.quick else 100_000
    seconds = 5.0 if args.quick else 30.0
    try:
        import pipecat  # noqa: F401

        have_pipecat = True
    except ImportError as exc:
        have_pipecat = False
        pipecat_reason = f"pipecat-ai is not installed ({exc}); install the bench extra: pip install -e .[bench]"
    out: dict[str, Any] = {
        "config": {
            "stages": STAGES,
            "hops": HOPS,
            "rate_hz": RATE_HZ,
            "events": n_lat,
            "overload_rate_hz": OVERLOAD_RATE_HZ,
            "sink_cost_ms": SINK_COST_S * 1e3,
            "overload_s": seconds,
            "quick": args.quick,
            "load_avg": os.getloadavg(),
        }
    }
    systems = ["liveloop", "floor"] + (["pipecat", "pipecat_bare"] if have_pipecat else [])
    n_low = 400 if args.quick else n_lat // 10
    for sys_name in systems:
        print(f"[{sys_name}] latency at {RATE_HZ}/s, {n_lat} events …", file=sys.stderr, flush=True)
        res = run_scenario(f"{sys_name}_latency", n_lat, seconds)
        out[sys_name] = {"error": res["error"]} if "error" in res else summarize(res, n_lat)
        print(f"[{sys_name}] latency at {LOW_RATE_HZ}/s, {n_low} events …", file=sys.stderr, flush=True)
        res = run_scenario(f"{sys_name}_latency", n_low, seconds, LOW_RATE_HZ)
        if "error" not in res:
            out[sys_name].update(summarize(res, n_low, f"_at_{LOW_RATE_HZ}hz"))
        if sys_name != "pipecat_bare":
            print(f"[{sys_name}] throughput …", file=sys.stderr, flush=True)
            res = run_scenario(f"{sys_name}_throughput", n_tp, seconds)
            if "error" not in res:
                out[sys_name]["events_per_s"] = len(res["lat_ns"]) / res["elapsed_s"]
    for sys_name in ["liveloop"] + (["pipecat"] if have_pipecat else []):
        print(f"[{sys_name}] overload {seconds:.0f} s …", file=sys.stderr, flush=True)
        res = run_scenario(f"{sys_name}_overload", n_lat, seconds)
        if "error" in res:
            out[sys_name]["overload_error"] = res["error"]
            continue
        out[sys_name].update(
            {
                "overload_peak_rss_mb": res["peak_rss_mb"],
                "overload_start_rss_mb": res["start_rss_mb"],
                "overload_rss_growth_mb": res["peak_rss_mb"] - res["start_rss_mb"],
                "overload_peak_queue_depth": res["peak_queue_depth"],
                "overload_drops": res["drops"],
                "overload_rss_series": res["rss_series"],
            }
        )
    if not have_pipecat:
        out["pipecat"] = {"error": pipecat_reason}
    ll, fl = out["liveloop"], out["floor"]
    low = f"_at_{LOW_RATE_HZ}hz"
    out["ratios"] = {
        "liveloop_vs_floor_p50": ll["per_hop_us_p50"] / fl["per_hop_us_p50"],
        f"liveloop_vs_floor_p50{low}": ll[f"per_hop_us_p50{low}"] / fl[f"per_hop_us_p50{low}"],
    }
    if have_pipecat and "per_hop_us_p50" in out["pipecat"]:
        out["ratios"]["pipecat_vs_liveloop_p50"] = out["pipecat"]["per_hop_us_p50"] / ll["per_hop_us_p50"]
        out["ratios"][f"pipecat_vs_liveloop_p50{low}"] = (
            out["pipecat"][f"per_hop_us_p50{low}"] / ll[f"per_hop_us_p50{low}"]
        )
        if "per_hop_us_p50" in out.get("pipecat_bare", {}):
            out["ratios"][f"pipecat_bare_vs_liveloop_p50{low}"] = (
                out["pipecat_bare"][f"per_hop_us_p50{low}"] / ll[f"per_hop_us_p50{low}"]
            )
    print_table(out)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    plot(out, Path(args.out).with_suffix(".png"))
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


def print_table(out: dict[str, Any]) -> None:
    def f(v: Any, fmt: str = "{:.1f}") -> str:
        return "-" if v is None or v != v else fmt.format(v)

    print(
        f"\n{STAGES} pass-through stages, {out['config']['events']} events at {RATE_HZ}/s (load avg "
        f"{out['config']['load_avg'][0]:.2f})"
    )
    low = f"_at_{LOW_RATE_HZ}hz"
    print(
        f"{'system':<14}{'hop p50 µs':>12}{'hop p99 µs':>12}{'keeps up':>10}{f'p50 @{LOW_RATE_HZ}/s':>12}"
        f"{'events/s':>12}{'overload peak RSS MB':>22}{'RSS growth MB':>15}{'peak depth':>12}{'drops':>10}"
    )
    for name in ("floor", "liveloop", "pipecat", "pipecat_bare"):
        r = out.get(name)
        if not r:
            continue
        if "per_hop_us_p50" not in r:
            print(f"{name:<14}  error: {r.get('error', '')[:200]}")
            continue
        print(
            f"{name:<14}{f(r['per_hop_us_p50']):>12}{f(r['per_hop_us_p99']):>12}{r['keeps_up']!s:>10}"
            f"{f(r.get('per_hop_us_p50' + low)):>12}{f(r.get('events_per_s'), '{:,.0f}'):>12}"
            f"{f(r.get('overload_peak_rss_mb')):>22}"
            f"{f(r.get('overload_rss_growth_mb')):>15}{f(r.get('overload_peak_queue_depth'), '{:,.0f}'):>12}"
            f"{f(r.get('overload_drops'), '{:,.0f}'):>10}"
        )
    for k, v in out["ratios"].items():
        print(f"{k}: {v:.2f}×")


def plot(out: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    names = [n for n in ("floor", "liveloop", "pipecat", "pipecat_bare") if "per_hop_us_p50" in out.get(n, {})]
    a.bar(names, [out[n]["per_hop_us_p50"] for n in names], label="p50")
    a.scatter(names, [out[n]["per_hop_us_p99"] for n in names], color="k", marker="_", s=400, label="p99")
    a.set_ylabel("µs per hop")
    a.set_title(f"{STAGES} pass-through stages at {RATE_HZ}/s (log scale)")
    a.set_yscale("log")
    a.legend()
    for n in ("liveloop", "pipecat"):
        series = out.get(n, {}).get("overload_rss_series")
        if series:
            b.plot([t for t, _ in series], [m for _, m in series], label=n)
    b.set_xlabel("s")
    b.set_ylabel("RSS MB")
    b.set_title(f"overload: {OVERLOAD_RATE_HZ}/s into a 1 ms/event sink")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
