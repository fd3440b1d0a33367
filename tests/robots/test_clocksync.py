"""The offset estimator on synthetic one-way timestamps."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.robots.clocksync import NoEstimate, OffsetConfig, OffsetEstimator

MS = 1_000_000


def test_no_estimate_before_first_sample() -> None:
    est = OffsetEstimator()
    assert not est.ready
    with pytest.raises(NoEstimate, match="no robot timestamp"):
        est.to_local(0)


def test_min_filter_recovers_offset_plus_min_delay() -> None:
    rng = np.random.default_rng(0)
    est = OffsetEstimator(OffsetConfig(window=100))
    offset = 5_000_000_000  # robot clock 5 s behind the graph clock
    for i in range(300):
        remote = 1_000 * MS + i * 20 * MS
        delay = int(0.2 * MS + rng.exponential(2 * MS))  # ≥ 0.2 ms, long tail
        est.feed(remote, remote + offset + delay)
    assert offset + 0.2 * MS <= est.offset_ns <= offset + 0.4 * MS
    assert est.to_remote(est.to_local(123)) == 123


def test_window_follows_drift() -> None:
    est = OffsetEstimator(OffsetConfig(window=50))
    for i in range(400):  # the offset grows by 10 µs per sample
        est.feed(i * 20 * MS, i * 20 * MS + 1_000 * MS + i * 10_000)
    assert abs(est.offset_ns - (1_000 * MS + 399 * 10_000)) <= 50 * 10_000


def test_jump_after_consecutive_outliers_restarts_window() -> None:
    est = OffsetEstimator(OffsetConfig(window=256, jump_ns=50 * MS, jump_after=5))
    for i in range(50):
        est.feed(i * 20 * MS, i * 20 * MS + 10 * MS)
    assert est.offset_ns == 10 * MS
    est.feed(0, 3_000 * MS)  # one late sample: an outlier, not a jump
    assert est.offset_ns == 10 * MS
    est.feed(2_000 * MS, 2_010 * MS)  # back to normal resets the outlier count
    for i in range(5):  # the robot restarted: its clock is now 2 s behind
        est.feed(i * 20 * MS, i * 20 * MS + 2_000 * MS)
    assert est.jumps == 1
    assert est.offset_ns == 2_000 * MS


def test_sample_below_is_taken_at_once() -> None:
    est = OffsetEstimator()
    est.feed(0, 100 * MS)
    est.feed(20 * MS, 30 * MS)  # a faster path (or the remote clock jumped forward)
    assert est.offset_ns == 10 * MS


def test_config_validated() -> None:
    with pytest.raises(ValueError, match="window must be >= 1"):
        OffsetConfig(window=0)
    with pytest.raises(ValueError, match="jump_after must be >= 1"):
        OffsetConfig(jump_after=0)
