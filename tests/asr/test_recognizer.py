from __future__ import annotations

import itertools

import numpy as np
import pytest

from liveloop.asr.recognizer import StreamConfig, StreamingRecognizer

REF = "he turned sharply and faced gregson across the table"


@pytest.fixture(scope="module")
def run_1000(model, arctic_clip):
    rec = StreamingRecognizer(model, StreamConfig(chunk_ms=1000))
    updates = []
    for i in range(0, arctic_clip.size, 1600):  # 100 ms frames
        updates += rec.feed(arctic_clip[i : i + 1600])
    updates += rec.end_segment()
    return rec, updates


def test_stream_words_timed_and_final(run_1000, arctic_clip):
    rec, updates = run_1000
    words = [w for u in updates for w in u.words]
    dur = arctic_clip.size / 16000
    assert updates[-1].final and sum(u.final for u in updates) == 1
    hyp = [w.word.strip(" .,").lower() for w in words]
    assert len(set(hyp) & set(REF.split())) >= 5  # untuned causal model at 1 s chunks: mostly right
    assert all(0.0 <= w.start_s <= w.end_s <= dur + 0.5 for w in words)
    ends = [w.end_s for w in words]
    assert ends == sorted(ends)  # committed words come out in order
    # one Update per 1 s chunk, then the final one; audio_end_s advances by the chunk
    assert [round(u.audio_end_s, 2) for u in updates[:3]] == [1.0, 2.0, 3.0]
    assert rec.encoder_s > 0 and rec.decoder_s > 0


def test_partial_then_committed(run_1000):
    _, updates = run_1000
    assert any(u.partial for u in updates[:-1])  # a tail was shown before it was committed
    assert updates[-1].partial == ""


def test_segment_limit_and_reset(model):
    rec = StreamingRecognizer(model, StreamConfig(chunk_ms=500, max_segment_s=1.0))
    ups = rec.feed(np.zeros(16000 * 2 + 800, np.float32))  # silence: 2 segments close on their own
    assert sum(u.final for u in ups) == 2
    assert rec.seg_start == 32000
    assert rec.end_segment()[-1].final
    assert rec.end_segment() == []  # nothing left


def test_config_validation():
    with pytest.raises(ValueError, match="chunk_ms must be a positive multiple of 20"):
        StreamConfig(chunk_ms=30)
    with pytest.raises(ValueError, match="max_segment_s"):
        StreamConfig(max_segment_s=40)
    with pytest.raises(ValueError, match="vocab_top_k"):
        StreamConfig(vocab_top_k=-1)
    with pytest.raises(ValueError, match="final_eot_margin must be >= 0"):
        StreamConfig(final_eot_margin=-1.0)


def test_int8_vocabulary_candidates_write_the_same_words(tuned, arctic_clip):
    """The int8 projection with fp32 re-scoring of its best candidates decides exactly as fp32 does."""
    runs = {k: _stream(tuned, arctic_clip, StreamConfig(chunk_ms=300, vocab_top_k=k)) for k in (0, 32)}
    assert runs[0][0].decoder.project.exact and not runs[32][0].decoder.project.exact
    words = {k: [(w.word, w.end_s) for u in ups for w in u.words] for k, (_, ups) in runs.items()}
    assert words[32] == words[0] and len(words[0]) >= 8


@pytest.fixture(scope="module")
def tuned(model):
    from liveloop.asr.lora import load_adapter_for

    return load_adapter_for(model, "auto")  # the shipped streaming adapter


def _stream(model, audio: np.ndarray, config: StreamConfig) -> tuple[StreamingRecognizer, list]:
    rec = StreamingRecognizer(model, config)
    updates = []
    for i in range(0, audio.size, 320):  # 20 ms frames, as a microphone delivers them
        updates += rec.feed(audio[i : i + 320])
    return rec, updates + rec.end_segment()


