"""Motion features with relative-motion normalisation (PVT++) and the learned predictor's forward pass.

The predictor sees a track's recent centres, observed at irregular times (a
latest-wins edge skips frames the tracker cannot keep up with)::

    observed:   ·   ·  ·      ·   ·  ·   ·       (t_i, cx_i, cy_i, w_i, h_i)
    grid:       |   |   |   |   |   |   |   |     t_ref - j * GRID_DT_S, j = HISTORY-1 … 0
                                              ↑ t_ref = time of the latest observation

Relative-motion normalisation: each grid position is taken relative to the
latest one and divided by the object's size ``s = sqrt(w h)`` (so a near, big
face moving 30 px and a far, small one moving 10 px look alike), and grid
points before the first observation are masked. PVT++ divides x by w and y by
h; one isotropic scale keeps the direction of motion (a pedestrian box is 2.5×
taller than wide, and people walk sideways). The model answers "where is the
centre τ seconds after t_ref" as a displacement in units of s, plus a standard
deviation; it is queried for many τ at once (the latency-compensated box, the
box for each frame an output may be used for, and the 10 points of a 1 s
trajectory).

The history holds *measurements* only. When the tracker loses an object (an
occluder, a missed detection) it reports the track as coasting, with a box its
own motion model made up; that box says nothing new, so it is left out and the
model extrapolates from the last measurement instead, told how long ago that
was (``age``: 0 while measured, the time since the last measurement while
coasting; τ is then counted from the last measurement, so τ ≥ age)::

    measured:  ·  ·  ·  ·  ·  ·|                       (coasting: no measurement)
                         t_ref ┘←──── age ────→│now     ←── τ to the time asked for ──→│

The network is residual over a constant-velocity base ``v_base``::

    d(τ) = v_base τ + τ · MLP([history, mask, v_base, known, age, τ])[:2]
    σ(τ) = softplus(MLP(...)[2]) · (τ + TAU0_S)

``v_base`` is the velocity the producer of the track estimated, when it gives
one (`Track.velocity`: liveloop's tracker reports its Kalman filter's, which saw
the raw detections; the boxes it reports are that filter's output, so a velocity
refitted to them is a filter of a filter and lags), else the least-squares
velocity over the last ``LS_POINTS`` grid points; ``known`` says which (1 / 0).

Inference is plain NumPy (a few small matrix products; no torch at run time);
`liveloop.vision.train` trains it with torch and writes the ``.npz`` weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveloop.vision.types import ModelMissing

GRID_DT_S = 0.05  # history grid step: 20 Hz
HISTORY = 16  # grid points: 0.75 s of history
LS_POINTS = 7  # grid points in the least-squares velocity (0.3 s: the best CV window on the TUD training ids)
TAU0_S = 0.05  # σ grows as (τ + TAU0_S): even τ = 0 is uncertain
N_FEATURES = 2 * (HISTORY - 1) + (HISTORY - 1) + 2 + 1 + 1 + 1  # relative xy, mask, v_base, known, age, τ (last)
MAX_AGE_S = 0.5  # ages are clipped to this (the tracker drops a track that coasts longer: max_coast_s)
DEFAULT_WEIGHTS = Path(__file__).with_name("predictor_mlp.npz")

# Least-squares slope weights over the last LS_POINTS grid times (t = -j * GRID_DT_S, j = LS_POINTS-1 … 0).
_T_LS = -np.arange(LS_POINTS)[::-1] * GRID_DT_S
_W_LS = (_T_LS - _T_LS.mean()) / np.sum((_T_LS - _T_LS.mean()) ** 2)
_GRID_OFFSETS_S = np.arange(HISTORY)[::-1] * GRID_DT_S  # (H,) from oldest to newest grid point


@dataclass(frozen=True, slots=True, eq=False)
class HistoryFeatures:
    """One track's normalised history (see module docstring)."""

    x: np.ndarray  # (N_FEATURES - 2,) relative xy (2*(H-1)), mask (H-1), v_base (2), known (1)
    scale_px: float  # s = sqrt(w h) of the latest box
    v_ls: np.ndarray  # (2,) least-squares velocity, box sizes per second
    v_base: np.ndarray  # (2,) the constant-velocity base: the given velocity, else v_ls (box sizes per second)
    origin: np.ndarray  # (2,) latest centre, px


