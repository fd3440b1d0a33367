"""`liveloop policy train|eval` end to end (tiny runs: a few gradient steps; the shipped checkpoint for eval)."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveloop.cli import main
from liveloop.policy.model import DiffusionPolicy


def test_train_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "rg.pt"
    log = tmp_path / "train.log"
    args = ["policy", "train", "--task", "reach_grasp", "--steps", "4", "--demos", "3", "--batch-size", "8"]
    rc = main([*args, "--gripper-scale", "0.1", "--out", str(out), "--log", str(log)])
    assert rc == 0
    policy = DiffusionPolicy.load(out)
    assert policy.config.gripper_scale == 0.1 and policy.meta["steps_done"] == 4
    assert "--gripper-scale 0.1" in policy.meta["command"]
    text = log.read_text()
    assert "expert: 3 successful of 3" in text and "K'=" in text


def test_eval_prints_success_and_ms(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["policy", "eval", "--task", "reach_grasp", "--sampler", "rti", "--episodes", "2", "--timing-episodes", "1"]
        )
        == 0
    )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("reach_grasp rti: success") and "ms per decision" in line and "NFE per decision" in line
    assert "outcomes" in line


def test_eval_rejects_unknown_sampler() -> None:
    with pytest.raises(SystemExit):
        main(["policy", "eval", "--sampler", "ddpm7"])
