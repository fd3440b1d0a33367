"""Fixed-rate loop timing: absolute deadlines on the monotonic clock, jitter and misses.

`RatePacer` is the pure part: it owns the deadline grid ``t0 + k·period`` (absolute,
so errors never accumulate), is told when each tick started and finished, and
counts

    jitter      how late a tick started after its deadline (a loop never starts early)
    misses      ticks whose work finished after the next deadline; the grid then skips the
                deadlines already passed (no burst of catch-up ticks) and counts them as `skipped`

`sleep_until` is the I/O part: an asyncio sleep to just before the deadline (asyncio
timers resolve to ≈ 1 ms here) and, on the real monotonic clock, a short spin for the
last `spin_ns`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from liveloop.graph.clock import NS_PER_MS, NS_PER_S, Clock, MonotonicClock


@dataclass(frozen=True, slots=True)
class PacerConfig:
    rate_hz: float = 50.0
    spin_ms: float = 1.0  # busy-wait this long before each deadline (real clock only)
    history: int = 60_000  # jitter samples kept for percentiles (20 min at 50 Hz)

    def __post_init__(self) -> None:
        if not 1.0 <= self.rate_hz <= 2000.0:
            raise ValueError(f"rate_hz must be in [1, 2000], got {self.rate_hz}")
        if not 0.0 <= self.spin_ms <= 5.0:
            raise ValueError(f"spin_ms must be in [0, 5], got {self.spin_ms}")
        if self.history < 16:
            raise ValueError(f"history must be >= 16, got {self.history}")

    @property
    def period_ns(self) -> int:
        return round(NS_PER_S / self.rate_hz)


@dataclass(frozen=True, slots=True)
class Tick:
    index: int  # number of the grid slot
    deadline_ns: int
    started_ns: int

    @property
    def lateness_ns(self) -> int:
        return self.started_ns - self.deadline_ns


class RatePacer:
    """The deadline grid of one fixed-rate loop and its timing statistics."""

    def __init__(self, config: PacerConfig | None = None) -> None:
        self.config = config or PacerConfig()
        self.period_ns = self.config.period_ns
        self._t0: int | None = None
        self._k = 0
        self._late = np.zeros(self.config.history, dtype=np.int64)
        self._n = 0  # ticks started
        self.misses = 0
        self.skipped = 0
        self._current: Tick | None = None

    def start(self, now_ns: int) -> None:
        self._t0 = now_ns + self.period_ns
        self._k = 0

    @property
    def next_deadline_ns(self) -> int:
        if self._t0 is None:
            raise RuntimeError("RatePacer.start(now_ns) must be called first")
        return self._t0 + self._k * self.period_ns

    def tick_started(self, now_ns: int) -> Tick:
        deadline = self.next_deadline_ns
        tick = Tick(self._k, deadline, now_ns)
        self._late[self._n % self.config.history] = max(0, now_ns - deadline)
        self._n += 1
        self._current = tick
        return tick

    def tick_finished(self, now_ns: int) -> bool:
        """Record the end of the current tick; returns True if it missed the next deadline."""
        if self._current is None:
            raise RuntimeError("tick_finished() without tick_started()")
        self._current = None
        self._k += 1
        nxt = self.next_deadline_ns
        if now_ns <= nxt:
            return False
        self.misses += 1
        behind = (now_ns - nxt) // self.period_ns + 1  # deadlines already passed
        self.skipped += behind
        self._k += behind
        return True

    @property
    def ticks(self) -> int:
        return self._n

    def lateness_ms(self) -> np.ndarray:
        n = min(self._n, self.config.history)
        return self._late[:n] / NS_PER_MS

    def stats(self) -> dict[str, float]:
        late = self.lateness_ms()
        p50, p99 = np.percentile(late, [50, 99]).tolist() if late.size else [0.0, 0.0]
        return {
            "rate_hz": self.config.rate_hz,
            "ticks": float(self._n),
            "jitter_ms_p50": round(p50, 4),
            "jitter_ms_p99": round(p99, 4),
            "jitter_ms_max": round(float(late.max()) if late.size else 0.0, 4),
            "misses": float(self.misses),
            "skipped": float(self.skipped),
        }


async def sleep_until(clock: Clock, deadline_ns: int, spin_ns: int = 0) -> None:
    """Sleep to an absolute deadline; spin for the last `spin_ns` on the real clock."""
    if spin_ns <= 0 or not isinstance(clock, MonotonicClock):
        await clock.sleep_until(deadline_ns)
        return
    await clock.sleep_until(deadline_ns - spin_ns)
    now = time.monotonic_ns
    while now() < deadline_ns:
        pass
