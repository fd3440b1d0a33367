"""LoRA adapters and the streaming fine-tuning objective (a smoke test of the training path on real weights)."""

from __future__ import annotations

import copy
import json
import os
import random

import numpy as np
import pytest
import torch

from liveloop.asr.encoder import encode_parallel
from liveloop.asr.features import LogMelConfig, StreamingLogMel
from liveloop.asr.lora import (
    LoRALinear,
    add_lora,
    average_adapters,
    is_streaming_tuned,
    load_adapter_for,
    merged,
    save_adapter,
    target_names,
)
from liveloop.asr.recognizer import get_tokenizer
from liveloop.asr.train import (
    OfflineFeatures,
    TrainConfig,
    decoder_logits,
    keep_reading,
    spec_augment,
    streaming_batch,
    train_step,
)
from liveloop.asr.train_data import Example


@pytest.fixture(scope="module")
def lora_model(model):
    m = copy.deepcopy(model)
    params = add_lora(m, rank=4, alpha=8.0)
    return m, params


def test_untrained_adapter_is_the_base_model(model, lora_model):
    m, params = lora_model
    assert len(params) == 2 * len(target_names(model)) == 2 * (4 * 4 + 4 * 8)
    mel = torch.randn(1, 80, 100)
    with torch.no_grad():
        torch.testing.assert_close(encode_parallel(m, mel, 5), encode_parallel(model, mel, 5))
    assert all(not p.requires_grad for n, p in m.named_parameters() if ".A" not in n and ".B" not in n)


def test_an_adapter_can_leave_out_parts_and_merges_only_those(model, tmp_path):
    m = copy.deepcopy(model)
    params = add_lora(m, rank=2, alpha=2.0, parts=("encoder", "cross"))
    wrapped = {n for n, mod in m.named_modules() if isinstance(mod, LoRALinear)}
    assert wrapped == set(target_names(model, ("encoder", "cross"))) and len(params) == 2 * len(wrapped)
    assert not any(".attn." in n and n.startswith("decoder.") for n in wrapped)  # decoder self-attention is left alone
    assert isinstance(m.decoder.blocks[0].cross_attn.query, LoRALinear)
    assert not isinstance(m.decoder.blocks[0].attn.query, LoRALinear)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, LoRALinear):
                mod.B.normal_(0, 0.01)
    path = tmp_path / "parts.pt"
    save_adapter(m, path, rank=2, alpha=2.0, chunk_ms=300, meta={"lora_parts": ["encoder", "cross"]})
    tuned = merged(model, path)
    torch.testing.assert_close(tuned.decoder.blocks[0].attn.query.weight, model.decoder.blocks[0].attn.query.weight)
    assert not torch.equal(
        tuned.decoder.blocks[0].cross_attn.query.weight, model.decoder.blocks[0].cross_attn.query.weight
    )
    for bad in ((), ("encoder", "ffn")):
        with pytest.raises(ValueError, match=r"LoRA parts .* must be distinct members"):
            target_names(model, bad)


def test_save_merge_roundtrip(model, tmp_path):
    m = copy.deepcopy(model)
    add_lora(m, rank=2, alpha=2.0)
    lin = m.encoder.blocks[0].attn.query
    assert isinstance(lin, LoRALinear)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, LoRALinear):
                mod.B.normal_(std=0.01)
    path = tmp_path / "a.pt"
    save_adapter(m, path, rank=2, alpha=2.0, chunk_ms=300, meta={"test": True})
    assert path.stat().st_size < 2_000_000  # a few hundred kB for rank 2
    out = merged(model, path)
    x = torch.randn(3, 384)
    with torch.no_grad():
        torch.testing.assert_close(out.encoder.blocks[0].attn.query(x), lin(x), atol=1e-5, rtol=1e-5)
        assert not torch.equal(out.encoder.blocks[0].attn.query.weight, model.encoder.blocks[0].attn.query.weight)
    assert load_adapter_for(model, "none") is model
    assert load_adapter_for(model, path) is load_adapter_for(model, path)  # merged once per process
    # a merged model says so (with the adapter's metadata)
    assert is_streaming_tuned(out) and out.liveloop_adapter["test"] is True and not is_streaming_tuned(model)
    bad = tmp_path / "bad.pt"
    torch.save({"format": "other"}, bad)
    with pytest.raises(ValueError, match="not a liveloop ASR adapter"):
        merged(model, bad)
    with pytest.raises(FileNotFoundError, match="adapter file not found"):
        load_adapter_for(model, tmp_path / "missing.pt")


