"""Audio in for the recognizer: 16 kHz mono float32 in [-1, 1], or a clear error.

`load_audio(path)` decodes any file PyAV can open and resamples it with
`av.AudioResampler` (no ffmpeg binary, no torchaudio). `as_pcm16k(x, rate)`
checks an in-memory frame: float32 mono 16 kHz passes through untouched;
int16 or other rates/channels are converted; anything else is rejected with an
`AudioFormatError` naming what was wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # Hz, what Whisper and Silero expect


class AudioFormatError(ValueError):
    """Audio that cannot be turned into 16 kHz mono float32."""


def load_audio(path: str | Path) -> np.ndarray:
    """Decode `path` to a 1-D float32 array at 16 kHz mono."""
    import av

    path = Path(path)
    if not path.exists():
        raise AudioFormatError(f"audio file not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise AudioFormatError(f"{path}: not an audio file PyAV can open ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise AudioFormatError(f"{path}: has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        parts: list[np.ndarray] = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
    if not parts:
        raise AudioFormatError(f"{path}: audio stream is empty")
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def resample(x: np.ndarray, rate: int, channels: int = 1) -> np.ndarray:
    """Resample interleaved float32 samples (n * channels,) at `rate` to 16 kHz mono with PyAV."""
    import av

    layout = {1: "mono", 2: "stereo"}.get(channels)
    if layout is None:
        raise AudioFormatError(f"channels must be 1 or 2, got {channels}")
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(x, dtype=np.float32).reshape(1, -1), format="flt", layout=layout
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def as_pcm16k(x: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> np.ndarray:
    """Check or convert one frame of samples to 1-D float32 at 16 kHz mono.

    `x` is (n,) mono or (n, channels) interleaved; int16 is scaled to [-1, 1].
    """
    if not isinstance(x, np.ndarray):
        raise AudioFormatError(f"audio must be a numpy array, got {type(x).__name__}")
    if rate <= 0:
        raise AudioFormatError(f"sample rate must be > 0 Hz, got {rate}")
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype == np.float64:
        x = x.astype(np.float32)
    elif x.dtype != np.float32:
        raise AudioFormatError(f"audio samples must be float32 or int16, got {x.dtype}")
    if x.ndim == 2:
        if x.shape[1] != channels:
            raise AudioFormatError(f"audio frame has {x.shape[1]} channels, declared {channels}")
    elif x.ndim != 1:
        raise AudioFormatError(f"audio must be 1-D (n,) or 2-D (n, channels), got shape {x.shape}")
    if x.size and not np.isfinite(x).all():
        raise AudioFormatError("audio contains NaN or infinity")
    if rate == SAMPLE_RATE and (x.ndim == 1 or channels == 1):
        return x.reshape(-1)
    return resample(x.reshape(-1), rate, channels)
