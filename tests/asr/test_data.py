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