def test_averaged_adapters_merge_to_the_mean_update(model, tmp_path):
    """Seeds' adapters of different rank and scale average exactly; with --rank the SVD keeps the main directions."""
    paths = []
    for seed, (rank, alpha) in enumerate([(2, 2.0), (2, 4.0), (3, 3.0)]):
        torch.manual_seed(seed)
        m = copy.deepcopy(model)
        add_lora(m, rank=rank, alpha=alpha)
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, LoRALinear):
                    mod.B.normal_(std=0.01)
        paths.append(tmp_path / f"s{seed}.pt")
        save_adapter(m, paths[-1], rank=rank, alpha=alpha, chunk_ms=300, meta={"seed": seed})
    w = lambda mod: mod.encoder.blocks[1].attn.value.weight  # noqa: E731
    mean = sum(w(merged(model, p)) for p in paths) / 3
    exact = average_adapters(paths, tmp_path / "avg.pt")
    assert exact["rank"] == 7 and [a["path"] for a in exact["meta"]["averaged"]] == [str(p) for p in paths]
    assert [a["seed"] for a in exact["meta"]["averaged"]] == [0, 1, 2]  # each part says where it came from
    torch.testing.assert_close(w(merged(model, tmp_path / "avg.pt")), mean, atol=1e-6, rtol=1e-5)
    cut = average_adapters(paths, tmp_path / "avg2.pt", rank=2)
    assert cut["state"]["encoder.blocks.1.attn.value"]["A"].shape[0] == 2
    err_cut = (w(merged(model, tmp_path / "avg2.pt")) - mean).norm()
    assert 0 < err_cut < (w(model) - mean).norm()  # rank 2 of a rank-7 mean: close to it, not exact
    with pytest.raises(ValueError, match="no adapters"):
        average_adapters([], tmp_path / "none.pt")


def test_streaming_targets_are_words_ended_before_the_cut(model):
    tok = get_tokenizer(model)
    words = [(tok.encode(" one"), 0.5), (tok.encode(" two"), 1.1), (tok.encode(" three"), 1.9)]
    ex = Example(np.zeros(int(2.5 * 16000), np.float32), words)
    sot, eot = list(tok.sot_sequence_including_notimestamps), tok.eot
    seqs, valid, n_frames = streaming_batch(ex, 300, 20, sot, eot, random.Random(0))
    assert valid[-1] == n_frames and all(v % 15 == 0 for v in valid[:-1])
    for s, v in zip(seqs, valid, strict=True):
        t_cut = v / 50
        expect = [t for toks, end in words if end <= t_cut or v == n_frames for t in toks]
        assert s == [*sot, *expect, eot]
    assert seqs[-1] == [*sot, *tok.encode(" one two three"), eot]


def test_anticipation_teaches_words_that_end_just_after_the_cut(model):
    tok = get_tokenizer(model)
    words = [(tok.encode(" one"), 0.5), (tok.encode(" two"), 1.1), (tok.encode(" three"), 1.9)]
    ex = Example(np.zeros(int(2.5 * 16000), np.float32), words)
    sot, eot = list(tok.sot_sequence_including_notimestamps), tok.eot
    seqs, valid, _ = streaming_batch(ex, 300, 20, sot, eot, random.Random(0), anticipate_ms=100)
    by_cut = dict(zip(valid, seqs, strict=True))
    assert 45 in by_cut  # the cut at 0.9 s: "two" ends 0.2 s later, too far
    assert by_cut[45] == [*sot, *tok.encode(" one"), eot]
    seqs, valid, _ = streaming_batch(ex, 300, 20, sot, eot, random.Random(0), anticipate_ms=200)
    assert dict(zip(valid, seqs, strict=True))[45] == [*sot, *tok.encode(" one two"), eot]
    with pytest.raises(ValueError, match="anticipate_ms"):
        TrainConfig(anticipate_ms=-1)


