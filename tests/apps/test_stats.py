"""The dashboard's budgets, read from session graphs' path budgets."""

from __future__ import annotations

import pytest

from liveloop.apps.stats import Budget, BudgetBoard, budgets_json
from liveloop.graph import Graph, Inlet, Map

MS = 1_000_000


def graph_with(samples_ms: list[float]) -> Graph:
    g = Graph("s")
    g.add(Inlet("mic"))
    g.add(Map(lambda x: x, "out"))
    g.connect("mic.out", "out.inp")
    b = g.budget("mic.out", "out.out", ms=300, name="v2v")
    for ms in samples_ms:
        b.record(round(ms * MS))
    return g


def test_a_sessions_dashboard_is_its_graphs_budgets():
    g = graph_with([100, 200, 250, 310, 400])
    (s, other) = budgets_json(g, (Budget("v2v", 300.0, "doc"), Budget("absent", 50.0)))["budgets"]
    assert s["p50_ms"] == 250 and s["count"] == 5 and s["misses"] == 2 and s["last_ms"] == 400
    assert s["p95_ms"] == pytest.approx(382.0) and s["budget_ms"] == 300 and s["doc"] == "doc"
    assert other["count"] == 0 and other["p50_ms"] is None


def test_the_board_spans_live_and_ended_sessions():
    board = BudgetBoard((Budget("v2v", 300.0),))
    a, b = graph_with([100, 200]), graph_with([400])
    board.attach(a)
    board.attach(b)
    board.retire(a)
    a.budgets[0].record(999 * MS)  # after it ended: not counted
    (s,) = board.to_json()["budgets"]
    assert s["count"] == 3 and s["misses"] == 1 and s["p50_ms"] == 200
    text = "\n".join(board.prometheus_lines())
    assert 'liveloop_session_latency_ms{budget="v2v",quantile="0.50"} 200.000' in text
    assert 'liveloop_session_budget_misses_total{budget="v2v"} 1' in text
    assert board.graphs == [b]
    table = board.table().splitlines()
    assert table[0].split() == ["budget", "ms", "n", "p50", "p95", "misses"]
    assert table[1].split() == ["v2v", "300", "3", "200.0", "380.0", "1"]


def test_bad_budgets_are_named():
    with pytest.raises(ValueError, match="must be > 0 ms"):
        Budget("x", 0)
