"""Dashboard budgets: p50/p95, misses, JSON and Prometheus lines."""

from __future__ import annotations

import pytest

from liveloop.apps.stats import Budget, BudgetBoard


def test_board_percentiles_misses_and_exports():
    board = BudgetBoard((Budget("v2v", 300.0),))
    for ms in [100, 200, 250, 310, 400]:
        board.feed("v2v", ms)
    (s,) = board.to_json()["budgets"]
    assert s["p50_ms"] == 250 and s["count"] == 5 and s["misses"] == 2 and s["last_ms"] == 400
    assert s["p95_ms"] == pytest.approx(382.0)
    text = "\n".join(board.prometheus_lines())
    assert 'liveloop_session_latency_ms{budget="v2v",quantile="0.50"} 250.000' in text
    assert 'liveloop_session_budget_misses_total{budget="v2v"} 2' in text


def test_bad_input_is_named():
    board = BudgetBoard((Budget("v2v", 300.0),))
    with pytest.raises(KeyError, match="unknown budget 'nope'"):
        board.feed("nope", 1)
    with pytest.raises(ValueError, match="latency must be >= 0"):
        board.feed("v2v", -1)
    with pytest.raises(ValueError, match="must be > 0 ms"):
        Budget("x", 0)