def test_spec_augment_masks_bands_and_spans_with_the_mean_level():
    mel = torch.linspace(-1.0, 1.0, 80 * 400).reshape(80, 400)
    out = spec_augment(mel, random.Random(3), max_freq=15, max_time=40)
    assert out.shape == mel.shape and not torch.equal(out, mel)
    changed = out != mel
    rows = changed.all(dim=1).nonzero().flatten()  # frequency masks cover whole rows
    cols = changed.all(dim=0).nonzero().flatten()  # time masks cover whole columns
    assert 0 < rows.numel() <= 2 * 15 and cols.numel() <= 2 * min(40, 400 // 20)
    assert torch.all(out[changed] == mel.mean())  # masked cells hold the clip's mean level
    torch.testing.assert_close(mel, torch.linspace(-1.0, 1.0, 80 * 400).reshape(80, 400))  # input left alone
    with pytest.raises(ValueError, match="specaug"):
        TrainConfig(specaug=1.5)


def test_keep_reading_is_zero_for_the_base_model_and_positive_once_the_decoder_moves(arctic_clip, model):
    m = copy.deepcopy(model)
    params = add_lora(m, rank=4, alpha=8.0)
    tok = get_tokenizer(m)
    sot = list(tok.sot_sequence_including_notimestamps)
    full = [*sot, *tok.encode(" He turned sharply"), tok.eot]
    mel_fe = StreamingLogMel(LogMelConfig(m.dims.n_mels))
    mel = torch.cat([mel_fe.feed(arctic_clip[: 16000 * 2]), mel_fe.flush(3200)], 1)
    assert keep_reading(m, model, mel, full, len(sot)).item() == pytest.approx(0.0, abs=1e-5)  # B = 0: the base
    with torch.no_grad():
        for p in params:
            p.add_(0.05 * torch.randn_like(p))
    kl = keep_reading(m, model, mel, full, len(sot))
    assert kl.item() > 1e-4
    kl.backward()  # the term trains the decoder's adapter; the encoder's frames carry no gradient here
    moved = {name: params[2 * i + 1].grad is not None for i, name in enumerate(target_names(m))}  # B's gradient
    assert not any(v for k, v in moved.items() if k.startswith("encoder"))
    assert all(v for k, v in moved.items() if k.startswith("decoder"))
    with pytest.raises(ValueError, match="keep"):
        TrainConfig(keep=-1.0)


def test_decoder_logits_masked_frames_are_ignored(model):
    feats = torch.randn(1, 40, 384).repeat(2, 1, 1)  # the same audio twice
    tokens = torch.tensor([[50257, 50362, 400], [50257, 50362, 400]])
    valid = torch.zeros(2, 40, dtype=torch.bool)
    valid[0, :20] = True
    valid[1, :20] = True
    feats2 = feats.clone()
    feats2[1, 20:] = 0.0  # different content after the cut of example 1
    with torch.no_grad():
        out = decoder_logits(model, tokens, feats2, valid)
    torch.testing.assert_close(out[0], out[1])


def test_one_training_step_updates_only_lora(arctic_clip, lora_model):
    m, params = lora_model
    tok = get_tokenizer(m)
    words = [(tok.encode(" He"), 0.46), (tok.encode(" turned"), 0.68), (tok.encode(" sharply"), 1.0)]
    ex = Example(arctic_clip[: 16000 * 2], words)
    cfg = TrainConfig(clips=1, steps=1, cuts=2)
    loss = train_step(
        m, ex, 300, cfg, list(tok.sot_sequence_including_notimestamps), tok.eot, random.Random(0), torch.device("cpu")
    )
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert m.decoder.token_embedding.weight.grad is None  # the base stays frozen
    for p in params:
        p.grad = None


def test_distillation_pulls_the_causal_encoder_towards_the_offline_one(model, arctic_clip, lora_model):
    m, params = lora_model
    tok = get_tokenizer(m)
    ex = Example(arctic_clip[: 16000 * 2], [(tok.encode(" He"), 0.46)])
    teacher = OfflineFeatures(model, torch.device("cpu"))
    feats = teacher(ex, 100)
    assert feats.shape == (100, model.dims.n_audio_state)
    assert teacher(ex, 50).shape[0] == 50 and len(teacher._cache) == 1  # computed once per clip
    torch.testing.assert_close(teacher(ex, 100), feats)
    fresh = OfflineFeatures(model, torch.device("cpu"), cache=False)  # composed examples: nothing kept
    torch.testing.assert_close(fresh(ex, 100), feats)
    assert not fresh._cache
    args = (ex, 300)
    sot, dev = list(tok.sot_sequence_including_notimestamps), torch.device("cpu")
    plain = train_step(m, *args, TrainConfig(cuts=2), sot, tok.eot, random.Random(0), dev, teacher)
    both = train_step(m, *args, TrainConfig(cuts=2, distill=1.0), sot, tok.eot, random.Random(0), dev, teacher)
    # same cuts (same rng seed): the difference is the distillation term, a mean squared feature error > 0
    assert both.item() > plain.item() + 1e-4
    both.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    for p in params:
        p.grad = None


def test_train_config_validation():
    with pytest.raises(ValueError, match="chunks_ms must be multiples of 20"):
        TrainConfig(chunks_ms=(30,))
    with pytest.raises(ValueError, match="clips and steps must be >= 1"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="distill must be >= 0"):
        TrainConfig(distill=-1.0)
    for parts in ((), ("encoder", "encoder"), ("encoder", "mlp")):
        with pytest.raises(ValueError, match=r"lora_parts.* must be distinct members"):
            TrainConfig(lora_parts=parts)


def test_training_text_never_holds_evaluation_text():
    from liveloop.asr.data import EVAL_SENTENCES, VOICE_PROMPTS, docstring_sentences, training_sentences

    held = {s.lower().strip(".?!") for s in (*EVAL_SENTENCES, *VOICE_PROMPTS)}
    mixed = training_sentences(400, text="mixed")
    assert len(mixed) == 400 and not held & {s.lower().strip(".?!") for s in mixed}
    assert training_sentences(50) == training_sentences(50, text="templates")  # the shipped adapter's data
    openers = {s.split()[0] for s in mixed}
    assert len(openers) > 3 * len({s.split()[0] for s in training_sentences(400)})  # far more first words
    docs = docstring_sentences()
    assert len(docs) > 1000 and all(4 <= len(s.split()) <= 14 and s[-1] in ".!?" for s in docs)
    with pytest.raises(ValueError, match="text must be"):
        training_sentences(1, text="books")


def test_train_config_rejects_bad_variety_settings():
    with pytest.raises(ValueError, match="speed"):
        TrainConfig(speed=0.9)
    with pytest.raises(ValueError, match="espeak_clips needs text='mixed'"):
        TrainConfig(espeak_clips=5)
    with pytest.raises(ValueError, match="batch"):
        TrainConfig(batch=0)


def test_training_with_a_batch_and_a_time_budget_stops_and_saves(model, arctic_clip, tmp_path, monkeypatch):
    import liveloop.asr.train as T

    words = [([int(t) for t in get_tokenizer(model).encode(" Hello")], 0.6)]
    data = [Example(arctic_clip[: 16000 * 2], words)]
    monkeypatch.setattr(T, "build_dataset", lambda base, cfg, log: data)
    out = tmp_path / "a.pt"
    cfg = TrainConfig(steps=1000, batch=2, max_minutes=1e-4, speed=0.1, chunks_ms=(300,), save_every=500, out=str(out))
    lines: list[str] = []
    T.train(cfg, lines.append)
    meta = torch.load(out, map_location="cpu", weights_only=False)["meta"]
    assert 1 <= meta["step"] < 1000 and meta["batch"] == 2  # the budget (6 ms) ended it, and it saved
    assert meta["steps"] == meta["step"] and meta["max_minutes"] == 0.0 and meta["budget_minutes"] == 1e-4
    assert any("saved adapter" in line for line in lines)


def test_training_data_travels_in_a_pack(model, arctic_clip, tmp_path, monkeypatch):
    """`--save-pack` writes the data and stops; `--pack` trains on it without making any data."""
    import liveloop.asr.train as T

    words = [([int(t) for t in get_tokenizer(model).encode(" Hello")], 0.6)]
    monkeypatch.setattr(T, "build_dataset", lambda base, cfg, log: [Example(arctic_clip[: 16000 * 2], words)])
    pack, out = tmp_path / "data.pack", tmp_path / "a.pt"
    assert T.train(TrainConfig(save_pack=str(pack), out=str(out)), print) == pack and not out.exists()

    def no_data(base, cfg, log):
        raise AssertionError("training from a pack must not make data")

    monkeypatch.setattr(T, "build_dataset", no_data)
    T.train(TrainConfig(pack=str(pack), steps=2, chunks_ms=(300,), out=str(out)), print)
    assert torch.load(out, map_location="cpu", weights_only=False)["meta"]["pack"] == str(pack)


def test_the_shipped_adapter_was_made_by_the_recipe():
    """`liveloop asr train` with no flags reproduces the bundled adapter's configuration (each of its seeds)."""
    from liveloop.asr.lora import BUNDLED
    from liveloop.asr.train import SHIPPED_RECIPE, recipe_config

    meta = torch.load(BUNDLED, map_location="cpu", weights_only=False)["meta"]
    cfg = recipe_config()
    for key in (*SHIPPED_RECIPE, "rank", "alpha", "lr", "cuts", "lead_s", "phone_p", "distill", "batch"):
        assert meta[key] == getattr(cfg, key), key
    assert "train_speech_tortoise" in cfg.real_assets
    assert tuple(meta["chunks_ms"]) == cfg.chunks_ms and meta["steps"] == cfg.steps and not meta["init"]
    # the mean of seeds 1-32, each trained on one pack of the recipe's data, cut to rank 16
    # (liveloop asr average tiny.en-causal.pt s1.pt ... s32.pt --rank 16)
    assert meta["svd_rank"] == 16 and meta["pack"]
    assert [part["seed"] for part in meta["averaged"]] == list(range(1, 33))
    assert all(part["step"] == cfg.steps for part in meta["averaged"])
    assert recipe_config(steps=5, speed=None).steps == 5 and recipe_config(speed=None).speed == 0.15


def test_people_speech_is_labelled_once_per_recording_and_cached_by_name(model, arctic_clip, tmp_path, monkeypatch):
    """Each recording gets a cache folder named after it (two files of one basename in different assets do
    not collide), and a second build reads the cache instead of transcribing again."""
    import liveloop.asr.data as D
    import liveloop.asr.weights as W
    from liveloop.asr.train_data import build_real_dataset

    recordings = [("asset_a/x/1.wav", arctic_clip), ("asset_b/y/1.wav", arctic_clip[: 16000 * 2])]
    monkeypatch.setattr(D, "training_speech", lambda assets: recordings)
    cfg = TrainConfig(real_teacher="tiny.en", data_dir=str(tmp_path))
    first = build_real_dataset(model, cfg, print)
    root = tmp_path / "real-tiny.en"
    assert sorted(p.name for p in root.iterdir()) == ["asset_a_x_1.wav", "asset_b_y_1.wav"]
    assert [json.loads((root / n / "done.json").read_text())["file"] for n in sorted(os.listdir(root))] == [
        "asset_a/x/1.wav",
        "asset_b/y/1.wav",
    ]
    assert first and all(e.words for e in first)
    text = get_tokenizer(model).decode([t for tokens, _ in first[0].words for t in tokens])
    assert "sharply" in text.lower()

    def no_teacher(*a, **k):
        raise AssertionError("cached recordings must not be transcribed again")

    monkeypatch.setattr(W, "load_whisper", no_teacher)
    again = build_real_dataset(model, cfg, print)
    assert [e.words for e in again] == [e.words for e in first]
