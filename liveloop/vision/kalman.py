"""A constant-velocity Kalman filter on a box, in continuous time.

State ``x = [cx, cy, w, h, vx, vy, vw, vh]`` (px and px/s); measurement
``z = [cx, cy, w, h]``. Unlike SORT's per-frame filter, steps are in seconds, so
frames that arrive late or are skipped (latest-wins edges) are handled by a
longer step, not by pretending one frame passed.

Process noise is the continuous white-noise-acceleration model: for each axis
with acceleration spectral density ``q`` (px²/s³) over a step ``dt``::

    Q = q * [[dt³/3, dt²/2],
             [dt²/2, dt   ]]

Measurement noise scales with the box: ``std = r_rel * sqrt(w * h)`` px, so a
far (small) face and a near (large) one are trusted alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveloop.vision.types import Box

N_DIM = 4  # cx, cy, w, h
N_STATE = 2 * N_DIM


@dataclass(frozen=True, slots=True)
class KalmanConfig:
    q_pos: float = 100_000.0  # px²/s³: centre acceleration noise (a face or hand turning; e-LAE sequences)
    q_size: float = 200.0  # px²/s³: width/height change noise
    r_rel: float = 0.05  # measurement std as a fraction of sqrt(box area)
    init_vel_std: float = 200.0  # px/s: prior on the unknown initial velocity

    def __post_init__(self) -> None:
        for name in ("q_pos", "q_size", "r_rel", "init_vel_std"):
            v = getattr(self, name)
            if not v > 0:
                raise ValueError(f"KalmanConfig.{name} must be > 0, got {v}")


class BoxKalman:
    """One box's filter. `predict(dt)` moves it in time, `update(box)` corrects it."""

    __slots__ = ("P", "cfg", "x")

    def __init__(self, box: Box, cfg: KalmanConfig | None = None) -> None:
        self.cfg = cfg or KalmanConfig()
        self.x = np.zeros(N_STATE)
        self.x[:N_DIM] = (box.cx, box.cy, box.w, box.h)
        r = self._r_std(box.w, box.h)
        self.P = np.diag([r**2] * N_DIM + [self.cfg.init_vel_std**2] * 2 + [(0.5 * self.cfg.init_vel_std) ** 2] * 2)

    # -- model -----------------------------------------------------------
    def _r_std(self, w: float, h: float) -> float:
        return max(1.0, self.cfg.r_rel * float(np.sqrt(max(w, 1.0) * max(h, 1.0))))

    def _fq(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        F = np.eye(N_STATE)
        F[:N_DIM, N_DIM:] = np.eye(N_DIM) * dt
        Q = np.zeros((N_STATE, N_STATE))
        for i, q in enumerate((self.cfg.q_pos, self.cfg.q_pos, self.cfg.q_size, self.cfg.q_size)):
            Q[i, i] = q * dt**3 / 3
            Q[i, i + N_DIM] = Q[i + N_DIM, i] = q * dt**2 / 2
            Q[i + N_DIM, i + N_DIM] = q * dt
        return F, Q

    # -- filter steps ------------------------------------------------------
    def predict(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError(f"predict dt must be >= 0 s, got {dt_s}")
        if dt_s == 0:
            return
        F, Q = self._fq(dt_s)
        self.x = F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)  # a box never shrinks below a pixel
        self.P = F @ self.P @ F.T + Q

    def update(self, box: Box, noise_scale: float = 1.0) -> None:
        """Correct with a measured box; `noise_scale` > 1 trusts it less (e.g. an appearance tracker)."""
        z = np.array([box.cx, box.cy, box.w, box.h])
        r = self._r_std(box.w, box.h) * noise_scale
        R = np.diag([r**2, r**2, (2 * r) ** 2, (2 * r) ** 2])
        H = np.zeros((N_DIM, N_STATE))
        H[:, :N_DIM] = np.eye(N_DIM)
        y = z - H @ self.x
        S = H @ self.P @ H.T + R
        K = np.linalg.solve(S, H @ self.P).T  # (N_STATE, N_DIM) = P Hᵀ S⁻¹ (S symmetric)
        self.x = self.x + K @ y
        self.P = (np.eye(N_STATE) - K @ H) @ self.P
        self.P = 0.5 * (self.P + self.P.T)

    # -- read-outs (no mutation) -----------------------------------------------
    @property
    def box(self) -> Box:
        cx, cy, w, h = self.x[:N_DIM]
        return Box.from_center(float(cx), float(cy), float(max(w, 1.0)), float(max(h, 1.0)))

    @property
    def velocity(self) -> tuple[float, float]:
        return float(self.x[4]), float(self.x[5])

    def peek(self, dt_s: float) -> tuple[Box, float]:
        """The box `dt_s` seconds ahead and the centre's std (px), without changing the filter."""
        boxes, sig = self.forecast(np.array([dt_s], dtype=np.float64))
        return boxes[0], float(sig[0])

    def forecast_sigma(self, dts_s: np.ndarray) -> np.ndarray:
        """The centre std (px) at each horizon in `dts_s` (s, ≥ 0), without the boxes (cheaper than `forecast`)."""
        dt = np.maximum(np.asarray(dts_s, dtype=np.float64), 0.0)  # (T,)
        q = self.cfg.q_pos
        P = self.P
        out = np.empty(len(dt))
        for axis in (0, 1):  # position and velocity of cx, then cy: var(p + v dt) + process noise
            i, j = axis, axis + N_DIM
            var = P[i, i] + 2 * dt * P[i, j] + dt**2 * P[j, j] + q * dt**3 / 3
            out = var if axis == 0 else out + var
        return np.sqrt(0.5 * out)

    def forecast(self, dts_s: np.ndarray) -> tuple[list[Box], np.ndarray]:
        """Boxes at each horizon in `dts_s` (s, ≥ 0) and the centre std (px) at each."""
        out: list[Box] = []
        sig = np.empty(len(dts_s))
        for k, dt in enumerate(dts_s):
            F, Q = self._fq(float(max(dt, 0.0)))
            x = F @ self.x
            P = F @ self.P @ F.T + Q
            out.append(Box.from_center(float(x[0]), float(x[1]), float(max(x[2], 1.0)), float(max(x[3], 1.0))))
            sig[k] = float(np.sqrt(0.5 * (P[0, 0] + P[1, 1])))
        return out, sig
