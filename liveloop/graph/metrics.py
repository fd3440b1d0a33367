"""Latency statistics and the Prometheus text export.

`LatencyStats` keeps the last `capacity` samples in a ring (so percentiles
follow the recent past and memory stays bounded) plus lifetime count, sum and
max. Percentiles are computed on demand, never on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveloop.graph.graph import Graph

DEFAULT_CAPACITY = 4096
QUANTILES = (0.5, 0.95, 0.99)


class LatencyStats:
    """A bounded ring of int nanosecond samples with lifetime count and sum.

    The hot path appends to a small list (`add`, or the bound `append` the
    runtime keeps); samples are folded into the ring when that list reaches
    `FOLD_AT` or when anything reads the statistics. Memory stays bounded.
    """

    __slots__ = ("_cap", "_count", "_i", "_pending", "_ring", "_sum", "append")

    FOLD_AT = 1024

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._ring: list[int] = [0] * capacity
        self._cap = capacity
        self._i = 0
        self._count = 0
        self._sum = 0
        self._pending: list[int] = []
        self.append = self._pending.append  # the hot path: a C method, no Python frame

    def add(self, ns: int) -> None:
        self._pending.append(ns)
        if len(self._pending) >= self.FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Move pending samples into the ring and the lifetime totals."""
        pending = self._pending
        if not pending:
            return
        self._count += len(pending)
        self._sum += sum(pending)
        ring, cap, i = self._ring, self._cap, self._i
        new = pending[-cap:]
        head = min(len(new), cap - i)  # two slice copies at most: C speed, no per-sample Python loop
        ring[i : i + head] = new[:head]
        rest = len(new) - head
        if rest:
            ring[:rest] = new[head:]
        self._i = (i + len(new)) % cap
        pending.clear()

    @property
    def count(self) -> int:
        return self._count + len(self._pending)

    @property
    def sum_ns(self) -> int:
        self.fold()
        return self._sum

    def samples(self) -> list[int]:
        """The retained samples (the newest `capacity`), in no particular order."""
        self.fold()
        return self._ring[: min(self._count, self._cap)]

    @property
    def max_ns(self) -> int:
        """The largest retained sample (0 when empty)."""
        return max(self.samples(), default=0)

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
    events_out: int = 0
    errors: int = 0
    restarts: int = 0
    budget_misses: int = 0
    mode_counts: dict[str, int] = field(default_factory=dict)

    @property
    def events_in(self) -> int:
        """Data events processed (one service-time sample each)."""
        return self.service.count


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
                    value = ch.depth if attr == "depth" else getattr(ch.stats, attr)
                    lines.append(f"{metric}{{{lab}}} {value}")
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
