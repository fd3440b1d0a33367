"""Mapping a robot's clock onto the graph clock from one-way timestamps (pure, no I/O).

Each state message carries `t_ns`, the robot's monotonic time when it was
measured; the agent notes `local_ns`, its graph-clock time on receipt. Then::

    sample = local_ns - remote_ns = offset + delay        with delay >= 0 (network + queueing)

so the smallest sample in a recent window is the best estimate of
`offset + min_delay`: the minimum filter of NTP-style one-way estimators. A
sliding window (a monotonic deque, O(1) amortised) lets the estimate follow
slow drift. A clock jump (the robot process restarted on another machine, a
reconnect to a different robot) shows as samples persistently far *above* the
estimate; after `jump_after` of them in a row the window restarts from them.
A sample far *below* is simply a new minimum and is taken at once.

Without a shared clock the constant one-way delay cannot be observed: robot
times mapped to the graph clock are late by the minimum delay (loopback: tens
of µs), which only shifts every age by that constant.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OffsetConfig:
    window: int = 256  # samples kept (≈ 5 s of state at 50 Hz)
    jump_ns: int = 50_000_000  # a sample this far above the estimate is an outlier …
    jump_after: int = 10  # … and this many outliers in a row mean the remote clock jumped

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.jump_ns <= 0:
            raise ValueError(f"jump_ns must be > 0, got {self.jump_ns}")
        if self.jump_after < 1:
            raise ValueError(f"jump_after must be >= 1, got {self.jump_after}")


class NoEstimate(LookupError):
    """No sample yet: the offset is unknown."""


class OffsetEstimator:
    """Sliding-window minimum of `local_ns - remote_ns`; see the module docstring."""

    def __init__(self, config: OffsetConfig | None = None) -> None:
        self.config = config or OffsetConfig()
        self._n = 0  # samples seen
        self._mins: deque[tuple[int, int]] = deque()  # (index, sample), samples increasing
        self._outliers = 0
        self.jumps = 0

    def feed(self, remote_ns: int, local_ns: int) -> int:
        """Add one (remote send time, local receive time) pair; returns the current offset."""
        sample = local_ns - remote_ns
        if self._mins:
            est = self._mins[0][1]
            if sample - est > self.config.jump_ns:
                self._outliers += 1
                if self._outliers >= self.config.jump_after:
                    self._mins.clear()
                    self._outliers = 0
                    self.jumps += 1
                else:
                    # still recorded: if the jump is real the window restarts from here
                    self._push(sample)
                    return self._mins[0][1]
            else:
                self._outliers = 0
        self._push(sample)
        return self._mins[0][1]

    def _push(self, sample: int) -> None:
        i = self._n
        self._n += 1
        mins = self._mins
        while mins and mins[-1][1] >= sample:
            mins.pop()
        mins.append((i, sample))
        while mins[0][0] <= i - self.config.window:
            mins.popleft()

    @property
    def ready(self) -> bool:
        return bool(self._mins)

    @property
    def offset_ns(self) -> int:
        """local = remote + offset_ns."""
        if not self._mins:
            raise NoEstimate("no robot timestamp received yet: the clock offset is unknown")
        return self._mins[0][1]

    def to_local(self, remote_ns: int) -> int:
        return remote_ns + self.offset_ns

    def to_remote(self, local_ns: int) -> int:
        return local_ns - self.offset_ns

    def reset(self) -> None:
        self._mins.clear()
        self._outliers = 0
