"""Matching tracks to detections: IoU cost, Hungarian assignment, gating (SORT).

`associate(track_boxes, det_boxes, iou_min)` solves the assignment that
maximises total IoU (`scipy.optimize.linear_sum_assignment`) and then drops
pairs whose IoU is below `iou_min` (they are not the same object, whatever the
optimum says). Boxes are ``(N, 4)`` arrays of ``(x, y, w, h)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N, 4) against every box in `b` (M, 4) → (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax0, ay0 = a[:, 0:1], a[:, 1:2]
    ax1, ay1 = ax0 + a[:, 2:3], ay0 + a[:, 3:4]
    bx0, by0 = b[:, 0], b[:, 1]
    bx1, by1 = bx0 + b[:, 2], by0 + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)  # (N, M)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] * a[:, 3])[:, None]
    area_b = (b[:, 2] * b[:, 3])[None, :]
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) arrays → (N,)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


@dataclass(frozen=True, slots=True)
class Assignment:
    matches: tuple[tuple[int, int], ...]  # (track index, detection index)
    unmatched_tracks: tuple[int, ...]
    unmatched_detections: tuple[int, ...]


def center_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Centre distance of every box in `a` (N, 4) to every box in `b` (M, 4), in units of the
    geometric mean size sqrt(w h) of the `a` box → (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ca = a[:, :2] + a[:, 2:] / 2
    cb = b[:, :2] + b[:, 2:] / 2
    d = np.hypot(ca[:, None, 0] - cb[None, :, 0], ca[:, None, 1] - cb[None, :, 1])
    size = np.sqrt(np.maximum(a[:, 2] * a[:, 3], 1.0))[:, None]
    return d / size


def associate(
    track_boxes: np.ndarray, det_boxes: np.ndarray, iou_min: float = 0.3, max_center_dist: float = 0.0
) -> Assignment:
    """Hungarian assignment on IoU with a gate: pairs below `iou_min` stay unmatched.

    With `max_center_dist` > 0 a second Hungarian pass pairs what is left by centre
    distance (in track box sizes, gated at `max_center_dist`) with similar sizes (within 2x):
    a fast object seen at a low frame rate does not overlap its prediction (ByteTrack-style
    second stage, here on geometry).
    """
    if not 0.0 <= iou_min <= 1.0:
        raise ValueError(f"iou_min must be in [0, 1], got {iou_min}")
    if max_center_dist < 0:
        raise ValueError(f"max_center_dist must be >= 0, got {max_center_dist}")
    n, m = len(track_boxes), len(det_boxes)
    if n == 0 or m == 0:
        return Assignment((), tuple(range(n)), tuple(range(m)))
    ious = iou_matrix(track_boxes, det_boxes)
    rows, cols = linear_sum_assignment(-ious)
    matches = tuple(
        (int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ious[r, c] >= iou_min and ious[r, c] > 0
    )
    mt = {r for r, _ in matches}
    md = {c for _, c in matches}
    if max_center_dist > 0:
        rest_t = [i for i in range(n) if i not in mt]
        rest_d = [j for j in range(m) if j not in md]
        if rest_t and rest_d:
            tb = np.asarray(track_boxes, dtype=np.float64).reshape(-1, 4)[rest_t]
            db = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)[rest_d]
            dist = center_distance(tb, db)
            ratio = (
                np.sqrt(np.maximum(tb[:, 2] * tb[:, 3], 1.0))[:, None]
                / np.sqrt(np.maximum(db[:, 2] * db[:, 3], 1.0))[None, :]
            )
            ok = (dist <= max_center_dist) & (ratio < 2.0) & (ratio > 0.5)
            cost = np.where(ok, dist, 1e6)
            r2, c2 = linear_sum_assignment(cost)
            extra = tuple((rest_t[r], rest_d[c]) for r, c in zip(r2, c2, strict=True) if ok[r, c])
            matches = matches + extra
            mt |= {r for r, _ in extra}
            md |= {c for _, c in extra}
    return Assignment(
        matches,
        tuple(i for i in range(n) if i not in mt),
        tuple(j for j in range(m) if j not in md),
    )
