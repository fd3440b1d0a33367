"""Latency budgets as the dashboard shows them (sans-I/O).

`BudgetStats` keeps the last `window` latencies of one path and reports
p50/p95, the count and the misses (latency over the budget). `BudgetBoard`
holds one per budget and turns them into the JSON the browser's dashboard and
the `/ws` API send (`{"type": "budgets", ...}`), and into Prometheus lines.
These are the session's own end-to-end measurements (taken where the audio
leaves the server); the graph runtime's per-node metrics sit beside them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    ms: float
    doc: str = ""

    def __post_init__(self) -> None:
        if self.ms <= 0:
            raise ValueError(f"budget {self.name!r} must be > 0 ms, got {self.ms}")


DEFAULT_BUDGETS = (
    Budget("mic_to_text", 300.0, "end of a word → its first partial transcript"),
    Budget("voice_to_voice", 300.0, "end of user speech → first agent audio leaves the server"),
    Budget("tts_first_audio", 100.0, "first text token → first audio sample"),
    Budget("barge_in", 50.0, "user starts speaking → agent audio stops"),
    Budget("frame_to_tracks", 33.0, "camera frame captured → tracks out"),
)


class BudgetStats:
    __slots__ = ("_window", "budget", "count", "misses")

    def __init__(self, budget: Budget, window: int = 200) -> None:
        self.budget = budget
        self._window: deque[float] = deque(maxlen=window)
        self.count = 0
        self.misses = 0

    def feed(self, latency_ms: float) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency must be >= 0 ms, got {latency_ms} for {self.budget.name!r}")
        self._window.append(latency_ms)
        self.count += 1
        if latency_ms > self.budget.ms:
            self.misses += 1

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(np.fromiter(self._window, float), q)) if self._window else None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.budget.name,
            "budget_ms": self.budget.ms,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "last_ms": self._window[-1] if self._window else None,
            "count": self.count,
            "misses": self.misses,
            "doc": self.budget.doc,
        }


class BudgetBoard:
    def __init__(self, budgets: tuple[Budget, ...] = DEFAULT_BUDGETS) -> None:
        self.stats = {b.name: BudgetStats(b) for b in budgets}

    def feed(self, name: str, latency_ms: float) -> None:
        try:
            self.stats[name].feed(latency_ms)
        except KeyError:
            raise KeyError(f"unknown budget {name!r}; known: {sorted(self.stats)}") from None

    def to_json(self) -> dict[str, object]:
        return {"type": "budgets", "budgets": [s.to_json() for s in self.stats.values()]}

    def prometheus_lines(self, prefix: str = "liveloop_session") -> list[str]:
        lines = [
            f"# HELP {prefix}_latency_ms end-to-end latency per budget, measured by the sessions",
            f"# TYPE {prefix}_latency_ms gauge",
        ]
        for s in self.stats.values():
            for q in (50, 95):
                v = s.percentile(q)
                if v is not None:
                    lines.append(f'{prefix}_latency_ms{{budget="{s.budget.name}",quantile="0.{q}"}} {v:.3f}')
        lines.append(f"# TYPE {prefix}_budget_misses_total counter")
        for s in self.stats.values():
            lines.append(f'{prefix}_budget_misses_total{{budget="{s.budget.name}"}} {s.misses}')
        lines.append(f"# TYPE {prefix}_budget_events_total counter")
        for s in self.stats.values():
            lines.append(f'{prefix}_budget_events_total{{budget="{s.budget.name}"}} {s.count}')
        return lines
