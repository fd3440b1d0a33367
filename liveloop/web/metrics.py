"""`/metrics`: Prometheus text from four places, concatenated.

1. the graph runtime's own metrics (`graph.metrics.prometheus_text()`), when an app graph runs;
2. the sessions' end-to-end budgets (`BudgetBoard`), measured where audio leaves the server;
3. admission: the worst live session's listening lag and the sessions refused, by reason;
4. the process (CPU, memory, GC) from prometheus_client's default registry.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, generate_latest

from liveloop.apps.stats import BudgetBoard
from liveloop.graph.clock import NS_PER_S
from liveloop.web.admission import Admission


def admission_lines(admission: Admission) -> list[str]:
    lines = [
        "# HELP liveloop_hearing_lag_seconds how far behind real time the worst live session listens",
        "# TYPE liveloop_hearing_lag_seconds gauge",
        f"liveloop_hearing_lag_seconds {admission.lag_ns / NS_PER_S:.6f}",
        "# HELP liveloop_sessions_refused_total sessions refused with 503 busy, by reason",
        "# TYPE liveloop_sessions_refused_total counter",
    ]
    lines += [f'liveloop_sessions_refused_total{{reason="{r.value}"}} {n}' for r, n in admission.refused.items()]
    return lines


def render_metrics(
    board: BudgetBoard,
    sessions: int,
    graph_text: Callable[[], str] | None = None,
    admission: Admission | None = None,
) -> str:
    parts: list[str] = []
    if graph_text is not None:
        text = graph_text().rstrip("\n")
        if text:
            parts.append(text)
    parts.append("# HELP liveloop_sessions connected client sessions\n# TYPE liveloop_sessions gauge")
    parts.append(f"liveloop_sessions {sessions}")
    parts.extend(board.prometheus_lines())
    if admission is not None:
        parts.extend(admission_lines(admission))
    parts.append(generate_latest(REGISTRY).decode().rstrip("\n"))
    return "\n".join(parts) + "\n"
