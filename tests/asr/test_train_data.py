"""Training examples composed from cached clips (`liveloop.asr.train_data.compose`): word ends follow the audio."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.asr.train import TrainConfig
from liveloop.asr.train_data import Example, compose, load_pack, save_pack


def test_compose_shifts_word_ends_and_keeps_the_audio():
    clip = Example(np.full(16000 * 2, 0.1, np.float32), [([1], 0.5), ([2], 1.5)])
    cfg = TrainConfig(concat=3, lead_s=2.0, phone_p=0.0)
    rng = np.random.default_rng(1)
    for _ in range(10):
        ex = compose([clip], cfg, rng)
        ends = [e for _, e in ex.words]
        assert ends == sorted(ends) and len(ends) % 2 == 0
        assert ends[-1] <= ex.audio.size / 16000 - 0.5 + 1e-6  # the last clip's last word, 0.5 s before its end
        starts = [e - 1.5 for e in ends[1::2]]  # each clip's audio starts 1.5 s before its second word's end
        assert all(np.all(ex.audio[round(s * 16000) : round(s * 16000) + 100] == np.float32(0.1)) for s in starts)


def test_speed_perturbation_scales_audio_and_word_ends_together():
    # a 440 Hz tone with a word ending at 1.0 s: played 1.2x faster it is 528 Hz and the word ends at 1/1.2 s
    t = np.arange(16000 * 2) / 16000
    clip = Example(np.sin(2 * np.pi * 440 * t).astype(np.float32), [([7], 1.0), ([8], 2.0)])
    cfg = TrainConfig(speed=0.2)
    rng = np.random.default_rng(3)
    seen = []
    for _ in range(8):
        ex = compose([clip], cfg, rng)
        factor = clip.audio.size / ex.audio.size
        assert 0.8 - 0.01 <= factor <= 1.2 + 0.01
        assert ex.words[0][1] == pytest.approx(1.0 / factor, rel=0.02)
        spectrum = np.abs(np.fft.rfft(ex.audio))
        assert np.argmax(spectrum) * 16000 / ex.audio.size == pytest.approx(440 * factor, rel=0.01)
        seen.append(factor)
    assert max(seen) - min(seen) > 0.1  # the factor varies per example


def test_a_pack_round_trips_the_clips_and_names_settings_that_differ(tmp_path):
    rng = np.random.default_rng(0)
    synthetic = [Example((rng.standard_normal(1600) * 0.3).astype(np.float32), [([1, 2], 0.05)])]
    people = [
        Example((rng.standard_normal(800) * 1.4).astype(np.float32), [([3], 0.02), ([4], 0.04)]),  # peaks above 1
        Example(np.zeros(320, np.float32), []),  # silence: no division by a zero peak
    ]
    cfg = TrainConfig(real_teacher="base")
    path = tmp_path / "data.pack"
    save_pack(path, synthetic, people, cfg)
    got_s, got_p = load_pack(path, cfg)
    assert [e.words for e in got_s] == [e.words for e in synthetic] and [e.words for e in got_p] == [
        e.words for e in people
    ]
    for a, b in zip([*got_s, *got_p], [*synthetic, *people], strict=True):
        peak = max(float(np.abs(b.audio).max()), 1e-9)
        assert a.audio.dtype == np.float32 and a.audio.size == b.audio.size
        assert np.abs(a.audio - b.audio).max() <= peak / 32767  # int16 at the clip's own scale
    with pytest.raises(ValueError, match=r"other data settings.*clips"):
        load_pack(path, TrainConfig(real_teacher="base", clips=7))
    (tmp_path / "junk").write_bytes(b"not a pack")
    with pytest.raises(ValueError, match="not a training pack"):
        load_pack(tmp_path / "junk", cfg)
    with pytest.raises(ValueError, match="exclude each other"):
        TrainConfig(pack="a", save_pack="b")


def test_a_pack_names_other_speech_assets_and_reads_packs_made_before_the_field(tmp_path):
    import json

    from liveloop.asr.data import TRAINING_SPEECH_ASSETS

    more = (*TRAINING_SPEECH_ASSETS, "train_speech_tortoise")
    clip = Example(np.full(160, 0.1, np.float32), [([5], 0.01)])
    path = tmp_path / "more.pack"
    save_pack(path, [clip], [clip], TrainConfig(real_teacher="base", real_assets=more))
    assert len(load_pack(path, TrainConfig(real_teacher="base", real_assets=more))[1]) == 1
    with pytest.raises(ValueError, match="real_assets"):
        load_pack(path, TrainConfig(real_teacher="base"))
    # a pack written before real_assets was a pack field: its speech came from the default list
    z = dict(np.load(path))
    meta = json.loads(str(z["meta"]))
    del meta["fields"]["real_assets"]
    z["meta"] = np.array(json.dumps(meta))
    with open(tmp_path / "old.pack", "wb") as f:
        np.savez_compressed(f, **z)
    assert len(load_pack(tmp_path / "old.pack", TrainConfig(real_teacher="base"))[0]) == 1
    with pytest.raises(ValueError, match="real_assets"):
        load_pack(tmp_path / "old.pack", TrainConfig(real_teacher="base", real_assets=more))


def test_speech_assets_must_be_known_training_assets():
    with pytest.raises(ValueError, match=r"training assets \(.*train_speech_tortoise.*\); got \('pyannote_sample',\)"):
        TrainConfig(real_assets=("pyannote_sample",))
    with pytest.raises(ValueError, match="distinct"):
        TrainConfig(real_assets=("train_speech_ami", "train_speech_ami"))
