"""The e-LAE protocol (PVT++, ICCV'23): score what was *available*, when it was needed.

An online tracker's output for frame j only exists from the moment it finishes,
``done_s``. For each ground-truth frame i (captured at ``i / fps``) and a
permitted latency σ (in frames), e-LAE scores the latest output whose
``done_s <= (i + σ) / fps`` against frame i's ground truth; before the first
output exists, the frame scores zero. Over σ ∈ {0, 0.02, …, 1.0}:

    success AUC(σ)  mean over IoU thresholds 0, 0.05, …, 1.0 of the share of frames with IoU > threshold
    precision(σ)    share of frames whose centre error ≤ 20 px
    mAUC, mDP       the means of AUC(σ) and precision(σ) over σ

The offline score uses each frame's own output regardless of when it finished
(σ plays no role). `score_online` is pure: it takes arrays, returns numbers.

What an output says about frame i. A raw tracker output is one box, for the
frame it came from, used as is for every later frame until the next output. A
predictive output (PVT++) is a short trajectory: a box for each of the frames
``first, first + 1, …, first + K − 1`` it may be used for, and the scorer takes
the box *for the scored frame* (the time the output is used for), holding the
last one past the end and the first one before the start. With K = 1 both are
the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveloop.vision.association import iou

SIGMAS = np.round(np.arange(0, 1.0 + 1e-9, 0.02), 2)  # permitted latency, frames
IOU_THRESHOLDS = np.round(np.arange(0, 1.0 + 1e-9, 0.05), 2)
PRECISION_PX = 20.0


@dataclass(frozen=True, slots=True, eq=False)
class OnlineScore:
    auc: np.ndarray  # (len(sigmas),) success AUC per σ
    precision: np.ndarray  # (len(sigmas),)
    sigmas: np.ndarray

    @property
    def mauc(self) -> float:
        return float(self.auc.mean())

    @property
    def mdp(self) -> float:
        return float(self.precision.mean())


def success_auc(ious: np.ndarray) -> float:
    """Area under the success plot: mean over thresholds of the share of frames with IoU > threshold."""
    ious = np.asarray(ious, dtype=np.float64)
    if len(ious) == 0:
        raise ValueError("success_auc needs at least one frame")
    return float(np.mean([(ious > th).mean() for th in IOU_THRESHOLDS]))


def precision(center_err_px: np.ndarray, threshold_px: float = PRECISION_PX) -> float:
    err = np.asarray(center_err_px, dtype=np.float64)
    if len(err) == 0:
        raise ValueError("precision needs at least one frame")
    return float((err <= threshold_px).mean())


def frame_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU and centre error for row-aligned (N, 4) boxes; a NaN prediction scores IoU 0, error ∞."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    missing = np.asarray(np.isnan(pred).any(axis=1))  # (N,)
    p = np.where(missing[:, None], 0.0, pred)
    ious = np.where(missing, 0.0, iou(p, gt))
    dc = (p[:, :2] + p[:, 2:] / 2) - (gt[:, :2] + gt[:, 2:] / 2)
    err = np.where(missing, np.inf, np.hypot(dc[:, 0], dc[:, 1]))
    return ious, err


def score_offline(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """(AUC, precision) of per-frame outputs `pred` (N, 4) against `gt` (N, 4)."""
    ious, err = frame_scores(pred, gt)
    return success_auc(ious), precision(err)


def latest_available(done_s: np.ndarray, query_s: np.ndarray) -> np.ndarray:
    """For each query time, the index of the latest output with done_s <= query (or -1)."""
    done_s = np.asarray(done_s, dtype=np.float64)
    if len(done_s) > 1 and np.any(np.diff(done_s) < 0):
        raise ValueError("output done times must be non-decreasing")
    return np.searchsorted(done_s, np.asarray(query_s, dtype=np.float64), side="right") - 1


def score_online(
    gt: np.ndarray,
    out_done_s: np.ndarray,
    out_boxes: np.ndarray,
    fps: float = 30.0,
    sigmas: np.ndarray = SIGMAS,
    t0_s: float = 0.0,
    out_first_frame: np.ndarray | None = None,
) -> OnlineScore:
    """e-LAE: for each σ, score the latest output available at ``t0_s + (i + σ) / fps`` against gt[i].

    `gt` (N, 4) ground truth per frame (frame i captured at ``t0_s + i / fps``);
    `out_done_s` (M,) when each output became available; `out_boxes` what each output
    says: (M, 4), one box used for every frame it is scored against (a raw tracker box),
    or (M, K, 4) with `out_first_frame` (M,), a box for each of the frames
    ``first … first + K − 1`` (a PVT++ prediction; see the module docstring).
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    boxes = np.asarray(out_boxes, dtype=np.float64)
    if boxes.ndim == 2 and boxes.shape[1] == 4:
        boxes = boxes[:, None, :]
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise ValueError(f"out_boxes must be (M, 4) or (M, K, 4), got shape {boxes.shape}")
    if len(boxes) != len(out_done_s):
        raise ValueError(f"{len(out_done_s)} done times but {len(boxes)} boxes")
    k = boxes.shape[1]
    if out_first_frame is None:
        if k != 1:
            raise ValueError(f"out_boxes of shape {boxes.shape} need out_first_frame: which frame each row starts at")
        first = np.zeros(len(boxes), dtype=np.int64)
    else:
        first = np.asarray(out_first_frame, dtype=np.int64).reshape(-1)
        if len(first) != len(boxes):
            raise ValueError(f"{len(first)} first frames but {len(boxes)} outputs")
    n = len(gt)
    frames = np.arange(n)
    aucs, precs = [], []
    for s in sigmas:
        idx = latest_available(out_done_s, t0_s + (frames + s) / fps)
        pred = np.full((n, 4), np.nan)
        ok = idx >= 0
        col = np.clip(frames[ok] - first[idx[ok]], 0, k - 1)  # the box for the scored frame
        pred[ok] = boxes[idx[ok], col]
        ious, err = frame_scores(pred, gt)
        aucs.append(success_auc(ious))
        precs.append(precision(err))
    return OnlineScore(np.array(aucs), np.array(precs), np.asarray(sigmas))