def history_features(hist: np.ndarray, velocity_px_s: tuple[float, float] | None = None) -> HistoryFeatures:
    """Normalised features from observations ``(n, 5)`` = ``[t_s, cx, cy, w, h]``, time-ascending, n ≥ 1.

    `velocity_px_s`: the centre velocity at the latest observation as its producer
    estimated it (px/s), or None when it gives none.
    """
    hist = np.asarray(hist, dtype=np.float64)
    if hist.ndim != 2 or hist.shape[1] != 5 or len(hist) == 0:
        raise ValueError(f"history must be (n >= 1, 5) [t, cx, cy, w, h], got shape {hist.shape}")
    t = hist[:, 0]
    t_ref = t[-1]
    origin = hist[-1, 1:3]
    scale = float(np.sqrt(max(hist[-1, 3], 1.0) * max(hist[-1, 4], 1.0)))
    grid = t_ref - _GRID_OFFSETS_S  # (H,) ascending, last = t_ref
    if len(hist) == 1:
        xy = np.repeat(origin[None, :], HISTORY, axis=0)
    else:
        xy = np.stack([np.interp(grid, t, hist[:, 1]), np.interp(grid, t, hist[:, 2])], axis=1)  # (H, 2)
    mask = (grid >= t[0] - 1e-9).astype(np.float64)  # (H,)
    rel = (xy - origin) / scale  # (H, 2); rel[-1] == 0
    # least-squares velocity over the last LS_POINTS valid grid points (masked points hold the first value)
    v_ls = np.asarray(
        _W_LS @ rel[-LS_POINTS:] if mask[-LS_POINTS:].all() else _fallback_velocity(hist, scale), dtype=np.float64
    )
    known = velocity_px_s is not None
    v_base = np.asarray(velocity_px_s, dtype=np.float64) / scale if known else v_ls
    x = np.concatenate([rel[:-1].reshape(-1), mask[:-1], v_base, [1.0 if known else 0.0]])
    return HistoryFeatures(x, scale, v_ls, v_base, origin.copy())


def _fallback_velocity(hist: np.ndarray, scale: float) -> np.ndarray:
    if len(hist) < 2 or hist[-1, 0] - hist[0, 0] <= 0:
        return np.zeros(2)
    dt = hist[-1, 0] - hist[0, 0]
    return (hist[-1, 1:3] - hist[0, 1:3]) / dt / scale