def test_silence_writes_nothing(tuned):
    # end-of-text is allowed as a segment's first token, so noise-only audio gives no words (no forced "I")
    noise = np.random.default_rng(0).normal(0, 3e-3, 16000 * 3).astype(np.float32)
    rec, updates = _stream(tuned, noise, StreamConfig(chunk_ms=300))
    assert [w for u in updates for w in u.words] == []
    assert rec.pause_resets == 0  # no text, so no pause to close


def test_a_speech_segment_is_not_closed_empty(tuned):
    """end_segment(speech=True) — a VAD turn — takes the best reading where the tuned model would write nothing."""
    noise = np.random.default_rng(1).normal(0, 3e-3, 16000).astype(np.float32)
    rec = StreamingRecognizer(tuned, StreamConfig(chunk_ms=300))
    rec.feed(noise)
    assert [w for u in rec.end_segment() for w in u.words] == []  # not known to be speech: nothing written
    rec.feed(noise)
    assert [w for u in rec.end_segment(speech=True) for w in u.words]  # speech: something is written
    assert not rec.decoder.block_eot_first  # only for that final decode


def test_pause_closes_the_segment_and_keeps_every_word(tuned, arctic_clip, arctic_clip2):
    gap = np.zeros(16000 * 2, np.float32)
    audio = np.concatenate([arctic_clip2, gap, arctic_clip])
    rec, updates = _stream(tuned, audio, StreamConfig(chunk_ms=300))
    words = [w.word.strip(" .,-").lower() for u in updates for w in u.words]  # "cross-the-table." → "table"
    assert rec.pause_resets >= 1  # the 2 s gap closed the first sentence's segment
    assert sum(u.final for u in updates) == rec.pause_resets + 1
    assert {"always", "want", "see"} <= set(words)  # the first sentence …
    assert {"turned", "sharply", "table"} <= set(words)  # … and the second, after the re-fed audio
    assert words.count("table") == 1 and words.count("always") == 1  # nothing heard twice
    first_end = max(i for i, w in enumerate(words) if w in {"always", "want", "see"})
    assert first_end < words.index("turned")  # in order
    assert rec.n_samples == audio.size  # the stream's sample count survived the rewind


@pytest.mark.parametrize("looped", [True, False])
def test_a_decoder_held_by_a_loop_rule_moves_on(tuned, arctic_clip, monkeypatch, looped):
    """A chunk stopped by a loop rule (the next words would repeat the segment's text) counts towards a pause
    reset like end-of-text: with an earlier adapter, pyannote's call at 1 s chunks read 'Hello, hello. Hello,
    hello' and the n-gram rule stopped every later chunk there, so the rest of the call was lost. Waiting at
    the audio's edge (not a loop) does not count: the speaker may still be in the middle of a word."""
    from liveloop.asr.commit import CommitPolicy, StepResult

    rec = StreamingRecognizer(tuned, StreamConfig(chunk_ms=300))
    rec.feed(arctic_clip[:16000])  # some real text first
    rec.policy.tentative = rec.policy.tentative or [tuned_token(rec)]
    held = StepResult(committed=[], tentative=list(rec.policy.tentative), revised=0, eot=False, looped=looped)
    monkeypatch.setattr(CommitPolicy, "step", lambda self, *a, **k: held)
    rec.feed(np.zeros(16000 * 3, np.float32))  # 3 s of chunks, each stopped the same way with the same text
    assert (rec.pause_resets >= 1) is looped


def tuned_token(rec: StreamingRecognizer) -> int:
    return rec.tokenizer.encode(" hello")[0]


def test_pyannote_call_at_1_s_chunks_is_transcribed_to_the_end(tuned):
    from liveloop.asr.audio import load_audio
    from liveloop.assets import asset_path

    audio = load_audio(asset_path("pyannote_sample"))
    _, updates = _stream(tuned, audio, StreamConfig(chunk_ms=1000))
    text = " ".join(w.word for u in updates for w in u.words).lower()
    assert "chicago" in text and "jersey" in text  # said 12-25 s into the call


