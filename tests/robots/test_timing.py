"""The rate pacer's deadline grid and statistics; the loop on a virtual clock."""

from __future__ import annotations

import pytest

from liveloop.graph.clock import VirtualClock
from liveloop.robots.timing import PacerConfig, RatePacer, sleep_until

MS = 1_000_000


def test_deadlines_are_absolute_and_jitter_is_lateness() -> None:
    p = RatePacer(PacerConfig(rate_hz=50))
    p.start(0)
    assert p.next_deadline_ns == 20 * MS
    lateness = [0, 1, 3, 0, 2]
    for k, late in enumerate(lateness):
        d = p.next_deadline_ns
        assert d == (k + 1) * 20 * MS  # never drifts with the lateness
        tick = p.tick_started(d + late * MS)
        assert tick.lateness_ns == late * MS
        assert not p.tick_finished(d + late * MS + 5 * MS)
    st = p.stats()
    assert st["ticks"] == 5
    assert st["jitter_ms_p50"] == 1.0
    assert st["jitter_ms_max"] == 3.0
    assert st["misses"] == 0


def test_overrun_counts_a_miss_and_skips_passed_deadlines() -> None:
    p = RatePacer(PacerConfig(rate_hz=100))  # 10 ms
    p.start(0)
    p.tick_started(10 * MS)
    assert p.tick_finished(45 * MS)  # deadlines 20, 30, 40 ms have passed
    assert p.misses == 1
    assert p.skipped == 3
    assert p.next_deadline_ns == 50 * MS  # no burst of catch-up ticks


def test_misuse_is_named() -> None:
    p = RatePacer()
    with pytest.raises(RuntimeError, match="start"):
        _ = p.next_deadline_ns
    p.start(0)
    with pytest.raises(RuntimeError, match="tick_finished"):
        p.tick_finished(1)


def test_config_validated() -> None:
    with pytest.raises(ValueError, match="rate_hz must be in"):
        PacerConfig(rate_hz=0)
    with pytest.raises(ValueError, match="spin_ms must be in"):
        PacerConfig(spin_ms=-1)


async def test_fixed_rate_loop_on_virtual_clock_is_exact() -> None:
    clock = VirtualClock()
    p = RatePacer(PacerConfig(rate_hz=50, spin_ms=1.0))
    p.start(clock.now_ns())
    starts = []
    for _ in range(10):
        await sleep_until(clock, p.next_deadline_ns, spin_ns=MS)  # no spin on a virtual clock
        starts.append(clock.now_ns())
        p.tick_started(clock.now_ns())
        await clock.sleep(0.004)  # 4 ms of work
        p.tick_finished(clock.now_ns())
    assert starts == [(k + 1) * 20 * MS for k in range(10)]
    assert p.stats()["jitter_ms_p99"] == 0.0
    assert p.misses == 0
