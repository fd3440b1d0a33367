from __future__ import annotations

import numpy as np
import pytest

from liveloop.vision.association import iou
from liveloop.vision.detect import BlazeFaceDetector
from liveloop.vision.synth import Sequence, SequenceSpec, benchmark_specs


@pytest.mark.parametrize("kind", ["tud", "circle", "zigzag", "dash", "stopgo"])
def test_sequences_render_with_ground_truth_inside_the_frame(kind: str) -> None:
    seq = Sequence(SequenceSpec(kind, n_frames=30, seed=1))
    f = seq.frame(10)
    assert f.shape == (480, 640, 3) and f.dtype == np.uint8
    assert seq.gt.shape == (30, 4)
    assert np.all(seq.gt[:, 0] >= 0) and np.all(seq.gt[:, 0] + seq.gt[:, 2] <= 640)
    assert np.all(seq.gt[:, 1] >= 0) and np.all(seq.gt[:, 1] + seq.gt[:, 3] <= 480)


def test_the_pasted_face_is_where_the_ground_truth_says() -> None:
    seq = Sequence(SequenceSpec("circle", n_frames=20, seed=3, occluder=False, distractors=0))
    det = BlazeFaceDetector()
    for i in (0, 7, 15):
        found = det.detect(seq.frame(i))
        gt = seq.gt_box(i)
        assert any(abs(d.box.cx - gt.cx) < 0.2 * gt.w and abs(d.box.cy - gt.cy) < 0.2 * gt.h for d in found)


def test_ground_truth_box_has_the_detectors_size_at_the_rendered_scale() -> None:
    """The ground truth is BlazeFace's box at the face's rendered size (not the upscaled clip's box scaled
    down, which is ~1.2x smaller than what the detector reports at 80 px), so IoU measures tracking."""
    seq = Sequence(SequenceSpec("stopgo", n_frames=40, seed=6, occluder=False, distractors=0))
    det = BlazeFaceDetector()
    ratios, ious = [], []
    for i in range(0, 40, 4):
        gt = seq.gt_box(i)
        found = [d for d in det.detect(seq.frame(i)) if abs(d.box.cx - gt.cx) < 0.3 * gt.w]
        if found:
            b = max(found, key=lambda d: d.score).box
            ratios.append(b.w / gt.w)
            ious.append(float(iou(b.as_array(), gt.as_array())[0]))
    assert len(ratios) >= 8
    assert 0.93 < float(np.median(ratios)) < 1.08
    assert float(np.median(ious)) > 0.7


def test_benchmark_specs_and_bad_kind() -> None:
    assert len(benchmark_specs(quick=True)) == 6
    assert len({s.name for s in benchmark_specs()}) == len(benchmark_specs())
    with pytest.raises(ValueError, match="unknown path kind"):
        Sequence(SequenceSpec("teleport"))