def test_pause_reset_off(tuned, arctic_clip, arctic_clip2):
    audio = np.concatenate([arctic_clip2, np.zeros(16000 * 2, np.float32), arctic_clip])
    rec, _ = _stream(tuned, audio, StreamConfig(chunk_ms=300, pause_reset_s=0))
    assert rec.pause_resets == 0
    with pytest.raises(ValueError, match="pause_reset_s"):
        StreamConfig(pause_reset_s=-1)


def test_pause_reset_default_follows_the_model(model, tuned):
    # the base model's end-of-text at the audio's edge means "wait", so only a streaming-tuned one resets
    assert StreamingRecognizer(model, StreamConfig(chunk_ms=300)).pause_frames == 0
    assert StreamingRecognizer(tuned, StreamConfig(chunk_ms=300)).pause_frames == 45  # 0.9 s of 20 ms frames
    assert StreamingRecognizer(model, StreamConfig(chunk_ms=300, pause_reset_s=1.0)).pause_frames == 50


@pytest.mark.parametrize(("rule", "frames"), [("eot", 30), ("2", 45), ("1", 45), ("1+eot", 45), ("s1", 45)])
def test_the_eot_rule_closes_a_pause_sooner(model, tuned, rule, frames):
    """Under the "eot" rule everything up to end-of-text is committed already, so a reset after two unchanged
    300 ms chunks (0.6 s) only lets the held-back words out sooner; the n-token rules keep 0.9 s."""
    from liveloop.asr.commit import CommitConfig

    commit = CommitConfig.from_spec(rule)
    assert StreamingRecognizer(tuned, StreamConfig(chunk_ms=300, commit=commit)).pause_frames == frames
    assert StreamingRecognizer(model, StreamConfig(chunk_ms=300, commit=commit)).pause_frames == 0
    assert StreamingRecognizer(tuned, StreamConfig(commit=commit, pause_reset_s=0.4)).pause_frames == 20


def test_final_eot_margin_is_on_for_the_tuned_model_only(model, tuned):
    assert StreamingRecognizer(model).final_eot_margin == 0.0  # whisper's own end-of-text
    assert StreamingRecognizer(tuned).final_eot_margin == 1.5
    assert StreamingRecognizer(tuned, StreamConfig(final_eot_margin=0.0)).final_eot_margin == 0.0


def test_the_jump_back_and_edge_rules_are_for_the_base_model_only(model, tuned):
    from liveloop.asr.commit import DEFAULT_MAX_BACK_FRAMES, CommitConfig

    def back(m, cfg: StreamConfig) -> int | None:
        return StreamingRecognizer(m, cfg).policy.config.max_back_frames

    assert back(model, StreamConfig(chunk_ms=300)) == DEFAULT_MAX_BACK_FRAMES
    assert back(tuned, StreamConfig(chunk_ms=300)) == 0
    mine = StreamConfig(chunk_ms=300, commit=CommitConfig(max_back_frames=10))
    assert back(tuned, mine) == 10  # a set value is kept
    edge = StreamingRecognizer(tuned, StreamConfig(chunk_ms=300)).policy.config.edge_frames
    assert (StreamingRecognizer(model, StreamConfig(chunk_ms=300)).policy.config.edge_frames, edge) == (2, 0)


def test_a_pause_reset_always_moves_on(tuned, arctic_clip, monkeypatch):
    """A pause reset re-feeds the audio after the last committed word. When the words' timestamps sit at the
    segment's start (DTW put them there: pyannote's "Okay." with an encoder-only adapter at 2 s chunks) and the
    text was written in the first block, that cut was the segment's start: the same audio was fed again, the
    same word written again, until the recursion limit. The cut is now at least where the text stopped
    changing."""
    from liveloop.asr import recognizer as rec_mod

    def at_start(tokenizer, align, text, n_sot):
        words, toks = tokenizer.split_to_word_tokens(list(text))
        return [(w, t, 0.0, 0.0) for w, t in zip(words, toks, strict=True)]

    monkeypatch.setattr(rec_mod, "word_timings", at_start)
    audio = np.concatenate([arctic_clip[:16000], np.zeros(16000 * 4, np.float32)])  # text in the first block
    rec, updates = _stream(tuned, audio, StreamConfig(chunk_ms=2000))
    words = [w.word for u in updates for w in u.words]
    assert rec.pause_resets >= 1
    assert words and len(words) == len(set(words))  # each word written once
    assert rec.n_samples == audio.size


