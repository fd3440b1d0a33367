from __future__ import annotations

import numpy as np
import pytest

from liveloop.asr.vad import FRAME, EndOfUtterance, Endpointer, SileroVad, SpeechStart, VadConfig, VadCore


def test_real_speech_between_silences(arctic_clip):
    """Real Silero on 1 s silence + a 3.1 s ARCTIC sentence + 1 s silence: one start, one end, in the right places."""
    silence = np.zeros(16000, np.float32)
    audio = np.concatenate([silence, arctic_clip, silence])
    core = VadCore(VadConfig(hangover_ms=480))
    events = []
    for i in range(0, audio.size, 320):  # 20 ms frames: not a multiple of 512
        events += core.feed(audio[i : i + 320])
    events += core.flush()
    starts = [e for e in events if isinstance(e, SpeechStart)]
    ends = [e for e in events if isinstance(e, EndOfUtterance)]
    assert len(starts) == 1 and len(ends) == 1, events
    speech_end = 1.0 + arctic_clip.size / 16000
    assert 1.0 <= starts[0].at_s <= 1.6  # the clip has a short lead-in
    assert speech_end - 0.8 <= ends[0].at_s <= speech_end + 0.1
    assert ends[0].start_s == starts[0].at_s


def test_silence_and_noise_give_no_events():
    rng = np.random.default_rng(0)
    core = VadCore()
    assert core.feed(np.zeros(16000, np.float32)) == []
    assert core.feed((0.01 * rng.standard_normal(16000)).astype(np.float32)) == []
    assert not core.speaking


def test_hysteresis_scripted():
    ep = Endpointer(VadConfig(threshold=0.5, neg_threshold=0.3, min_speech_ms=64, hangover_ms=96))
    probs = [0.1, 0.9, 0.4, 0.9, 0.9, 0.4, 0.2, 0.2, 0.9, 0.1, 0.1, 0.1]
    out = [ep.feed(p, i * 0.032) for i, p in enumerate(probs)]
    kinds = [(i, type(e).__name__) for i, e in enumerate(out) if e is not None]
    # a lone 0.9 at frame 1 is too short (needs 2 frames); frames 3-4 start speech at frame 3;
    # 0.4 stays speech (≥ neg_threshold); silence from frame 6 … frame 8 interrupts; ends after 3 quiet frames
    assert kinds == [(4, "SpeechStart"), (11, "EndOfUtterance")]
    assert out[4].at_s == pytest.approx(3 * 0.032)
    assert out[11].at_s == pytest.approx(9 * 0.032)


def test_bad_input():
    with pytest.raises(ValueError, match="512 samples"):
        SileroVad()(np.zeros(480, np.float32))
    with pytest.raises(ValueError, match="neg_threshold"):
        VadConfig(threshold=0.5, neg_threshold=0.6)
    with pytest.raises(ValueError, match="threshold must be in"):
        VadConfig(threshold=1.5)
    assert FRAME == 512
