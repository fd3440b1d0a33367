"""The development set's real clips and their transcripts (pocketsphinx's test speech)."""

import numpy as np
import pytest

from liveloop.asr.data import dev_set, parse_transcription, pocketsphinx_clips
from liveloop.asr.features import SAMPLE_RATE


def test_parse_transcription_reads_sphinx_lines():
    text = "<s> ten of clubs  </s> (001)\n\n<s> five five </s> (004)\n"
    assert parse_transcription(text) == {"001": "ten of clubs", "004": "five five"}


def test_parse_transcription_names_the_bad_line():
    with pytest.raises(ValueError, match=r"cards\.transcription line 2: not '<s> words </s> \(id\)'"):
        parse_transcription("<s> ten of clubs </s> (001)\nten of clubs\n", "cards.transcription")


def test_pocketsphinx_clips_are_real_speech_with_text():
    clips = {c.name: c for c in pocketsphinx_clips()}
    assert len(clips) == 11
    assert clips["librivox_0880"].reference == "he was not an ill disposed young man"
    assert clips["goforward"].reference == "go forward ten meters"
    for c in clips.values():
        assert c.audio.dtype == np.float32 and c.audio.ndim == 1
        assert 1.0 < c.audio.size / SAMPLE_RATE < 8.0, c.name
        assert 0.01 < float(np.abs(c.audio).max()) <= 1.0, c.name  # audible, and scaled to [-1, 1]


def test_quick_dev_set_mixes_real_and_synthetic_speech():
    clips = dev_set(quick=True)
    names = [c.name for c in clips]
    assert {"arctic_a0007", "librivox_0880", "cards_005", "piper_0"} <= set(names)
    assert all(c.reference for c in clips)
    assert len(names) == len(set(names))


def test_espeak_speaks_in_many_voices():
    from liveloop.asr.data import Espeak

    speaker = Espeak()
    a = speaker("Turn left at the door.", voice="en-us", variant="f2", wpm=170, pitch=60)
    b = speaker("Turn left at the door.", voice="en-gb-scotland", variant="m3", wpm=140, pitch=30)
    assert a.dtype == np.float32 and b.dtype == np.float32
    assert 0.8 < a.size / SAMPLE_RATE < 3.0 and b.size > a.size  # slower speech lasts longer
    assert np.abs(a).max() > 0.05
    rng = np.random.default_rng(0)
    voices = [Espeak.random_voice(rng) for _ in range(20)]
    assert len({(v["voice"], v["variant"]) for v in voices}) > 10


def test_espeak_errors_name_the_voice():
    from liveloop.asr.data import Espeak, EspeakError

    with pytest.raises(EspeakError, match="no-such-voice"):
        Espeak()("hello", voice="no-such-voice")
    with pytest.raises(EspeakError, match="not found"):
        Espeak("espeak-ng-missing")


def test_word_errors_counts_edits_after_normalising():
    from liveloop.asr.data import word_errors

    assert word_errors("Turn left, now!", "turn left now") == 0.0
    assert word_errors("a b c d", "a x c") == pytest.approx(0.5)
    assert word_errors("", "anything") == 1.0


def test_cut_at_pauses_makes_pieces_of_trusted_words():
    from liveloop.asr.data import cut_at_pauses

    # 3 words, a 0.5 s pause, 2 words, an untrusted word, 2 words; 1 s each word, tight inside a phrase
    words = [
        ("a", 0.0, 1.0, True),
        ("b", 1.0, 2.0, True),
        ("c", 2.0, 3.0, True),
        ("d", 3.5, 4.5, True),
        ("e", 4.5, 5.5, True),
        ("x", 5.5, 6.5, False),
        ("f", 6.5, 7.5, True),
        ("g", 7.5, 8.5, True),
    ]
    pieces = cut_at_pauses(words, duration_s=9.0, max_s=20.0, min_s=2.5)
    assert [[w for w, _ in p[2]] for p in pieces] == [["a", "b", "c"], ["d", "e"], ["f", "g"]]
    (s0, e0, w0), (s1, e1, _), (s2, e2, w2) = pieces
    assert s0 == 0.0 and e0 == pytest.approx(3.25) and w0[-1][1] == pytest.approx(3.0)  # mid-pause cut
    assert s1 == pytest.approx(3.25) and e1 == pytest.approx(5.5)  # stops where the untrusted word starts
    assert s2 == pytest.approx(6.5) and e2 == pytest.approx(8.8) and w2[0][1] == pytest.approx(1.0)
    # nothing longer than max_s: a 30 s run of 1 s words with a wider pause at 12 s
    long = [(str(k), k + (0.3 if k >= 12 else 0.0), k + 1 + (0.3 if k >= 12 else 0.0), True) for k in range(30)]
    pieces = cut_at_pauses(long, duration_s=31.0, max_s=20.0, min_s=25.0)
    assert all(e - s <= 20.0 for s, e, _ in pieces) and sum(len(w) for *_, w in pieces) == 30
    assert pieces[0][2][-1][0] == "11"  # the cut fell in the widest pause