@pytest.mark.parametrize("chunk_ms", [40, 500, 2000])
@pytest.mark.parametrize("rule", ["2", "eot"])
def test_any_chunk_and_rule_keeps_the_stream_whole(tuned, arctic_clip, arctic_clip2, chunk_ms, rule):
    """A bounded version of the robustness sweep in docs/asr-training.md: speech, a short gap, noise and speech
    again, in 300 ms frames. Every sample is counted, words come out in time order, none is written twice."""
    from liveloop.asr.commit import CommitConfig

    noise = np.random.default_rng(0).normal(0, 0.02, 16000).astype(np.float32)
    audio = np.concatenate([arctic_clip2, np.zeros(8000, np.float32), noise, arctic_clip])
    rec = StreamingRecognizer(tuned, StreamConfig(chunk_ms=chunk_ms, commit=CommitConfig.from_spec(rule)))
    words = []
    for i in range(0, audio.size, 4800):
        words += [w for u in rec.feed(audio[i : i + 4800]) for w in u.words]
    words += [w for u in rec.end_segment() for w in u.words]
    assert rec.n_samples == audio.size and not rec.has_audio
    assert len(words) >= 8
    ends = [w.end_s for w in words]
    assert all(b >= a - 0.5 for a, b in itertools.pairwise(ends))
    assert all(0.0 <= w.start_s <= w.end_s <= audio.size / 16000 + 0.5 for w in words)
    twice = [(a.word, a.start_s) for a, b in itertools.pairwise(words) if (a.word, a.start_s) == (b.word, b.start_s)]
    assert not twice


def test_word_times_never_go_back(tuned, arctic_clip, monkeypatch):
    """Words are committed in order, so their times are too, even when a later alignment (more audio) puts a
    word before one already committed."""
    from liveloop.asr import recognizer as rec_mod

    def backwards(tokenizer, align, text, n_sot):
        words, toks = tokenizer.split_to_word_tokens(list(text))
        return [(w, t, 2.0 - 0.2 * i, 2.1 - 0.2 * i) for i, (w, t) in enumerate(zip(words, toks, strict=True))]

    monkeypatch.setattr(rec_mod, "word_timings", backwards)
    _, updates = _stream(tuned, arctic_clip, StreamConfig(chunk_ms=300))
    words = [w for u in updates for w in u.words]
    assert len(words) >= 5
    assert all(w.start_s <= w.end_s for w in words)
    assert all(b.start_s >= a.end_s for a, b in itertools.pairwise(words))


@pytest.mark.parametrize(("chunk_ms", "silence"), [(300, 2400), (3200, 0)])
def test_the_final_decode_hears_every_block_of_the_flush(tuned, arctic_clip, chunk_ms, silence):
    """The segment's end (its last audio and the zero pad) can complete whole blocks before the partial last one;
    the final decode hears all of them. The clip (3.1 s) and 150 ms of silence leave 245 ms after the last
    whole 300 ms block, so the 200 ms pad completes one more; at 3.2 s chunks the clip alone and its pad fill
    the first block. The decoder once got only the partial block after them (at 3.2 s it wrote nothing)."""
    audio = np.concatenate([arctic_clip, np.zeros(silence, np.float32)])
    _, updates = _stream(tuned, audio, StreamConfig(chunk_ms=chunk_ms))
    last = updates[-1]
    assert last.final
    assert last.audio_end_s >= audio.size / 16000  # the decoder heard the whole clip, pad included
    words = " ".join(w.word for u in updates for w in u.words).lower()
    assert "turned" in words and "table" in words
