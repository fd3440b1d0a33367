"""Map remote media timestamps (RTP) onto the graph's monotonic clock.

A remote sender stamps media with its own clock (RTP timestamps at the codec's
rate, starting at a random value, wrapping at 2**32). We want the local
monotonic time at which the sample was *captured*. With no sender report to
rely on, a pure offset model is used::

    local_capture_ns = remote_ns + offset_ns
    offset_ns        = min over a window of (arrival_ns - remote_ns)

The minimum picks the packet that met the least network and jitter-buffer
delay, so the estimate is the capture time plus the smallest transit time seen
(a constant, and the best one can do without the sender's wall clock). The
window slides (`window_s`) so that drift between the two clocks is followed.

`RtpUnwrapper` turns 32-bit RTP timestamps into a monotone 64-bit count.
Both classes are sans-I/O: feed numbers, get numbers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
RTP_WRAP = 1 << 32


class RtpUnwrapper:
    """32-bit RTP timestamps → monotone 64-bit ticks (handles wrap-around and small reorder)."""

    __slots__ = ("_cycles", "_last")

    def __init__(self) -> None:
        self._last: int | None = None
        self._cycles = 0

    def feed(self, ts: int) -> int:
        if not 0 <= ts < RTP_WRAP:
            raise ValueError(f"RTP timestamp must be in [0, 2**32), got {ts}")
        if self._last is not None:
            delta = ts - self._last
            if delta < -(RTP_WRAP // 2):  # forward across the wrap
                self._cycles += 1
            elif delta > RTP_WRAP // 2 and self._cycles > 0:  # a late packet from before the wrap
                return ts + (self._cycles - 1) * RTP_WRAP
        self._last = ts
        return ts + self._cycles * RTP_WRAP


@dataclass(frozen=True, slots=True)
class OffsetConfig:
    clock_rate_hz: int = 48_000
    window_s: float = 10.0

    def __post_init__(self) -> None:
        if self.clock_rate_hz <= 0:
            raise ValueError(f"clock_rate_hz must be > 0, got {self.clock_rate_hz}")
        if self.window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")


class OffsetEstimator:
    """Pure offset estimator: remote media time → local capture time (ns).

    ``feed(rtp_ts, arrival_ns) -> capture_ns``. A sliding-window minimum
    (monotone deque, O(1) amortised) of ``arrival_ns - remote_ns``.
    """

    __slots__ = ("_base", "_unwrap", "_window", "_window_ns", "config")

    def __init__(self, config: OffsetConfig | None = None) -> None:
        self.config = config or OffsetConfig()
        self._unwrap = RtpUnwrapper()
        self._window: deque[tuple[int, int]] = deque()  # (arrival_ns, offset_ns), offsets increasing
        self._window_ns = round(self.config.window_s * NS_PER_S)
        self._base: int | None = None  # first unwrapped tick, so remote_ns stays small

    def remote_ns(self, rtp_ts: int) -> int:
        ticks = self._unwrap.feed(rtp_ts)
        if self._base is None:
            self._base = ticks
        return (ticks - self._base) * NS_PER_S // self.config.clock_rate_hz

    def feed(self, rtp_ts: int, arrival_ns: int) -> int:
        remote = self.remote_ns(rtp_ts)
        offset = arrival_ns - remote
        win = self._window
        while win and win[-1][1] >= offset:
            win.pop()
        win.append((arrival_ns, offset))
        while win[0][0] < arrival_ns - self._window_ns and len(win) > 1:
            win.popleft()
        return remote + win[0][1]

    @property
    def offset_ns(self) -> int | None:
        return self._window[0][1] if self._window else None
