"""Resampling with PyAV and 20 ms framing."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.tts.audio import Framer, Resampler

VOICE_HZ = 22_050


def tone(freq_hz: float, seconds: float, rate: int = VOICE_HZ) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


@pytest.mark.parametrize("out_hz", [48_000, 24_000, 16_000])
def test_resampling_keeps_length_and_pitch(out_hz: int) -> None:
    r = Resampler(VOICE_HZ, out_hz)
    x = tone(440.0, 1.0)
    parts = [r.feed(x[i : i + 1000]) for i in range(0, len(x), 1000)]  # streamed in odd-sized chunks
    parts.append(r.flush())
    y = np.concatenate(parts)
    assert y.dtype == np.int16
    assert abs(len(y) - out_hz) <= out_hz // 100  # 1 s in, 1 s out (within 10 ms)
    assert abs(peak_hz(y, out_hz) - 440.0) < 3.0
    # no clicks at chunk joins: the signal stays a smooth sine (max step well below a jump)
    steps = np.abs(np.diff(y[out_hz // 10 : -out_hz // 10].astype(np.int32)))
    assert steps.max() < 0.5 * 32767 * 2 * np.pi * 440 / out_hz * 1.2


@pytest.mark.parametrize("out_hz", [48_000, 24_000, 16_000])
def test_framer_cuts_exact_20ms_frames_with_contiguous_positions(out_hz: int) -> None:
    f = Framer(VOICE_HZ, out_hz)
    frames = []
    for chunk in np.array_split(tone(300.0, 0.5), 7):
        frames += f.feed(chunk)
    frames += f.flush()
    n = out_hz // 50
    assert all(len(fr.samples) == n and fr.sample_rate == out_hz for fr in frames)
    assert [fr.start for fr in frames] == [i * n for i in range(len(frames))]
    assert abs(len(frames) * n - out_hz // 2) <= n  # 0.5 s of audio, last frame padded
    assert f.position == len(frames) * n


def test_framer_reset_starts_a_new_utterance_at_zero() -> None:
    f = Framer(VOICE_HZ, 48_000)
    f.feed(tone(200.0, 0.1))
    f.reset()
    frames = f.feed(tone(200.0, 0.1)) + f.flush()
    assert frames[0].start == 0 and frames[0].utterance == 1


def test_mark_positions_convert_between_rates() -> None:
    f = Framer(VOICE_HZ, 48_000)
    assert f.to_out_samples(VOICE_HZ) == 48_000
    assert f.to_out_samples(256) == round(256 * 48_000 / VOICE_HZ)


def test_same_rate_is_a_plain_conversion() -> None:
    r = Resampler(24_000, 24_000)
    y = r.feed(np.array([0.0, 0.5, -1.0, 2.0], np.float32))
    assert y.tolist() == [0, 16383, -32767, 32767]


def test_bad_input_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="output rate must be one of"):
        Framer(VOICE_HZ, 12_345)
    with pytest.raises(ValueError, match="in_rate_hz must be"):
        Resampler(100, 48_000)
    with pytest.raises(ValueError, match="must be finite"):
        Resampler(VOICE_HZ, 48_000).feed(np.array([0.0, np.nan], np.float32))
    assert Resampler(VOICE_HZ, 48_000).feed(np.zeros(0, np.float32)).size == 0
