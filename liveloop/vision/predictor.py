"""Latency-aware prediction (PVT++) and trajectory forecasting, sans-I/O.

A tracker's box describes the frame it came from. By the time a consumer uses
it (the robot policy, the bitrate allocator, the browser overlay) the object
has moved. `PredictorCore.feed(tracks, now_ns, latency_ns)` returns each track

- moved to ``valid_at_ns = now_ns + latency_ns`` (the node passes the measured
  latency from its output to the consumers), i.e. over a horizon
  ``τ0 = valid_at_ns − captured_ns`` that covers the tracker's own latency too;
- with a forecast of the centre over `horizon_s` at `rate_hz` after that
  (VisionTrap's task; 10 points over 1 s by default) and its uncertainty.

A consumer that knows *when* it uses an output asks for that time instead:
`boxes_at(tracks, t_ns)` gives each track's box at any times (an overlay at
its display time, the e-LAE judge at each scored frame's time; PVT++ likewise
keeps one prediction per future frame, not one box for all of them).

Methods (`PredictMethod`); both moving ones extrapolate from the observed box
(the filtered box the tracker reports), never from a second filter's estimate of it:

    NONE     the observed box as is; the forecast holds it still (σ = 0)
    KALMAN   constant velocity: the track's own velocity when its producer gives one
             (`Track.velocity`; liveloop's tracker reports its Kalman filter's, which saw the raw
             detections), else a constant-velocity Kalman filter's over the observed boxes;
             σ from a Kalman filter per track
    LEARNED  the MLP of `liveloop.vision.motion`: a learned residual over the same constant-velocity
             base (the track's velocity, else a least-squares fit), from the relative-motion-normalised
             history of *measured* boxes (trained by `liveloop vision train-predictor`). A coasting
             track (`TrackStatus.COASTING`: no measurement on its frame, the box is the tracker's own
             extrapolation) is predicted from its last measurement, over the time since then (its
             age, also an input); the model is trained on tracks that pass behind occluders
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liveloop.vision.kalman import BoxKalman, KalmanConfig
from liveloop.vision.motion import HistoryFeatures, MotionMLP, history_features
from liveloop.vision.types import Box, Forecast, PredictedTrack, Track, TrackStatus

_HISTORY_ROWS = 64  # observations kept per track (≥ 0.75 s at 60 fps)


class PredictMethod(enum.Enum):
    NONE = "none"
    KALMAN = "kalman"
    LEARNED = "learned"


@dataclass(frozen=True, slots=True)
class PredictorConfig:
    method: PredictMethod = PredictMethod.LEARNED
    horizon_s: float = 1.0
    rate_hz: float = 10.0
    forget_after_s: float = 2.0  # drop a track's history when it has not been seen for this long
    max_tau_s: float = 2.0  # never extrapolate further than this past the observation
    weights: Path | None = None  # None: the weights shipped in the package
    kalman: KalmanConfig = field(default_factory=KalmanConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.method, PredictMethod):
            raise ValueError(f"method must be a PredictMethod, got {self.method!r}")
        if not self.horizon_s > 0:
            raise ValueError(f"horizon_s must be > 0, got {self.horizon_s}")
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")
        if not self.forget_after_s > 0:
            raise ValueError(f"forget_after_s must be > 0, got {self.forget_after_s}")
        if not self.max_tau_s > self.horizon_s:
            raise ValueError(f"max_tau_s must be > horizon_s ({self.horizon_s}), got {self.max_tau_s}")

    @property
    def n_points(self) -> int:
        return max(1, round(self.horizon_s * self.rate_hz))


class _State:
    """One track's memory: its last `_HISTORY_ROWS` measurements [t_s, cx, cy, w, h], its filter, its velocity."""

    __slots__ = ("_buf", "_feats", "_n", "kf", "last_measured_ns", "last_ns", "velocity")

    def __init__(self) -> None:
        self._buf = np.empty((2 * _HISTORY_ROWS, 5))  # appended in place; halved when full (amortised O(1))
        self._n = 0
        self._feats: HistoryFeatures | None = None  # of the current history; made when first asked for
        self.kf: BoxKalman | None = None
        self.last_ns = -1  # capture time of the latest report (measured or coasting)
        self.last_measured_ns = -1  # capture time of the latest measurement (the history's last row)
        self.velocity: tuple[float, float] | None = None  # px/s at the latest measurement, from the producer

    def append(self, row: tuple[float, float, float, float, float], velocity: tuple[float, float] | None) -> None:
        if self._n == len(self._buf):
            self._buf[:_HISTORY_ROWS] = self._buf[_HISTORY_ROWS:]
            self._n = _HISTORY_ROWS
        self._buf[self._n] = row
        self._n += 1
        self.velocity = velocity
        self._feats = None

    def features(self) -> HistoryFeatures:
        """The learned predictor's input for this history (computed once per measurement)."""
        if self._feats is None:
            self._feats = history_features(self.hist, self.velocity)
        return self._feats

    @property
    def hist(self) -> np.ndarray:
        """(n, 5) time-ascending view of the kept observations."""
        return self._buf[max(0, self._n - _HISTORY_ROWS) : self._n]


