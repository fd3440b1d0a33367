from __future__ import annotations

import numpy as np
import pytest
import torch
import whisper

from liveloop.asr.features import LogMelConfig, StreamingLogMel


def _whisper_raw(audio: np.ndarray, padding: int) -> torch.Tensor:
    """whisper.log_mel_spectrogram before its clip-wide floor (same code path, floor removed)."""
    x = torch.nn.functional.pad(torch.from_numpy(audio), (0, padding))
    stft = torch.stft(x, 400, 160, window=torch.hann_window(400), return_complex=True)
    mel = whisper.audio.mel_filters("cpu", 80) @ stft[..., :-1].abs() ** 2
    return torch.clamp(mel, min=1e-10).log10()


@pytest.mark.parametrize("chunk", [1, 160, 333, 4800, 16000])
def test_stream_equals_whisper_up_to_normalisation(arctic_clip, chunk):
    audio = arctic_clip[: 16000 * 2]
    mel = StreamingLogMel()
    parts = [mel.feed(audio[i : i + chunk]) for i in range(0, audio.size, chunk)]
    parts.append(mel.flush(pad_samples=16000))
    ours = torch.cat(parts, dim=1)
    ref_raw = _whisper_raw(audio, padding=16000)
    assert ours.shape == ref_raw.shape  # same frame count as whisper with the same padding
    # undo the affine scaling: above the causal floor the values are whisper's log-mel exactly
    ours_log = ours * 4.0 - 4.0
    above = ours_log > (torch.cummax(ref_raw.max(0).values, 0).values - 8.0)[None, :] + 1e-4
    assert above.float().mean() > 0.5
    torch.testing.assert_close(ours_log[above], ref_raw[above], atol=2e-4, rtol=1e-5)


def test_equals_whisper_mel_when_max_known(arctic_clip):
    """With the clip's maximum as the floor reference, the output is whisper's log_mel_spectrogram."""
    audio = arctic_clip
    ref = whisper.log_mel_spectrogram(torch.from_numpy(audio), padding=480000)
    ref_max = float(_whisper_raw(audio, 480000).max())
    mel = StreamingLogMel(LogMelConfig(ref_floor_log10=ref_max))
    ours = torch.cat([mel.feed(audio[i : i + 4800]) for i in range(0, audio.size, 4800)] + [mel.flush(480000)], 1)
    assert ours.shape == ref.shape == (80, 3000 + audio.size // 160)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)


def test_causal_floor_is_monotone_and_frames_final(arctic_clip):
    mel = StreamingLogMel()
    first = mel.feed(arctic_clip[:8000])
    m1 = mel.running_max
    mel.feed(arctic_clip[8000:])
    assert mel.running_max >= m1
    again = StreamingLogMel().feed(arctic_clip[:8000])
    torch.testing.assert_close(first, again)  # later audio never revises emitted frames


def test_tiny_and_empty_input():
    mel = StreamingLogMel()
    assert mel.feed(np.zeros(0, np.float32)).shape == (80, 0)
    assert mel.feed(np.zeros(100, np.float32)).shape == (80, 0)  # not enough for the reflect pad yet
    assert mel.flush().shape[1] == 1  # 100 + 200 zeros → one frame
    assert StreamingLogMel().flush().shape == (80, 0)
    with pytest.raises(ValueError, match="n_mels must be 80 or 128"):
        LogMelConfig(n_mels=64)
