"""Incremental log-mel: whisper's features, computed as the samples arrive.

Whisper's front end (whisper/audio.py) is a centred STFT: frame t covers the
400 samples centred on sample 160·t (a 25 ms Hann window every 10 ms), with the
clip reflect-padded by 200 samples at both ends; the last frame is dropped; then
80 mel bands, log10, a floor 8 decades under the clip's maximum, and
(x + 4) / 4. Everything but that floor is local, so frame t can be emitted as
soon as sample 160·t + 200 has arrived (12.5 ms after the frame's centre).

The floor uses the maximum over the *whole clip*, which a stream does not know
yet. The causal normalisation here uses the running maximum of the frames seen
so far in the segment (optionally never below `ref_floor_log10`); frames already
emitted are not revised. Before the floor is applied the values are equal to
whisper's (`raw_log_mel`).

    samples ──► [ pending tail (≥ 200) ] ──STFT──► |X|² ──mel──► log10 ──floor──► (x+4)/4
                 first frame reflect-pads like torch.stft(center=True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SAMPLE_RATE = 16_000  # Hz
N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms per mel frame
HALF = N_FFT // 2  # 200 samples of look-ahead (and reflect padding at the start)
N_MELS = 80
LOG_FLOOR_DECADES = 8.0


@dataclass(frozen=True, slots=True)
class LogMelConfig:
    n_mels: int = N_MELS
    ref_floor_log10: float | None = None  # running max never below this (None: pure running max)

    def __post_init__(self) -> None:
        if self.n_mels not in (80, 128):
            raise ValueError(f"n_mels must be 80 or 128, got {self.n_mels}")


_FILTERS: dict[int, torch.Tensor] = {}


def mel_filters(n_mels: int) -> torch.Tensor:
    if n_mels not in _FILTERS:
        from whisper.audio import mel_filters as whisper_filters

        _FILTERS[n_mels] = whisper_filters("cpu", n_mels)
    return _FILTERS[n_mels]


def raw_log_mel(frames_audio: torch.Tensor, n_mels: int = N_MELS) -> torch.Tensor:
    """log10 mel power of already-framed audio: (T, 400) → (n_mels, T), before whisper's floor."""
    window = torch.hann_window(N_FFT)
    spec = torch.fft.rfft(frames_audio * window, n=N_FFT, dim=-1)  # (T, 201)
    power = spec.abs() ** 2
    mel = mel_filters(n_mels) @ power.T  # (n_mels, T)
    return torch.clamp(mel, min=1e-10).log10()


class StreamingLogMel:
    """Feed 16 kHz float32 samples, get whisper-normalised log-mel frames (n_mels, T_new) out.

    `flush()` ends the stream: like whisper with ``padding=N`` zero samples
    appended, it emits the frames whose window reaches past the end.
    """

    def __init__(self, config: LogMelConfig | None = None) -> None:
        self.config = config or LogMelConfig()
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0, np.float32)  # samples from (first frame not yet emitted) − 200 on
        self._started = False
        self.n_frames = 0  # frames emitted so far
        self.n_samples = 0  # samples fed so far
        self.running_max = -np.inf

    def feed(self, samples: np.ndarray) -> torch.Tensor:
        """Append samples; return the newly complete frames, normalised (n_mels, T_new)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.n_samples += samples.size
        self._buf = np.concatenate([self._buf, samples])
        if not self._started:
            if self._buf.size <= HALF:  # reflect padding needs 201 samples
                return torch.zeros(self.config.n_mels, 0)
            self._buf = np.concatenate([self._buf[HALF:0:-1], self._buf])  # torch.stft(center=True) reflect pad
            self._started = True
        return self._emit()

    def flush(self, pad_samples: int = HALF) -> torch.Tensor:
        """End of stream: append `pad_samples` zeros (as whisper's ``padding``) and emit the remaining frames."""
        if not self._started:
            if self._buf.size == 0:
                return torch.zeros(self.config.n_mels, 0)
            self._buf = np.concatenate([np.zeros(HALF, np.float32), self._buf])
            self._started = True
        self._buf = np.concatenate([self._buf, np.zeros(pad_samples, np.float32)])
        tail = self._buf[-2 : -HALF - 2 : -1]  # torch.stft(center=True) reflect-pads the end too
        self._buf = np.concatenate([self._buf, tail, np.zeros(HALF - tail.size, np.float32)])
        limit = (self.n_samples + pad_samples) // HOP  # whisper: len // hop frames after dropping the last
        return self._emit(limit)

    def _emit(self, limit: int | None = None) -> torch.Tensor:
        n_ready = (self._buf.size - N_FFT) // HOP + 1 if self._buf.size >= N_FFT else 0
        if limit is not None:
            n_ready = max(0, min(n_ready, limit - self.n_frames))
        if n_ready <= 0:
            return torch.zeros(self.config.n_mels, 0)
        frames = np.lib.stride_tricks.sliding_window_view(self._buf, N_FFT)[: n_ready * HOP : HOP].copy()  # (T, 400)
        log_spec = raw_log_mel(torch.from_numpy(frames), self.config.n_mels)
        self._buf = self._buf[n_ready * HOP :]
        self.n_frames += n_ready
        return self.normalise(log_spec)

    def normalise(self, log_spec: torch.Tensor) -> torch.Tensor:
        """Whisper's floor and scaling with the causal (running) maximum, per frame."""
        running = torch.cummax(log_spec.max(dim=0).values, dim=0).values  # (T,)
        running = torch.clamp(running, min=float(self.running_max))
        if self.config.ref_floor_log10 is not None:
            running = torch.clamp(running, min=self.config.ref_floor_log10)
        self.running_max = float(running[-1])
        log_spec = torch.maximum(log_spec, running[None, :] - LOG_FLOOR_DECADES)
        return (log_spec + 4.0) / 4.0