class PredictorCore:
    """Per-track motion memory and the chosen prediction method."""

    def __init__(self, cfg: PredictorConfig | None = None) -> None:
        self.cfg = cfg or PredictorConfig()
        self.mlp: MotionMLP | None = None
        if self.cfg.method is PredictMethod.LEARNED:
            self.mlp = MotionMLP(self.cfg.weights) if self.cfg.weights else MotionMLP()
        self._states: dict[int, _State] = {}
        self._epoch_ns: int | None = None
        n = self.cfg.n_points
        self._steps_s = np.arange(1, n + 1) / self.cfg.rate_hz  # (T,) after valid_at
        self._steps_ns = np.round(self._steps_s * 1e9).astype(np.int64)

    def reset(self) -> None:
        self._states.clear()
        self._epoch_ns = None

    def observe(self, tracks: list[Track]) -> None:
        """Add the tracks' boxes to their histories (feed() calls this)."""
        for tr in tracks:
            if self._epoch_ns is None:
                self._epoch_ns = tr.captured_ns
            st = self._states.get(tr.track_id)
            if st is None:
                st = self._states[tr.track_id] = _State()
            if tr.captured_ns <= st.last_ns:
                continue  # the same frame twice (or out of order): nothing new
            b = tr.box
            t_s = (tr.captured_ns - self._epoch_ns) / 1e9
            # a coasting box is the tracker's extrapolation, not a measurement (kept only when there is nothing else)
            measured = tr.status is not TrackStatus.COASTING or st.last_measured_ns < 0
            if self.cfg.method is PredictMethod.KALMAN:
                if st.kf is None:
                    st.kf = BoxKalman(b, self.cfg.kalman)
                else:
                    st.kf.predict((tr.captured_ns - st.last_ns) / 1e9)
                    if measured:
                        st.kf.update(b)
            if measured:
                st.append((t_s, b.cx, b.cy, b.w, b.h), tr.velocity)
                st.last_measured_ns = tr.captured_ns
            st.last_ns = tr.captured_ns

    def feed(self, tracks: list[Track], now_ns: int, latency_ns: int = 0) -> list[PredictedTrack]:
        """Predict each track to ``now_ns + latency_ns`` and forecast its trajectory after that."""
        if latency_ns < 0:
            raise ValueError(f"latency_ns must be >= 0, got {latency_ns}")
        self.observe(tracks)
        self._forget(now_ns)
        valid_at = now_ns + latency_ns
        if not tracks:
            return []
        tau0 = np.array([(valid_at - t.captured_ns) / 1e9 for t in tracks])  # (N,)
        taus = np.concatenate([tau0[:, None], tau0[:, None] + self._steps_s[None, :]], axis=1)  # (N, 1 + T)
        xy, sig = self._centres(tracks, taus)
        out = []
        steps_ns = self._steps_ns
        method = self.cfg.method.value
        for i, t in enumerate(tracks):
            box = Box.from_center(float(xy[i, 0, 0]), float(xy[i, 0, 1]), t.box.w, t.box.h)
            fc = Forecast(t_ns=valid_at + steps_ns, xy=xy[i, 1:].copy(), sigma=sig[i, 1:].copy())
            out.append(PredictedTrack(t, valid_at, box, float(sig[i, 0]), fc, method))
        return out

    def boxes_at(self, tracks: Sequence[Track], t_ns: np.ndarray) -> np.ndarray:
        """Each track's box at each of the times `t_ns` (T,) ns: (N, T, 4) ``[x, y, w, h]`` px.

        The box keeps the observed size; times before a track's capture give its box at capture (the
        observed box; under LEARNED, a coasting track's is predicted from its last measurement).
        The tracks are observed first (a no-op for boxes `feed` has already seen).
        """
        self.observe(list(tracks))
        t = np.asarray(t_ns, dtype=np.int64).reshape(1, -1)
        if not tracks:
            return np.zeros((0, t.shape[1], 4))
        cap = np.array([tr.captured_ns for tr in tracks], dtype=np.int64)[:, None]
        xy, _ = self._centres(tracks, (t - cap) / 1e9)  # (N, T, 2)
        wh = np.broadcast_to(np.array([(tr.box.w, tr.box.h) for tr in tracks])[:, None, :], xy.shape)
        return np.concatenate([xy - wh / 2, wh], axis=2)

    def _centres(self, tracks: Sequence[Track], taus_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centres (N, T, 2) px and their σ (N, T) px, `taus_s` (N, T) seconds after each track's capture."""
        taus = np.clip(taus_s, 0.0, self.cfg.max_tau_s)
        method = self.cfg.method
        obs = np.array([(t.box.cx, t.box.cy) for t in tracks])  # (N, 2)
        if method is PredictMethod.LEARNED:
            assert self.mlp is not None
            states = [self._states[t.track_id] for t in tracks]
            ages = np.array([(t.captured_ns - st.last_measured_ns) / 1e9 for t, st in zip(tracks, states, strict=True)])
            # from the last measurement: τ counts from there (a measured track: age 0, the observed box at τ = 0)
            return self.mlp.predict([st.features() for st in states], taus + ages[:, None], ages)
        if method is PredictMethod.KALMAN:
            xy = np.empty((len(tracks), taus.shape[1], 2))
            sig = np.empty((len(tracks), taus.shape[1]))
            for i, t in enumerate(tracks):
                st = self._states[t.track_id]
                kf = st.kf
                assert kf is not None
                v = st.velocity if st.velocity is not None else kf.velocity
                xy[i] = obs[i] + taus[i][:, None] * np.asarray(v)
                sig[i] = kf.forecast_sigma(taus[i])
            return xy, sig
        return np.repeat(obs[:, None, :], taus.shape[1], axis=1), np.zeros(taus.shape)

    def _forget(self, now_ns: int) -> None:
        limit = int(self.cfg.forget_after_s * 1e9)
        stale = [tid for tid, st in self._states.items() if now_ns - st.last_ns > limit]
        for tid in stale:
            del self._states[tid]

    @property
    def tracked_ids(self) -> list[int]:
        return sorted(self._states)
