"""Latency statistics and the Prometheus text export.

`LatencyStats` keeps the last `capacity` samples in a ring (so percentiles
follow the recent past and memory stays bounded) plus lifetime count, sum and
max. Percentiles are computed on demand, never on the hot path.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveloop.graph.graph import Graph

DEFAULT_CAPACITY = 4096
QUANTILES = (0.5, 0.95, 0.99)


class LatencyStats:
    """A bounded ring of int nanosecond samples with lifetime count/sum/max."""

    __slots__ = ("_cap", "_i", "_ring", "count", "max_ns", "sum_ns")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._ring = array("q", bytes(8 * capacity))
        self._cap = capacity
        self._i = 0
        self.count = 0
        self.sum_ns = 0
        self.max_ns = 0

    def add(self, ns: int) -> None:
        self._ring[self._i] = ns
        i = self._i + 1
        self._i = 0 if i == self._cap else i
        self.count += 1
        self.sum_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def samples(self) -> list[int]:
        n = min(self.count, self._cap)
        return list(self._ring[:n])

    def quantile_ns(self, q: float) -> float:
        """The q-quantile (0..1) of the retained samples, linear interpolation; NaN when empty."""
        data = sorted(self.samples())
        if not data:
            return float("nan")
        pos = q * (len(data) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(data) - 1)
        return data[lo] + (data[hi] - data[lo]) * (pos - lo)

    def quantiles_ms(self, qs: Iterable[float] = QUANTILES) -> dict[float, float]:
        data = sorted(self.samples())
        out: dict[float, float] = {}
        for q in qs:
            if not data:
                out[q] = float("nan")
                continue
            pos = q * (len(data) - 1)
            lo = int(pos)
            hi = min(lo + 1, len(data) - 1)
            out[q] = (data[lo] + (data[hi] - data[lo]) * (pos - lo)) / 1e6
        return out


@dataclass(slots=True)
class NodeStats:
    service: LatencyStats = field(default_factory=LatencyStats)  # time inside process()
    queue_wait: LatencyStats = field(default_factory=LatencyStats)  # enqueue → taken
    control_latency: LatencyStats = field(default_factory=LatencyStats)  # control origin → handled here
    events_in: int = 0
    events_out: int = 0
    errors: int = 0
    restarts: int = 0
    budget_misses: int = 0
    mode_counts: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class PathStats:
    latency: LatencyStats = field(default_factory=LatencyStats)
    within: int = 0
    misses: int = 0

    @property
    def total(self) -> int:
        return self.within + self.misses

    @property
    def goodput(self) -> float:
        """Share of outputs inside budget (SLO attainment); NaN before any output."""
        return self.within / self.total if self.total else float("nan")


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "NaN"
    return repr(float(v))


def prometheus_text(graphs: Iterable[Graph]) -> str:
    """Prometheus text exposition (format 0.0.4) for one or more graphs."""
    lines: list[str] = []
    graphs = list(graphs)

    def family(name: str, kind: str, help_: str) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")

    def summary(name: str, labels: str, st: LatencyStats) -> None:
        qs = st.quantiles_ms()
        for q, v in qs.items():
            lines.append(f'{name}{{{labels},quantile="{q}"}} {_fmt(v / 1e3)}')
        lines.append(f"{name}_sum{{{labels}}} {_fmt(st.sum_ns / 1e9)}")
        lines.append(f"{name}_count{{{labels}}} {st.count}")

    family("liveloop_node_service_seconds", "summary", "Time a node spends processing one event.")
    for g in graphs:
        for n, rt in g.runtimes.items():
            summary("liveloop_node_service_seconds", f'graph="{_esc(g.name)}",node="{_esc(n)}"', rt.stats.service)
    family("liveloop_node_queue_wait_seconds", "summary", "Time an event waits in a node's input queue.")
    for g in graphs:
        for n, rt in g.runtimes.items():
            summary("liveloop_node_queue_wait_seconds", f'graph="{_esc(g.name)}",node="{_esc(n)}"', rt.stats.queue_wait)
    family("liveloop_node_control_latency_seconds", "summary", "Age of control events (interrupt, flush) when handled.")
    for g in graphs:
        for n, rt in g.runtimes.items():
            summary(
                "liveloop_node_control_latency_seconds",
                f'graph="{_esc(g.name)}",node="{_esc(n)}"',
                rt.stats.control_latency,
            )
    for metric, attr, help_ in (
        ("liveloop_node_events_in_total", "events_in", "Data events processed."),
        ("liveloop_node_events_out_total", "events_out", "Data events emitted."),
        ("liveloop_node_errors_total", "errors", "Exceptions raised by the node."),
        ("liveloop_node_restarts_total", "restarts", "Restarts after an error."),
        ("liveloop_node_budget_misses_total", "budget_misses", "Events whose service time exceeded the node budget."),
    ):
        family(metric, "counter", help_)
        for g in graphs:
            for n, rt in g.runtimes.items():
                lines.append(f'{metric}{{graph="{_esc(g.name)}",node="{_esc(n)}"}} {getattr(rt.stats, attr)}')
    family("liveloop_node_mode_total", "counter", "Events processed in each knob mode.")
    for g in graphs:
        for n, rt in g.runtimes.items():
            for mode, c in rt.stats.mode_counts.items():
                lines.append(
                    f'liveloop_node_mode_total{{graph="{_esc(g.name)}",node="{_esc(n)}",mode="{_esc(mode)}"}} {c}'
                )
    for metric, kind, attr, help_ in (
        ("liveloop_edge_queue_depth", "gauge", "depth", "Items queued on a node input now."),
        ("liveloop_edge_queue_peak", "gauge", "peak", "Largest depth seen on a node input."),
        (
            "liveloop_edge_drops_total",
            "counter",
            "drops",
            "Items dropped by the input's overflow policy or an interrupt.",
        ),
        ("liveloop_edge_puts_total", "counter", "puts", "Items put on a node input."),
    ):
        family(metric, kind, help_)
        for g in graphs:
            for n, rt in g.runtimes.items():
                for ch in rt.inbox.channels:
                    port = ch.name.split(".", 1)[1]
                    lab = f'graph="{_esc(g.name)}",node="{_esc(n)}",port="{_esc(port)}",policy="{ch.policy.name}"'
                    lines.append(f"{metric}{{{lab}}} {getattr(ch.stats, attr)}")
    family("liveloop_path_latency_seconds", "summary", "Age of events at the end of a budgeted path.")
    for g in graphs:
        for b in g.budgets:
            summary("liveloop_path_latency_seconds", f'graph="{_esc(g.name)}",path="{_esc(b.name)}"', b.stats.latency)
    family("liveloop_path_budget_seconds", "gauge", "The latency budget of a path.")
    for g in graphs:
        for b in g.budgets:
            lines.append(
                f'liveloop_path_budget_seconds{{graph="{_esc(g.name)}",path="{_esc(b.name)}"}} {_fmt(b.ms / 1e3)}'
            )
    family("liveloop_path_misses_total", "counter", "Outputs later than their path budget.")
    for g in graphs:
        for b in g.budgets:
            lines.append(f'liveloop_path_misses_total{{graph="{_esc(g.name)}",path="{_esc(b.name)}"}} {b.stats.misses}')
    family("liveloop_path_goodput_ratio", "gauge", "Share of outputs inside their path budget.")
    for g in graphs:
        for b in g.budgets:
            lines.append(
                f'liveloop_path_goodput_ratio{{graph="{_esc(g.name)}",path="{_esc(b.name)}"}} {_fmt(b.stats.goodput)}'
            )
    return "\n".join(lines) + "\n"