def feature_rows(
    feats: list[HistoryFeatures], taus_s: np.ndarray, ages_s: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The model's input rows for every (track, τ) pair: X (N*T, N_FEATURES) and the CV part (N*T, 2).

    `ages_s` (N,): each track's time since its last measurement (None: all measured now).
    """
    taus = np.asarray(taus_s, dtype=np.float64).reshape(len(feats), -1)  # (N, T)
    n_tau = taus.shape[1]
    base = np.concatenate([np.stack([f.x for f in feats]), _ages(ages_s, len(feats))[:, None]], axis=1)  # (N, F-1)
    X = np.concatenate([np.repeat(base, n_tau, axis=0), taus.reshape(-1, 1)], axis=1)  # (N*T, F)
    v = np.stack([f.v_base for f in feats])  # (N, 2)
    cv = (v[:, None, :] * taus[:, :, None]).reshape(-1, 2)  # (N*T, 2)
    return X, cv


def _ages(ages_s: np.ndarray | None, n: int) -> np.ndarray:
    if ages_s is None:
        return np.zeros(n)
    return np.clip(np.asarray(ages_s, dtype=np.float64).reshape(n), 0.0, MAX_AGE_S)


class MotionMLP:
    """The learned predictor's forward pass in NumPy (weights from `liveloop.vision.train`)."""

    def __init__(self, path: Path | str = DEFAULT_WEIGHTS) -> None:
        path = Path(path)
        if not path.exists():
            raise ModelMissing(f"predictor weights {path} not found; make them with `liveloop vision train-predictor`")
        with np.load(path) as z:
            self.layers = [(z[f"w{i}"].astype(np.float64), z[f"b{i}"].astype(np.float64)) for i in range(3)]
            self.in_mean = z["in_mean"].astype(np.float64)
            self.in_std = z["in_std"].astype(np.float64)
            self.meta = {k: z[k].tolist() for k in z.files if k.startswith("meta_")}
        if self.layers[0][0].shape[0] != N_FEATURES:
            raise ModelMissing(
                f"predictor weights {path} expect {self.layers[0][0].shape[0]} features, this code makes "
                f"{N_FEATURES}: retrain with `liveloop vision train-predictor`"
            )
        # Fold the input normalisation into the first layer: ((x - m) / s) @ w0 + b0 = x @ w0f + b0f.
        (w0, b0) = self.layers[0]
        self._w0f = w0 / self.in_std[:, None]
        self._b0f = b0 - (self.in_mean / self.in_std) @ w0
        # `predict` runs the layers in float32 (the weights were trained in it): half the time of float64
        (w1, b1), (w2, b2) = self.layers[1:]
        self._f32 = [a.astype(np.float32) for a in (self._w0f, self._b0f, w1, b1, w2, b2)]
        for key, ours in (("meta_history", HISTORY), ("meta_ls_points", LS_POINTS)):
            if key in self.meta and self.meta[key] != ours:
                raise ModelMissing(
                    f"predictor weights {path} were trained with {key[5:]} = {self.meta[key]}, this code uses "
                    f"{ours}: retrain with `liveloop vision train-predictor`"
                )
        self.path = path

    def raw(self, X: np.ndarray) -> np.ndarray:
        """(N, N_FEATURES) → (N, 3): residual velocity (2) and σ pre-activation (1)."""
        h = (X - self.in_mean) / self.in_std
        (w0, b0), (w1, b1), (w2, b2) = self.layers
        h = np.maximum(h @ w0 + b0, 0.0)
        h = np.maximum(h @ w1 + b1, 0.0)
        return h @ w2 + b2

    def predict(
        self, feats: list[HistoryFeatures], taus_s: np.ndarray, ages_s: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Centres (N, T, 2) px and σ (N, T) px at horizons `taus_s` (N, T) seconds after each t_ref.

        `ages_s` (N,): how long before the track's latest report its last measurement (t_ref) was
        (None: every track was measured in its latest report).

        Same result as `raw` on `feature_rows` (to float32 precision), computed faster: the rows of
        one track differ only in τ, so the first layer is applied once per track plus a rank-one term
        per τ; the layers run in float32.
        """
        taus = np.asarray(taus_s, dtype=np.float64).reshape(len(feats), -1)  # (N, T)
        n, t = taus.shape
        if n == 0:
            return np.zeros((0, t, 2)), np.zeros((0, t))
        w0f, b0f, w1, b1, w2, b2 = self._f32
        base = np.empty((n, N_FEATURES - 1), dtype=np.float32)  # (N, F-1): the history features, then age
        base[:, :-1] = [f.x for f in feats]
        base[:, -1] = _ages(ages_s, n)
        h = (base @ w0f[:-1] + b0f)[:, None, :] + taus.astype(np.float32)[:, :, None] * w0f[-1]  # (N, T, H)
        np.maximum(h, 0.0, out=h)
        h = h.reshape(n * t, -1) @ w1
        h += b1
        np.maximum(h, 0.0, out=h)
        out = (h @ w2 + b2).reshape(n, t, 3).astype(np.float64)
        geo = np.array([(*f.v_base, f.scale_px, *f.origin) for f in feats])  # (N, 5): v (2), s, origin (2)
        d = taus[:, :, None] * (geo[:, None, 0:2] + out[:, :, :2])  # (N, T, 2) box sizes
        sig = _softplus(out[:, :, 2]) * (taus + TAU0_S)  # (N, T)
        scale = geo[:, 2:3]  # (N, 1)
        return geo[:, None, 3:5] + d * scale[:, :, None], sig * scale

    def predict_reference(
        self, feats: list[HistoryFeatures], taus_s: np.ndarray, ages_s: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`predict` written the plain way (for tests)."""
        taus = np.asarray(taus_s, dtype=np.float64).reshape(len(feats), -1)
        X, cv = feature_rows(feats, taus, ages_s)
        out = self.raw(X)
        tau = X[:, -1:]
        d = cv + tau * out[:, :2]
        sig = _softplus(out[:, 2]) * (tau[:, 0] + TAU0_S)
        scale = np.array([f.scale_px for f in feats])[:, None]
        origin = np.stack([f.origin for f in feats])[:, None, :]
        n, t = taus.shape
        return origin + d.reshape(n, t, 2) * scale[:, :, None], sig.reshape(n, t) * scale


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x) + 1e-3
