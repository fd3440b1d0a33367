"""Train the learned motion predictor (`liveloop.vision.motion.MotionMLP`).

Data (all made here, nothing downloaded beyond the PyPI asset):

- real: TUD-Stadtmitte pedestrian tracks (`motmetrics` 1.4.0's gt.txt, 25 fps),
  the ids in `TUD_HELD_OUT_IDS` kept out for `benchmarks/trajectory.py`;
- synthetic: smooth (constant velocity, gentle acceleration), turning (constant
  turn rate), zig-zag and stop-and-go motion of boxes of random size, observed
  at 30 fps with box-relative noise and frames dropped at random (what a
  latest-wins edge does), so the model sees irregular histories.

Each track is seen the way the predictor will see it, half of the time each:

- *tracked*: noisy detections (box-relative Gaussian noise, now and then a
  missed one) run through the tracker's own Kalman filter (`KalmanConfig()`, as
  `TrackerCore` reports tracks): the history is the filtered boxes and the
  velocity is the filter's (`Track.velocity`). Now and then the object passes
  behind an occluder (`TrainConfig.occlusion_share`): no detection for up to
  half a second (the tracker coasts, then drops a track), and the detections
  just before are of the object's visible, trailing part (their centre lags
  behind, by up to `entry_lag` box sizes at the last one). A sample taken while
  coasting is predicted from the last measurement, with its age as an input,
  as `PredictorCore` does; after a long gap the filter restarts where the object
  reappears, with no velocity, as `TrackerCore` does;
- *raw*: the noisy (or, for TUD, annotated) boxes themselves, no velocity (a
  track from a producer without one; the trajectory benchmark's protocol).

Each sample is (measured history up to t_ref, velocity or none, age, horizon τ,
true displacement at t_ref + τ); the loss is the Gaussian negative
log-likelihood in box units. Nothing of the e-LAE benchmark's sequences is
used: its targets move along the held-out TUD ids and its own manoeuvres, its
frames are never rendered here. Reproduce the shipped weights with::

    nice -n 10 .venv/bin/liveloop vision train-predictor   # ≈ 70 s of CPU on one core (seed 0, 1 torch thread)

(torch with one thread; the seed is fixed). Output: ``liveloop/vision/predictor_mlp.npz``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveloop.vision.kalman import BoxKalman, KalmanConfig
from liveloop.vision.motion import (
    DEFAULT_WEIGHTS,
    HISTORY,
    LS_POINTS,
    MAX_AGE_S,
    N_FEATURES,
    TAU0_S,
    history_features,
)
from liveloop.vision.types import Box

TUD_FPS = 25.0
TUD_HELD_OUT_IDS = (2, 7, 9)
SYNTH_FPS = 30.0
MOTION_KINDS = ("cv", "accel", "turn", "zigzag", "stopgo", "still")
# The mix is a prior: abrupt manoeuvres (zig-zag, stop-and-go) are kept rare, and speeding up is as likely as
# slowing down, or the model learns to expect every object to slow down (on TUD's walkers it then falls short
# of the constant-velocity forecast by 3–4 px at 1 s).
MOTION_MIX = (0.35, 0.2, 0.27, 0.05, 0.03, 0.1)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    n_synthetic_tracks: int = 3000
    samples_per_track: int = 24
    tud_repeats: int = 20  # TUD samples are drawn this many times (with random drops/flips) per frame
    epochs: int = 30
    batch: int = 512
    lr: float = 2e-3
    hidden: int = 96
    # penalty on the learned correction (box units/s)²: pulls it towards the CV base. Without it the correction
    # is right on average but noisy (held-out TUD ADE 3.57 px vs 3.35 for the least-squares base); at 10 it
    # is kept where it pays (ADE 3.20, FDE 6.52 vs 7.45; 3 gives a worse e-LAE) and the e-LAE boxes of measured
    # tracks equal the tracker's velocity's
    residual_l2: float = 10.0
    tracked_share: float = 0.5  # share of tracks seen through the tracker's filter (with its velocity)
    occlusion_share: float = 0.5  # share of tracked tracks that pass behind occluders (1 or 2 times)
    max_occlusion_s: float = 0.5  # longest occlusion (the tracker's max_coast_s)
    entry_lag: float = 0.15  # the last detection before an occlusion lags by up to this many box sizes
    detection_noise: float = 0.06  # detections: centre noise std up to this fraction of the box size
    raw_noise: float = 0.015  # boxes seen raw (no velocity): centre noise std up to this fraction
    motion_mix: tuple[float, ...] = MOTION_MIX  # probabilities of MOTION_KINDS
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("n_synthetic_tracks", "samples_per_track", "epochs", "batch", "hidden", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if len(self.motion_mix) != len(MOTION_KINDS) or abs(sum(self.motion_mix) - 1) > 1e-6:
            raise ValueError(f"TrainConfig.motion_mix must be {len(MOTION_KINDS)} probabilities, got {self.motion_mix}")
        if self.residual_l2 < 0:
            raise ValueError(f"TrainConfig.residual_l2 must be >= 0, got {self.residual_l2}")
        for name in ("tracked_share", "occlusion_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"TrainConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.max_occlusion_s > 0:
            raise ValueError(f"TrainConfig.max_occlusion_s must be > 0, got {self.max_occlusion_s}")
        if not 0.0 <= self.entry_lag < 0.5:
            raise ValueError(f"TrainConfig.entry_lag must be in [0, 0.5), got {self.entry_lag}")


# ----------------------------------------------------------------------------- data
def load_tud_tracks(path: Path | None = None) -> dict[int, np.ndarray]:
    """TUD-Stadtmitte tracks: id → (n, 5) [t_s, cx, cy, w, h] at 25 fps, time-ascending."""
    if path is None:
        from liveloop.assets import asset_path

        path = asset_path("tud_stadtmitte", "gt.txt")
    raw = np.loadtxt(path, delimiter=",")
    tracks: dict[int, np.ndarray] = {}
    for tid in np.unique(raw[:, 1]).astype(int):
        r = raw[raw[:, 1] == tid]
        r = r[np.argsort(r[:, 0])]
        t = (r[:, 0] - 1) / TUD_FPS
        tracks[int(tid)] = np.stack([t, r[:, 2] + r[:, 4] / 2, r[:, 3] + r[:, 5] / 2, r[:, 4], r[:, 5]], axis=1)
    return tracks


def synthetic_track(
    rng: np.random.Generator, duration_s: float = 3.0, fps: float = SYNTH_FPS, mix: tuple[float, ...] = MOTION_MIX
) -> np.ndarray:
    """One noise-free synthetic track (n, 5) [t, cx, cy, w, h] of a motion kind drawn from `mix` (MOTION_KINDS)."""
    n = int(duration_s * fps) + 1
    t = np.arange(n) / fps
    size = rng.uniform(30, 200)
    w, h = size * rng.uniform(0.6, 1.0), size * rng.uniform(0.8, 1.6)
    speed = size * rng.choice([rng.uniform(0, 0.3), rng.uniform(0.3, 2.0), rng.uniform(2.0, 5.0)])  # px/s
    heading = rng.uniform(0, 2 * np.pi)
    kind = rng.choice(MOTION_KINDS, p=mix)
    if kind == "cv":
        v = np.full(n, speed)
        psi = np.full(n, heading)
    elif kind == "accel":
        v = speed * np.exp(rng.uniform(-0.5, 0.5) * t)  # ±40 % a second, never through zero
        psi = np.full(n, heading)
    elif kind == "turn":
        omega = rng.uniform(0.2, 3.0) * rng.choice([-1, 1])  # rad/s
        v = np.full(n, speed)
        psi = heading + omega * t
    elif kind == "zigzag":
        period = rng.uniform(0.6, 2.0)
        v = np.full(n, speed)
        psi = heading + rng.uniform(0.4, 1.0) * np.sign(np.sin(2 * np.pi * t / period))
    elif kind == "stopgo":
        period = rng.uniform(0.8, 2.0)
        v = speed * (np.sin(2 * np.pi * t / period) > 0)
        psi = np.full(n, heading)
    else:
        v = np.zeros(n)
        psi = np.full(n, heading)
    dt = 1.0 / fps
    cx = np.cumsum(v * np.cos(psi)) * dt
    cy = np.cumsum(v * np.sin(psi)) * dt
    return np.stack([t, cx, cy, np.full(n, w), np.full(n, h)], axis=1)


def _observe(track: np.ndarray, rng: np.random.Generator, noise_rel: float, drop_p: float) -> np.ndarray:
    """Noisy, irregular observations of a track (keeps the first and last rows)."""
    obs = track.copy()
    s = np.sqrt(obs[:, 3] * obs[:, 4])
    obs[:, 1:3] += rng.normal(0, 1, (len(obs), 2)) * (noise_rel * s)[:, None]
    keep = rng.random(len(obs)) >= drop_p
    keep[-1] = True
    return obs[keep]


def _occlude(
    obs: np.ndarray, truth: np.ndarray, rng: np.random.Generator, n_events: int, max_s: float, entry_lag: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pass the object behind `n_events` occluders: (observations with lagging entries, detected (n,) bool).

    An occlusion hides the object for up to `max_s`; over the up to 3 detections before it only the
    object's trailing part is visible, so their centre lags behind along its motion (growing to
    ``U(0, entry_lag)`` box sizes at the last one).
    """
    obs = obs.copy()
    detected = np.ones(len(obs), dtype=bool)
    for _ in range(n_events):
        if len(obs) < 8:
            break
        k = int(rng.integers(3, len(obs) - 2))  # first hidden row
        t_end = obs[k, 0] + rng.uniform(0.02, max_s)
        hidden = (obs[:, 0] >= obs[k, 0]) & (obs[:, 0] < t_end)
        hidden[-1] = False
        detected &= ~hidden
        n_entry = int(rng.integers(1, 4))
        lag = rng.uniform(0.0, entry_lag)
        for m in range(1, n_entry + 1):  # rows k - n_entry … k - 1, lag growing towards the occluder
            r = k - m
            if r < 1:
                break
            t = obs[r, 0]
            v = np.array([np.interp(t + 0.02, truth[:, 0], truth[:, c]) - np.interp(t - 0.02, truth[:, 0], truth[:, c])
                          for c in (1, 2)])  # fmt: skip
            speed = float(np.hypot(*v))
            if speed < 1e-6:
                continue
            size = float(np.sqrt(obs[r, 3] * obs[r, 4]))
            obs[r, 1:3] -= (v / speed) * lag * size * (n_entry - m + 1) / n_entry
    return obs, detected


