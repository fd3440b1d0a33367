"""`/metrics`: Prometheus text from three places, concatenated.

1. the graph runtime's own metrics (`graph.metrics.prometheus_text()`), when an app graph runs;
2. the sessions' end-to-end budgets (`BudgetBoard`), measured where audio leaves the server;
3. the process (CPU, memory, GC) from prometheus_client's default registry.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, generate_latest

from liveloop.apps.stats import BudgetBoard


def render_metrics(board: BudgetBoard, sessions: int, graph_text: Callable[[], str] | None = None) -> str:
    parts: list[str] = []
    if graph_text is not None:
        text = graph_text().rstrip("\n")
        if text:
            parts.append(text)
    parts.append("# HELP liveloop_sessions connected client sessions\n# TYPE liveloop_sessions gauge")
    parts.append(f"liveloop_sessions {sessions}")
    parts.extend(board.prometheus_lines())
    parts.append(generate_latest(REGISTRY).decode().rstrip("\n"))
    return "\n".join(parts) + "\n"
