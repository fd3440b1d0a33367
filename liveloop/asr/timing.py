"""Dynamic time warping for word timestamps (whisper's `dtw_cpu`, compiled once per machine).

whisper/timing.py compiles its DTW with numba on first use in every process
(seconds of stall on the first word of a stream). The same algorithm here is
compiled with ``cache=True``, so the machine code is reused across processes;
`warm_up()` compiles it ahead of the first stream.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _backtrace(trace: np.ndarray) -> np.ndarray:
    i = trace.shape[0] - 1
    j = trace.shape[1] - 1
    trace[0, :] = 2
    trace[:, 0] = 1
    out = np.empty((2, i + j), dtype=np.int64)
    n = 0
    while i > 0 or j > 0:
        out[0, n] = i - 1
        out[1, n] = j - 1
        n += 1
        t = trace[i, j]
        if t == 0:
            i -= 1
            j -= 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    return out[:, :n][:, ::-1].copy()


@numba.njit(cache=True)
def _dtw(x: np.ndarray) -> np.ndarray:
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf, dtype=np.float64)
    trace = -np.ones((n + 1, m + 1), dtype=np.float64)
    cost[0, 0] = 0.0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0 = cost[i - 1, j - 1]
            c1 = cost[i - 1, j]
            c2 = cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = x[i - 1, j - 1] + c
            trace[i, j] = t
    return _backtrace(trace)


def dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(text_indices, time_indices) of the cheapest monotone path through cost matrix x (tokens, frames)."""
    path = _dtw(np.ascontiguousarray(x, dtype=np.float64))
    return path[0], path[1]


def warm_up() -> None:
    dtw(np.zeros((2, 3)))
