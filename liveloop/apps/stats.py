"""Latency budgets as the dashboard and /metrics show them, read from the session graphs' own budgets.

Each session graph declares the DESIGN.md budgets as path budgets
(`liveloop.apps.graph.PATHS`); the runtime measures them. This module only
reads them:

- `budgets_json(graph)` → ``{"type": "budgets", "budgets": [...]}``, one session's
  dashboard (what the page draws, sent every second and in ``hello``);
- `BudgetBoard` → the same over every session of the process, live ones and
  those that ended (`retire` keeps their samples, bounded), as JSON and as
  Prometheus lines (``liveloop_session_*``) beside the graphs' own
  ``liveloop_path_*`` series.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NS_PER_MS = 1_000_000
RETIRED_SAMPLES = 4096  # per budget, from sessions that ended


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    ms: float
    doc: str = ""

    def __post_init__(self) -> None:
        if self.ms <= 0:
            raise ValueError(f"budget {self.name!r} must be > 0 ms, got {self.ms}")


DEFAULT_BUDGETS = (  # the dashboard's bars, in DESIGN.md's order
    Budget("mic_to_text", 300.0, "end of heard audio → its transcript"),
    Budget("voice_to_voice", 300.0, "end of user speech → first agent audio leaves the server"),
    Budget("tts_first_audio", 100.0, "first text token → first audio sample"),
    Budget("barge_in", 50.0, "user starts speaking → agent audio stops"),
    Budget("frame_to_tracks", 33.0, "camera frame captured → tracks out"),
)


def _samples_ms(path_budget: Any) -> list[float]:
    return [v / NS_PER_MS for v in path_budget.stats.latency.samples()]


def _last_ms(path_budget: Any) -> float | None:
    lat = path_budget.stats.latency
    samples = lat.samples()
    # the ring is in arrival order until it wraps (thousands of samples): then the newest is not known
    return samples[-1] / NS_PER_MS if samples and len(samples) == lat.count else None


def _entry(b: Budget, samples_ms: Sequence[float], count: int, misses: int, last: float | None) -> dict[str, Any]:
    arr = np.asarray(samples_ms, float)
    return {
        "name": b.name,
        "budget_ms": b.ms,
        "p50_ms": float(np.percentile(arr, 50)) if arr.size else None,
        "p95_ms": float(np.percentile(arr, 95)) if arr.size else None,
        "last_ms": last,
        "count": count,
        "misses": misses,
        "doc": b.doc,
    }


def budgets_json(graph: Any, budgets: Sequence[Budget] = DEFAULT_BUDGETS) -> dict[str, Any]:
    """One session's dashboard from its graph's path budgets (a budget the graph lacks shows empty)."""
    by_name = {pb.name: pb for pb in graph.budgets}
    out = []
    for b in budgets:
        pb = by_name.get(b.name)
        if pb is None:
            out.append(_entry(b, [], 0, 0, None))
        else:
            st = pb.stats
            out.append(_entry(Budget(b.name, pb.ms, b.doc), _samples_ms(pb), st.total, st.misses, _last_ms(pb)))
    return {"type": "budgets", "budgets": out}


class BudgetBoard:
    """The process's budgets over every session graph (live and ended)."""

    def __init__(self, budgets: Sequence[Budget] = DEFAULT_BUDGETS) -> None:
        self.budgets = tuple(budgets)
        self._live: list[Any] = []
        self._retired = {b.name: deque[float](maxlen=RETIRED_SAMPLES) for b in self.budgets}
        self._counts = dict.fromkeys(self._retired, 0)
        self._misses = dict.fromkeys(self._retired, 0)

    def attach(self, graph: Any) -> None:
        if graph not in self._live:
            self._live.append(graph)

    def retire(self, graph: Any) -> None:
        """A session ended: keep its samples and counts, drop the graph."""
        if graph not in self._live:
            return
        self._live.remove(graph)
        for pb in graph.budgets:
            if pb.name in self._retired:
                self._retired[pb.name].extend(_samples_ms(pb))
                self._counts[pb.name] += pb.stats.total
                self._misses[pb.name] += pb.stats.misses

    @property
    def graphs(self) -> list[Any]:
        return list(self._live)

    def to_json(self) -> dict[str, Any]:
        out = []
        for b in self.budgets:
            samples = list(self._retired[b.name])
            count, misses = self._counts[b.name], self._misses[b.name]
            for g in self._live:
                for pb in g.budgets:
                    if pb.name == b.name:
                        samples += _samples_ms(pb)
                        count += pb.stats.total
                        misses += pb.stats.misses
            out.append(_entry(b, samples, count, misses, None))
        return {"type": "budgets", "budgets": out}

    def table(self) -> str:
        """The end-of-run table: every budget over every session of the process."""
        rows = [("budget", "ms", "n", "p50", "p95", "misses")]
        for e in self.to_json()["budgets"]:
            q = [("-" if e[k] is None else f"{e[k]:.1f}") for k in ("p50_ms", "p95_ms")]
            rows.append((e["name"], f"{e['budget_ms']:g}", str(e["count"]), *q, str(e["misses"])))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in rows
        )

    def prometheus_lines(self, prefix: str = "liveloop_session") -> list[str]:
        entries = self.to_json()["budgets"]
        lines = [
            f"# HELP {prefix}_latency_ms end-to-end latency per budget over every session (from the session graphs)",
            f"# TYPE {prefix}_latency_ms gauge",
        ]
        for e in entries:
            for q in (50, 95):
                v = e[f"p{q}_ms"]
                if v is not None:
                    lines.append(f'{prefix}_latency_ms{{budget="{e["name"]}",quantile="0.{q}"}} {v:.3f}')
        lines.append(f"# TYPE {prefix}_budget_misses_total counter")
        lines += [f'{prefix}_budget_misses_total{{budget="{e["name"]}"}} {e["misses"]}' for e in entries]
        lines.append(f"# TYPE {prefix}_budget_events_total counter")
        lines += [f'{prefix}_budget_events_total{{budget="{e["name"]}"}} {e["count"]}' for e in entries]
        return lines


def graphs_text(graphs: Iterable[Any]) -> str:
    """Prometheus text for the running session graphs ('' when there are none)."""
    from liveloop.graph import prometheus_text

    graphs = list(graphs)
    return prometheus_text(graphs) if graphs else ""
