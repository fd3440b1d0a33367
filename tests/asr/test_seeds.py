"""`liveloop asr train --seeds …`: several seeds as child processes, then their mean (`liveloop.asr.seeds`)."""

from __future__ import annotations

import pytest
import torch

from liveloop.asr.recognizer import get_tokenizer
from liveloop.asr.seeds import child_argv, parse_seeds, seed_out
from liveloop.asr.train import recipe_config
from liveloop.asr.train_data import Example, save_pack
from liveloop.cli import main


def test_seed_specs_and_output_names():
    assert parse_seeds("1-3,7") == [1, 2, 3, 7] and parse_seeds(" 5 ") == [5]
    for bad, why in (("a", "'a'"), ("3-1", "'3-1'"), ("1,2,1", "twice"), ("", "''")):
        with pytest.raises(ValueError, match=why):
            parse_seeds(bad)
    assert str(seed_out("runs/s{seed:02d}.pt", 3)) == "runs/s03.pt"
    with pytest.raises(ValueError, match="must hold"):
        seed_out("runs/a.pt", 3)
    argv = child_argv(["--steps", "5"], 3, seed_out("s{seed}.pt", 3))
    assert argv[1:] == ["-m", "liveloop", "asr", "train", "--steps", "5", "--seed", "3", "--out", "s3.pt"]


def test_seed_runner_flags_are_checked(tmp_path, capsys):
    assert main(["asr", "train", "--seeds", "1-2", "--out", str(tmp_path / "a.pt")]) == 2
    assert "'{seed}'" in capsys.readouterr().err
    assert main(["asr", "train", "--seeds", "1-2", "--seed", "4", "--out", "s{seed}.pt"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["asr", "train", "--seeds", "1-2", "--save-pack", "d.pack", "--out", "s{seed}.pt"]) == 2
    assert "then --seeds with --pack" in capsys.readouterr().err
    assert main(["asr", "train", "--average", "x.pt", "--steps", "1"]) == 2
    assert "need --seeds" in capsys.readouterr().err


def test_seeds_train_in_child_processes_and_are_averaged(model, arctic_clip, tmp_path, capsys):
    """Two seeds, two at once, on a pack of one clip; then their mean. Each child gets the parent's training
    flags, its own seed and its own file."""
    words = [([int(t) for t in get_tokenizer(model).encode(" Hello")], 0.6)]
    pack = tmp_path / "data.pack"
    clip = Example(arctic_clip[: 16000 * 2], words)
    save_pack(pack, [clip], [clip], recipe_config())
    pattern = str(tmp_path / "runs" / "s{seed}.pt")
    avg = tmp_path / "mean.pt"
    train = ["asr", "train", "--pack", str(pack), "--steps", "2", "--chunks", "300", "--lora-parts", "encoder,cross"]
    runner = ["--seeds", "1-2", "--jobs", "2", "--out", pattern, "--average", str(avg), "--average-rank", "4"]
    rc = main([*train, *runner])
    assert rc == 0, capsys.readouterr()
    for s in (1, 2):
        blob = torch.load(tmp_path / "runs" / f"s{s}.pt", map_location="cpu", weights_only=False)
        meta = blob["meta"]
        assert meta["seed"] == s and meta["steps"] == 2 and meta["pack"] == str(pack)
        assert tuple(meta["lora_parts"]) == ("encoder", "cross")  # every seed got the training flags
        assert not any(n.startswith("decoder.") and ".attn." in n for n in blob["state"])
        assert "saved adapter" in (tmp_path / "runs" / f"s{s}.pt.log").read_text()
    meta = torch.load(avg, map_location="cpu", weights_only=False)["meta"]
    assert [p["seed"] for p in meta["averaged"]] == [1, 2] and meta["svd_rank"] == 4


def test_a_failed_seed_is_named_with_its_log(tmp_path, capsys):
    pattern = str(tmp_path / "s{seed}.pt")
    rc = main(["asr", "train", "--pack", str(tmp_path / "missing.pack"), "--seeds", "3", "--out", pattern])
    err = capsys.readouterr().err
    assert rc == 1 and "seeds [3] failed" in err and "s3.pt.log" in err
    assert "missing.pack" in (tmp_path / "s3.pt.log").read_text()
