from __future__ import annotations

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
