"""The policy's own normaliser: per-dimension min/max to [-1, 1], discrete dims scaled.

Continuous dimensions map their data range ``[lo, hi]`` onto ``[-1, 1]``. A
discrete dimension (the gripper, ±1) can be mapped onto ``[-s, s]`` instead:
the RTI-DP *scale* variant trains with ``s = 0.1`` ("gripper / 10"), so the
few denoising steps from a warm start can still flip it; the policy reads it
back by sign. Dimensions that never vary map to 0 and back to their constant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


class LinearNormalizer:
    """``normalize(x) = (x - mid) / half * scale`` per last-axis dimension."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, scale: np.ndarray | None = None) -> None:
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        if lo.shape != hi.shape or lo.ndim != 1:
            raise ValueError(f"lo and hi must be 1-D of equal shape, got {lo.shape} and {hi.shape}")
        if np.any(hi < lo) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError("lo must be <= hi and both finite")
        scale = np.ones_like(lo) if scale is None else np.asarray(scale, dtype=np.float64)
        if scale.shape != lo.shape or np.any(scale <= 0):
            raise ValueError(f"scale must be > 0 with shape {lo.shape}, got {scale}")
        self.lo, self.hi, self.scale = lo, hi, scale
        half = (hi - lo) / 2
        self._mid = (hi + lo) / 2
        self._half = np.where(half > 1e-12, half, 1.0)

    @classmethod
    def fit(cls, data: np.ndarray, discrete_dims: Sequence[int] = (), discrete_scale: float = 1.0) -> LinearNormalizer:
        """Fit on ``data`` of shape ``(..., D)``; ``discrete_dims`` map onto ``[-discrete_scale, discrete_scale]``."""
        flat = np.asarray(data, dtype=np.float64).reshape(-1, np.shape(data)[-1])
        if flat.shape[0] == 0:
            raise ValueError("cannot fit a normaliser on no data")
        if not discrete_scale > 0:
            raise ValueError(f"discrete_scale must be > 0, got {discrete_scale}")
        scale = np.ones(flat.shape[1])
        for d in discrete_dims:
            if not 0 <= d < flat.shape[1]:
                raise ValueError(f"discrete dim {d} out of range for {flat.shape[1]} dims")
            scale[d] = discrete_scale
        return cls(flat.min(axis=0), flat.max(axis=0), scale)

    @property
    def dim(self) -> int:
        return int(self.lo.shape[0])

    def _check(self, x: Any) -> None:
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected last dimension {self.dim}, got shape {tuple(x.shape)}")

    def normalize(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        self._check(x)
        if isinstance(x, torch.Tensor):
            mid, half, scale = (torch.as_tensor(a, dtype=x.dtype, device=x.device) for a in self._params())
            return (x - mid) / half * scale
        m, h, s = self._params()
        return (np.asarray(x, dtype=np.float64) - m) / h * s

    def unnormalize(self, y: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        self._check(y)
        if isinstance(y, torch.Tensor):
            mid, half, scale = (torch.as_tensor(a, dtype=y.dtype, device=y.device) for a in self._params())
            return y / scale * half + mid
        m, h, s = self._params()
        return np.asarray(y, dtype=np.float64) / s * h + m

    def _params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # A constant dimension has half = 1: its data normalises to 0 and comes back as its constant.
        return self._mid, self._half, self.scale

    def state_dict(self) -> dict[str, list[float]]:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LinearNormalizer:
        try:
            return cls(np.asarray(state["lo"]), np.asarray(state["hi"]), np.asarray(state["scale"]))
        except KeyError as exc:
            raise ValueError(f"normaliser state is missing {exc}") from exc
