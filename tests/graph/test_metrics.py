"""Prometheus text parsed back with prometheus_client; the trace is well-formed Chrome JSON."""

import json
import math

from prometheus_client.parser import text_string_to_metric_families

from liveloop.graph import NS_PER_MS, Collect, Graph, LatencyStats, Latest, VirtualClock
from tests.graph.test_graph import Ticker, Work


async def small_run(trace: bool = False) -> Graph:
    g = Graph("m", clock=VirtualClock(), trace=trace)
    g.add(Ticker(n=20, period_ms=1), "src")
    g.add(Work(cost_ms=3), "w")
    g.add(Collect(), "sink")
    g.connect("src.out", "w.inp", policy=Latest())
    g.connect("w.out", "sink.inp")
    g.budget("src.out", "sink.inp", ms=3.5, name="e2e")
    await g.run()
    return g


def test_latency_stats_quantiles_and_ring():
    st = LatencyStats(capacity=4)
    for v in [1, 2, 3, 4, 100]:
        st.add(v * NS_PER_MS)
    assert st.count == 5 and st.max_ns == 100 * NS_PER_MS
    assert sorted(st.samples()) == [2 * NS_PER_MS, 3 * NS_PER_MS, 4 * NS_PER_MS, 100 * NS_PER_MS]
    assert st.quantiles_ms((0.0, 1.0)) == {0.0: 2.0, 1.0: 100.0}
    assert math.isnan(LatencyStats().quantile_ns(0.5))


async def test_prometheus_text_parses_back_with_the_right_values():
    g = await small_run()
    families = {f.name: f for f in text_string_to_metric_families(g.prometheus_text())}
    drops = {s.labels["node"]: s.value for s in families["liveloop_edge_drops"].samples if s.name.endswith("_total")}
    assert drops["w"] == g.runtimes["w"].channels["inp"].stats.drops > 0
    misses = [s for s in families["liveloop_path_misses"].samples if s.labels["path"] == "e2e"]
    assert misses[0].value == g.budgets[0].stats.misses
    goodput = next(iter(families["liveloop_path_goodput_ratio"].samples))
    assert goodput.value == g.budgets[0].stats.goodput
    svc = {
        (s.labels["node"], s.labels.get("quantile")): s.value for s in families["liveloop_node_service_seconds"].samples
    }
    assert svc[("w", "0.5")] == 0.003
    budget = next(iter(families["liveloop_path_budget_seconds"].samples))
    assert budget.value == 0.0035


async def test_trace_is_chrome_trace_json_with_one_slice_per_processed_event(tmp_path):
    g = await small_run(trace=True)
    path = g.write_trace(tmp_path / "run.trace.json")
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"w", "sink"} <= names
    w_tid = next(e["tid"] for e in events if e["ph"] == "M" and e.get("args", {}).get("name") == "w")
    w_slices = [e for e in slices if e["tid"] == w_tid]
    assert len(w_slices) == g.runtimes["w"].stats.events_in
    assert all(e["dur"] == 3000.0 for e in w_slices)  # µs
    assert all({"ts", "pid", "tid", "name"} <= e.keys() for e in events)
