"""Audio in (PyAV resampling, capture stamps) and out (speech buffer, paced track)."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from liveloop.graph.clock import NS_PER_MS, VirtualClock
from liveloop.rtc.audio import (
    RTC_FRAME_SAMPLES,
    MicIngress,
    PacedAudioTrack,
    Resampler,
    SpeechBuffer,
    float_to_pcm16,
    pcm16_to_float,
)


def opus_like_frame(pts: int, hz: float = 440.0) -> av.AudioFrame:
    t = (pts + np.arange(960)) / 48_000
    tone = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
    stereo = np.stack([tone, tone], axis=1).reshape(1, -1)  # packed s16 stereo, (1, 2*960)
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, 48_000)
    return frame


def test_mic_ingress_gives_16k_mono_float_with_capture_times():
    mic = MicIngress()
    frames = []
    for i in range(50):  # 1 s of 48 kHz stereo in 20 ms frames, each sent when full, 8 ms transit
        frames += mic.feed(opus_like_frame(10_000 + i * 960), (i + 1) * 20 * NS_PER_MS + 8 * NS_PER_MS)
    total = sum(len(f.samples) for f in frames)
    assert abs(total - 16_000) <= 64  # the resampler holds back a few samples
    assert all(f.sample_rate == 16_000 and f.samples.dtype == np.float32 for f in frames)
    assert frames[10].capture_ns == 10 * 20 * NS_PER_MS + 8 * NS_PER_MS  # its first sample, plus the transit
    x = np.concatenate([f.samples for f in frames])[1000:]
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * 16_000 / len(x) - 440) < 5  # the tone survived resampling


def test_mic_ingress_rejects_frames_without_pts():
    frame = opus_like_frame(0)
    frame.pts = None
    with pytest.raises(ValueError, match="needs a pts"):
        MicIngress().feed(frame, 0)


def test_pcm16_roundtrip_and_odd_length():
    x = np.array([0.0, 0.5, -0.5, 0.999], np.float32)
    assert np.allclose(pcm16_to_float(float_to_pcm16(x)), x, atol=1e-4)
    with pytest.raises(ValueError, match="even number of bytes"):
        pcm16_to_float(b"\x00\x01\x02")


def test_resampler_22050_to_48k_keeps_duration():
    r = Resampler(48_000)
    out = np.concatenate([r.feed(np.zeros(2205, np.float32), 22_050) for _ in range(10)])
    assert out.dtype == np.int16 and abs(len(out) - 48_000) < 200


def test_speech_buffer_pads_marks_and_utterance_start():
    buf = SpeechBuffer(max_seconds=1.0)
    assert buf.pull().speech_samples == 0
    buf.mark({"text": "Hello "})
    buf.push(np.full(1500, 7, np.int16))
    buf.mark({"text": "world"})
    buf.push(np.full(500, 9, np.int16))
    a = buf.pull()
    assert a.utterance_started and a.speech_samples == 960 and a.marks == [{"text": "Hello "}]
    b = buf.pull()  # samples 960..1919: the second mark (at 1500) goes out here
    assert not b.utterance_started and b.marks == [{"text": "world"}]
    c = buf.pull()
    assert c.speech_samples == 80 and np.all(c.samples[80:] == 0)
    buf.push(np.ones(10, np.int16))
    assert buf.pull().utterance_started  # silence in between: a new utterance


def test_speech_buffer_flush_is_barge_in_and_overflow_is_rejected():
    buf = SpeechBuffer(max_seconds=0.1)  # 4800 samples
    buf.push(np.ones(4000, np.int16))
    buf.mark("late caption")
    with pytest.raises(OverflowError, match="speech buffer full"):
        buf.push(np.ones(1000, np.int16))
    assert buf.flush() == 4000
    chunk = buf.pull()
    assert chunk.speech_samples == 0 and chunk.marks == []
    with pytest.raises(ValueError, match="1-D int16"):
        buf.push(np.ones(10, np.float32))


async def test_paced_track_emits_one_20ms_frame_per_20ms_of_clock():
    clock = VirtualClock()
    buf = SpeechBuffer()
    seen = []
    track = PacedAudioTrack(buf, clock=clock, on_chunk=lambda c, t: seen.append((c.utterance_started, t)))
    buf.push(np.ones(RTC_FRAME_SAMPLES * 3, np.int16))
    times, frames = [], []
    for _ in range(5):
        frames.append(await track.recv())
        times.append(clock.now_ns())
    assert np.diff(times).tolist() == [20 * NS_PER_MS] * 4
    assert [f.pts for f in frames] == [0, 960, 1920, 2880, 3840]
    assert all(f.samples == 960 and f.sample_rate == 48_000 for f in frames)
    assert seen[0] == (True, 0) and len(seen) == 3  # only frames with speech are reported
    track.stop()