def _through_tracker(
    obs: np.ndarray, rng: np.random.Generator, miss_p: float, detected: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What `TrackerCore` reports for detections `obs` (n, 5): its Kalman filter's boxes (n, 5), velocities (n, 2)
    and which rows were measured (n,) bool.

    A missed detection (probability `miss_p`, or `detected` False) leaves the filter coasting on its prediction
    for that frame. When a detection comes back further than 1.5 box sizes from where the filter coasted to,
    the filter restarts there (with no velocity), as `TrackerCore` re-finds a coasting track.
    """
    cfg = KalmanConfig()
    kf = BoxKalman(Box.from_center(*obs[0, 1:5]), cfg)
    rows = np.empty_like(obs)
    vel = np.empty((len(obs), 2))
    measured = np.ones(len(obs), dtype=bool)
    coasting = False
    for k in range(len(obs)):
        if k > 0:
            kf.predict(obs[k, 0] - obs[k - 1, 0])
            measured[k] = (detected is None or bool(detected[k])) and rng.random() >= miss_p
            if measured[k]:
                det = Box.from_center(*obs[k, 1:5])
                far = np.hypot(kf.box.cx - det.cx, kf.box.cy - det.cy) > 1.5 * np.sqrt(det.w * det.h)
                if coasting and far:
                    kf = BoxKalman(det, cfg)
                else:
                    kf.update(det)
            coasting = not measured[k]
        b = kf.box
        rows[k] = (obs[k, 0], b.cx, b.cy, b.w, b.h)
        vel[k] = kf.velocity
    return rows, vel, measured


def _samples_from(
    truth: np.ndarray,
    obs: np.ndarray,
    rng: np.random.Generator,
    n: int,
    max_tau_s: float,
    vel: np.ndarray | None = None,
    measured: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Draw n (features, target) pairs, as `PredictorCore` sees a track: target from `truth`.

    A sample is taken at a reported row k; its history is the measured rows up to the last one
    at or before k (t_ref), its age ``t_k - t_ref``, its horizon τ ≥ age counted from t_ref.
    `vel` (len(obs), 2): the producer's velocity at each row (px/s), or None for none;
    `measured` (len(obs),) bool: which rows were measurements (None: all).
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    if measured is None:
        measured = np.ones(len(obs), dtype=bool)
    t_end = truth[-1, 0]
    valid = np.nonzero(obs[:, 0] <= t_end - 0.02)[0]
    if len(valid) == 0:
        return xs, ys
    meas_idx = np.nonzero(measured)[0]
    for _ in range(n):
        k = int(rng.choice(valid))
        i = int(meas_idx[np.searchsorted(meas_idx, k, side="right") - 1])  # the last measurement at or before k
        t_ref = obs[i, 0]
        age = min(obs[k, 0] - t_ref, MAX_AGE_S)
        tau_max = min(max_tau_s, t_end - t_ref)
        if tau_max <= age:
            continue
        u_max = tau_max - age
        tau = age + (rng.uniform(0, min(0.2, u_max)) if rng.random() < 0.5 else rng.uniform(0, u_max))
        hist_rows = meas_idx[(meas_idx <= i)][-61:]
        f = history_features(obs[hist_rows], None if vel is None else (vel[i, 0], vel[i, 1]))
        tx = np.interp(t_ref + tau, truth[:, 0], truth[:, 1])
        ty = np.interp(t_ref + tau, truth[:, 0], truth[:, 2])
        target = (np.array([tx, ty]) - f.origin) / f.scale_px
        xs.append(np.concatenate([f.x, [age, tau], f.v_base]))
        ys.append(target)
    return xs, ys


def _tracked(
    obs: np.ndarray, truth: np.ndarray, rng: np.random.Generator, cfg: TrainConfig, miss_p: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections `obs` as the tracker reports them, passing behind occluders for `cfg.occlusion_share` of tracks."""
    detected = None
    if rng.random() < cfg.occlusion_share:
        obs, detected = _occlude(obs, truth, rng, int(rng.integers(1, 3)), cfg.max_occlusion_s, cfg.entry_lag)
    return _through_tracker(obs, rng, miss_p, detected)


def build_dataset(cfg: TrainConfig, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Rows [features (N_FEATURES), v_base (2)] and targets (2) in box units."""
    from tqdm import tqdm

    rng = np.random.default_rng(cfg.seed)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for _ in tqdm(range(cfg.n_synthetic_tracks), desc="synthetic tracks", disable=not progress):
        truth = synthetic_track(rng, mix=cfg.motion_mix)
        drop_p = rng.choice([0.0, 0.2, 0.5])
        vel = measured = None
        if rng.random() < cfg.tracked_share:  # detected (noisily) and tracked
            obs = _observe(truth, rng, noise_rel=rng.uniform(0.0, cfg.detection_noise), drop_p=drop_p)
            obs, vel, measured = _tracked(obs, truth, rng, cfg, miss_p=rng.choice([0.0, 0.05, 0.2]))
        else:  # boxes as a producer without a filter gives them (annotations, a client's tracker)
            obs = _observe(truth, rng, noise_rel=rng.uniform(0.0, cfg.raw_noise), drop_p=drop_p)
        x, y = _samples_from(truth, obs, rng, cfg.samples_per_track, max_tau_s=1.3, vel=vel, measured=measured)
        xs += x
        ys += y
    tud = load_tud_tracks()
    for tid, tr in tud.items():
        if tid in TUD_HELD_OUT_IDS or len(tr) < 10:
            continue
        for _ in range(cfg.tud_repeats):
            t = tr.copy()
            if rng.random() < 0.5:  # played backwards: people walk both ways, and speed up as often as they slow
                t[:, 1:] = t[::-1, 1:]
            if rng.random() < 0.5:  # mirror: people walk both ways
                t[:, 1] = -t[:, 1]
            vel = measured = None
            if rng.random() < cfg.tracked_share:  # detected (noisily) and tracked
                obs = _observe(t, rng, noise_rel=rng.uniform(0.0, cfg.detection_noise), drop_p=rng.choice([0.0, 0.3]))
                obs, vel, measured = _tracked(obs, t, rng, cfg, miss_p=rng.choice([0.0, 0.05]))
            else:  # the annotations as they are
                obs = _observe(t, rng, noise_rel=0.0, drop_p=rng.choice([0.0, 0.3]))
            x, y = _samples_from(t, obs, rng, len(tr), max_tau_s=1.3, vel=vel, measured=measured)
            xs += x
            ys += y
    X = np.asarray(xs, dtype=np.float32)
    Y = np.asarray(ys, dtype=np.float32)
    assert X.shape[1] == N_FEATURES + 2, X.shape
    return X, Y


# ----------------------------------------------------------------------------- model
def train(cfg: TrainConfig, out: Path = DEFAULT_WEIGHTS, progress: bool = True, log: list[str] | None = None) -> Path:
    import torch
    from torch import nn
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.monotonic()
    X, Y = build_dataset(cfg, progress)
    rng = np.random.default_rng(cfg.seed + 1)
    perm = rng.permutation(len(X))
    n_val = max(1, len(X) // 20)
    val, tr = perm[:n_val], perm[n_val:]
    feats = X[:, :N_FEATURES]
    in_mean = feats[tr].mean(0)
    in_std = feats[tr].std(0) + 1e-3
    Xt = torch.from_numpy(X)
    Yt = torch.from_numpy(Y)
    mean_t, std_t = torch.from_numpy(in_mean), torch.from_numpy(in_std)

    net = nn.Sequential(
        nn.Linear(N_FEATURES, cfg.hidden), nn.ReLU(),
        nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
        nn.Linear(cfg.hidden, 3),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * (len(tr) // cfg.batch + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)

    def loss_fn(xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = xb[:, :N_FEATURES]
        tau = f[:, -1:]
        out = net((f - mean_t) / std_t)
        d = xb[:, N_FEATURES:] * tau + tau * out[:, :2]  # (B, 2)
        sig = (nn.functional.softplus(out[:, 2:]) + 1e-3) * (tau + TAU0_S)  # (B, 1)
        err2 = ((d - yb) ** 2).sum(1, keepdim=True)
        nll = 0.5 * err2 / sig**2 + 2 * torch.log(sig)  # isotropic 2-D Gaussian
        penalty = cfg.residual_l2 * (out[:, :2] ** 2).sum(1).mean()
        return nll.mean() + penalty, err2.sqrt().mean()

    bar = tqdm(range(cfg.epochs), desc="epochs", disable=not progress)
    for epoch in bar:
        net.train()
        order = torch.from_numpy(rng.permutation(tr))
        for i in range(0, len(order), cfg.batch):
            idx = order[i : i + cfg.batch]
            loss, _ = loss_fn(Xt[idx], Yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            vl, ve = loss_fn(Xt[val], Yt[val])
        msg = f"epoch {epoch + 1}/{cfg.epochs} val nll {vl.item():.3f} val err {ve.item():.4f} box units"
        bar.set_postfix_str(msg)
        if log is not None:
            log.append(msg)

    layers = [m for m in net if isinstance(m, nn.Linear)]
    arrays = {f"w{i}": lyr.weight.detach().numpy().T.astype(np.float32) for i, lyr in enumerate(layers)}
    arrays |= {f"b{i}": lyr.bias.detach().numpy().astype(np.float32) for i, lyr in enumerate(layers)}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        in_mean=in_mean.astype(np.float32),
        in_std=in_std.astype(np.float32),
        meta_history=np.int64(HISTORY),
        meta_ls_points=np.int64(LS_POINTS),
        meta_samples=np.int64(len(X)),
        meta_seed=np.int64(cfg.seed),
        meta_epochs=np.int64(cfg.epochs),
        meta_train_s=np.float64(time.monotonic() - t0),
        meta_held_out=np.array(TUD_HELD_OUT_IDS),
        meta_tracked_share=np.float64(cfg.tracked_share),
        meta_residual_l2=np.float64(cfg.residual_l2),
        meta_occlusion_share=np.float64(cfg.occlusion_share),
        meta_entry_lag=np.float64(cfg.entry_lag),
        **arrays,
    )
    return out
