"""The e-LAE scorer on a hand-made case whose answer is worked out below."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.elae import (
    IOU_THRESHOLDS,
    latest_available,
    precision,
    score_offline,
    score_online,
    success_auc,
)

# 4 ground-truth frames at 10 fps: a 10x10 box moving 10 px right per frame.
GT = np.array([[10.0 * i, 0, 10, 10] for i in range(4)])
# Output A (for frame 0, exact) is available at 0.05 s; output B (for frame 2, exact) at 0.25 s.
DONE = np.array([0.05, 0.25])
BOXES = np.array([GT[0], GT[2]])


def test_latest_available_is_inclusive_and_minus_one_before_the_first() -> None:
    assert latest_available(DONE, np.array([0.0, 0.05, 0.1, 0.25, 0.3])).tolist() == [-1, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="non-decreasing"):
        latest_available(np.array([0.2, 0.1]), np.array([0.3]))


def test_hand_made_case() -> None:
    score = score_online(GT, DONE, BOXES, fps=10.0, sigmas=np.array([0.0, 0.5]))
    # σ = 0: queries at 0, .1, .2, .3 s → nothing, A, A, B vs frames 0..3:
    #   IoU 0, 0 (A touches frame 1's box), 0, 0 → AUC 0; centre errors ∞, 10, 20, 10 → precision 3/4
    # σ = 0.5: queries at .05, .15, .25, .35 → A, A, B, B: IoU 1, 0, 1, 0
    #   → share with IoU > th is 1/2 for the 20 thresholds below 1, 0 at th = 1 → AUC 10/21;
    #   centre errors 0, 10, 0, 10 → precision 1
    assert score.auc.tolist() == pytest.approx([0.0, 10 / 21])
    assert score.precision.tolist() == pytest.approx([0.75, 1.0])
    assert score.mauc == pytest.approx(5 / 21)
    assert score.mdp == pytest.approx(0.875)


def test_a_predictive_output_is_scored_by_its_box_for_the_scored_frame() -> None:
    # The same schedule, but each output predicts frames first .. first + 1 exactly (perfect PVT++):
    # A covers frames 0-1, B frames 2-3; past the end the last box holds.
    boxes = np.stack([GT[[0, 1]], GT[[2, 3]]])  # (M = 2, K = 2, 4)
    score = score_online(GT, DONE, boxes, fps=10.0, sigmas=np.array([0.0, 0.5]), out_first_frame=np.array([0, 2]))
    # σ = 0: nothing, A→frame 1, A→frame 2 (held: A's last box is frame 1's), B→frame 3: IoU 0, 1, 0, 1;
    #   centre errors ∞, 0, 10, 0
    # σ = 0.5: A→0, A→1, B→2, B→3: all exact
    assert score.auc.tolist() == pytest.approx([10 / 21, 20 / 21])
    assert score.precision.tolist() == pytest.approx([0.75, 1.0])
    # one box per output is the K = 1 case
    flat = score_online(GT, DONE, BOXES[:, None, :], fps=10.0, out_first_frame=np.array([0, 2]))
    assert flat.mauc == pytest.approx(score_online(GT, DONE, BOXES, fps=10.0).mauc)


def test_offline_scores_each_frame_against_its_own_output() -> None:
    auc, dp = score_offline(GT, GT)
    assert auc == pytest.approx(20 / 21) and dp == 1.0
    shifted = GT + np.array([5.0, 0, 0, 0])  # IoU 1/3 everywhere, centre error 5 px
    auc, dp = score_offline(shifted, GT)
    assert auc == pytest.approx(float(np.sum(IOU_THRESHOLDS < 1 / 3)) / len(IOU_THRESHOLDS))
    assert dp == 1.0


def test_missing_output_scores_zero() -> None:
    pred = GT.copy()
    pred[1] = np.nan
    auc, dp = score_offline(pred, GT)
    assert auc == pytest.approx(0.75 * 20 / 21)
    assert dp == 0.75


def test_malformed_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="done times"):
        score_online(GT, DONE, BOXES[:1])
    with pytest.raises(ValueError, match="fps"):
        score_online(GT, DONE, BOXES, fps=0)
    with pytest.raises(ValueError, match="out_first_frame"):
        score_online(GT, DONE, np.stack([GT[:2], GT[2:]]))
    with pytest.raises(ValueError, match="first frames"):
        score_online(GT, DONE, np.stack([GT[:2], GT[2:]]), out_first_frame=np.array([0]))
    with pytest.raises(ValueError, match=r"\(M, 4\)"):
        score_online(GT, DONE, np.zeros((2, 3)))
    with pytest.raises(ValueError):
        success_auc(np.array([]))
    with pytest.raises(ValueError):
        precision(np.array([]))
