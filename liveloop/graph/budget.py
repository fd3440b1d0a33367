"""Latency budgets, goodput, and the online cost model behind knob selection.

A `PathBudget` holds a path (source node.port → sink node.port) to a number of
milliseconds: every event that reaches the sink and originated at the source
node is measured (sink time − origin) and counted as within budget or a miss;
goodput is the share within (DistServe's SLO attainment). A `NodeBudget` does
the same for one node's service time.

Knobs (ApproxDet's latency-SLA scheduler): `CostModel` learns each mode's
service time online from the node's own measurements on this machine (HELP's
per-device calibration, done continuously), and `pick_mode` takes the best
quality mode whose predicted cost fits the time left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from liveloop.graph.clock import NS_PER_MS
from liveloop.graph.event import EventKind
from liveloop.graph.metrics import PathStats
from liveloop.graph.node import Mode


@dataclass(slots=True)
class PathBudget:
    name: str
    src_node: str
    src_port: str
    dst_node: str
    dst_port: str
    ms: float
    kind: EventKind = EventKind.DATA  # DATA, or a control kind (e.g. INTERRUPT for barge-in)
    stats: PathStats = field(default_factory=PathStats)
    ns: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not self.ms > 0:
            raise ValueError(f"budget {self.name!r}: ms must be > 0, got {self.ms}")
        self.ns = int(self.ms * NS_PER_MS)

    @property
    def path(self) -> str:
        return f"{self.src_node}.{self.src_port} -> {self.dst_node}.{self.dst_port}"

    def record(self, latency_ns: int) -> None:
        st = self.stats
        st.latency.add(latency_ns)
        if latency_ns <= self.ns:
            st.within += 1
        else:
            st.misses += 1


class CostModel:
    """Predicted service time per mode: an EWMA of the mean plus k mean absolute deviations.

    Before `warmup` samples of a mode, its `cost_hint_ms` is the prediction.
    """

    __slots__ = ("_alpha", "_dev", "_k", "_mean", "_n", "_warmup")

    def __init__(self, alpha: float = 0.1, k: float = 2.0, warmup: int = 3) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self._alpha = alpha
        self._k = k
        self._warmup = warmup
        self._mean: dict[str, float] = {}
        self._dev: dict[str, float] = {}
        self._n: dict[str, int] = {}

    def observe(self, mode: str, ns: int) -> None:
        n = self._n.get(mode, 0)
        if n == 0:
            self._mean[mode] = float(ns)
            self._dev[mode] = 0.0
        else:
            m = self._mean[mode]
            a = self._alpha if n >= self._warmup else 1.0 / (n + 1)
            self._mean[mode] = m + a * (ns - m)
            self._dev[mode] += a * (abs(ns - m) - self._dev[mode])
        self._n[mode] = n + 1

    def samples(self, mode: str) -> int:
        return self._n.get(mode, 0)

    def mean_ns(self, mode: Mode) -> float:
        if self._n.get(mode.name, 0) < self._warmup:
            return mode.cost_hint_ms * NS_PER_MS
        return self._mean[mode.name]

    def predict_ns(self, mode: Mode) -> float:
        if self._n.get(mode.name, 0) < self._warmup:
            return mode.cost_hint_ms * NS_PER_MS
        return self._mean[mode.name] + self._k * self._dev[mode.name]


def pick_mode(modes: Sequence[Mode], time_left_ns: float | None, cost: CostModel) -> Mode:
    """The best-quality mode predicted to fit `time_left_ns`; the cheapest when none fits.

    With no budget in force (`None`), the best-quality mode.
    """
    if not modes:
        raise ValueError("pick_mode needs at least one mode")
    by_quality = sorted(modes, key=lambda m: -m.quality)
    if time_left_ns is None:
        return by_quality[0]
    for m in by_quality:
        if cost.predict_ns(m) <= time_left_ns:
            return m
    return min(modes, key=cost.predict_ns)
