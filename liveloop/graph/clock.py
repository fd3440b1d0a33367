"""One injectable monotonic clock.

Every timestamp in liveloop is an integer count of nanoseconds on one monotonic
clock (`Clock.now_ns`). Pacing uses `Clock.sleep_until`, never wall time.

`MonotonicClock` is the real one. `VirtualClock` is for tests: time stands still
while code runs and jumps straight to the next sleeper's deadline once every
task is waiting (the "autojump" of trio's MockClock), so timing tests are exact
and instant. Compute cost can be simulated with `await clock.sleep(cost_s)`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class Clock(Protocol):
    """What the runtime needs of a clock."""

    def now_ns(self) -> int: ...

    async def sleep_until(self, deadline_ns: int) -> None: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The machine's monotonic clock (CLOCK_MONOTONIC, ns)."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.monotonic_ns()

    async def sleep_until(self, deadline_ns: int) -> None:
        delay_ns = deadline_ns - time.monotonic_ns()
        if delay_ns > 0:
            await asyncio.sleep(delay_ns / NS_PER_S)
        else:
            await asyncio.sleep(0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """A clock for tests: time advances only by `advance` or by autojump.

    With ``autojump=True`` (the default) a helper task, started lazily by the
    first sleeper, waits until the event loop has nothing else ready to run and
    then jumps time to the earliest deadline. Code under test must not wait on
    real I/O while using it (nothing would wake it).
    """

    def __init__(self, start_ns: int = 0, *, autojump: bool = True) -> None:
        self._now_ns = start_ns
        self._autojump = autojump
        self._timers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._jumper: asyncio.Task[None] | None = None

    def now_ns(self) -> int:
        return self._now_ns

    def advance(self, seconds: float = 0.0, *, ns: int = 0) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        step_ns = ns + round(seconds * NS_PER_S)
        if step_ns < 0:
            raise ValueError(f"time only moves forward, got a step of {step_ns} ns")
        self._now_ns += step_ns
        self._fire_due()

    def pending_timers(self) -> int:
        return sum(1 for t in self._timers if not t[2].done())

    def jump_to_next(self) -> bool:
        """Jump to the earliest pending deadline and wake its sleepers; False if none is pending."""
        self._timers = [t for t in self._timers if not t[2].done()]
        heapq.heapify(self._timers)
        if not self._timers:
            return False
        self._now_ns = max(self._now_ns, self._timers[0][0])
        self._fire_due()
        return True

    def _fire_due(self) -> None:
        while self._timers and self._timers[0][0] <= self._now_ns:
            _, _, fut = heapq.heappop(self._timers)
            if not fut.done():
                fut.set_result(None)

    async def sleep_until(self, deadline_ns: int) -> None:
        if deadline_ns <= self._now_ns:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._timers, (deadline_ns, next(self._counter), fut))
        if self._autojump and (self._jumper is None or self._jumper.done()):
            # Owned by the clock: it ends by itself once no sleeper is left.
            self._jumper = loop.create_task(self._jump_when_idle(), name="VirtualClock.autojump")
        await fut

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now_ns + round(seconds * NS_PER_S))

    async def _jump_when_idle(self) -> None:
        loop = asyncio.get_running_loop()
        idle_rounds = 0
        while True:
            await asyncio.sleep(0)
            self._timers = [t for t in self._timers if not t[2].done()]
            heapq.heapify(self._timers)
            if not self._timers:
                return
            # `_ready` holds callbacks ready to run; when only this task is
            # runnable for a few rounds in a row, everything else is waiting.
            ready = len(getattr(loop, "_ready", ()))
            idle_rounds = idle_rounds + 1 if ready == 0 else 0
            if idle_rounds >= 3:
                idle_rounds = 0
                self._now_ns = max(self._now_ns, self._timers[0][0])
                self._fire_due()
