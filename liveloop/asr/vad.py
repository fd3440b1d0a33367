"""Silero VAD and endpointing (sans-I/O): speech start for barge-in, end of utterance for the recognizer.

`SileroVad` runs the ONNX model that ships inside the `silero-vad` wheel on
512-sample frames (32 ms at 16 kHz; other sizes are rejected by the model),
carrying its recurrent state and 64 samples of context between frames.

`Endpointer` turns per-frame speech probabilities into events with hysteresis:

    SILENCE ──p ≥ threshold for min_speech_ms──► SPEECH   emits SpeechStart(at_s = first speech frame)
    SPEECH  ──p < neg_threshold for hangover_ms──► SILENCE emits EndOfUtterance(at_s = end of last speech frame)

`VadCore` = both, fed arbitrary-sized sample arrays; times are seconds since
the first sample fed (the adapter maps them to origin times).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 512  # samples per Silero frame at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame the model also sees
FRAME_S = FRAME / SAMPLE_RATE


class VadState(enum.Enum):
    SILENCE = "silence"
    SPEECH = "speech"


@dataclass(frozen=True, slots=True)
class SpeechStart:
    at_s: float  # start of the first speech frame


@dataclass(frozen=True, slots=True)
class EndOfUtterance:
    at_s: float  # end of the last speech frame
    start_s: float  # when this utterance's speech started
    detected_s: float = 0.0  # end of the frame that decided it (at_s + the hangover); audio up to here was seen


@dataclass(frozen=True, slots=True)
class VadConfig:
    threshold: float = 0.5  # speech when p >= threshold …
    neg_threshold: float = 0.35  # … and silence again when p < neg_threshold
    min_speech_ms: int = 96  # speech must last this long to start an utterance
    hangover_ms: int = 480  # silence this long ends the utterance

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 < self.neg_threshold <= self.threshold:
            raise ValueError(f"neg_threshold must be in (0, threshold], got {self.neg_threshold}")
        if self.min_speech_ms < 0 or self.hangover_ms < 0:
            raise ValueError(
                f"min_speech_ms and hangover_ms must be >= 0, got {self.min_speech_ms}, {self.hangover_ms}"
            )


def _model_path() -> Path:
    try:
        import silero_vad.data as data
    except ModuleNotFoundError:
        raise RuntimeError("Silero VAD needs the PyPI package 'silero-vad': pip install silero-vad") from None
    return Path(data.__file__).parent / "silero_vad.onnx"


_SESSION = None


def _session():
    global _SESSION
    if _SESSION is None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        _SESSION = onnxruntime.InferenceSession(
            str(_model_path()), providers=["CPUExecutionProvider"], sess_options=opts
        )
    return _SESSION


class SileroVad:
    """Speech probability of each 512-sample frame; one instance per stream (it carries state)."""

    def __init__(self) -> None:
        self.session = _session()  # shared per process
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros((1, CONTEXT), np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        frame = np.asarray(frame, dtype=np.float32).reshape(1, -1)
        if frame.shape[1] != FRAME:
            raise ValueError(f"Silero VAD frames must be {FRAME} samples at 16 kHz, got {frame.shape[1]}")
        x = np.concatenate([self._context, frame], axis=1)
        out, self._state = self.session.run(
            None, {"input": x, "state": self._state, "sr": np.array(SAMPLE_RATE, dtype=np.int64)}
        )
        self._context = x[:, -CONTEXT:]
        return float(out.reshape(-1)[0])


@dataclass(slots=True)
class Endpointer:
    """Hysteresis over frame probabilities (see module docstring)."""

    config: VadConfig = field(default_factory=VadConfig)
    state: VadState = VadState.SILENCE
    _run_start_s: float | None = None  # candidate speech start, or the start of silence inside speech
    _utt_start_s: float = 0.0
    _last_speech_end_s: float = 0.0

    def feed(self, p: float, frame_start_s: float) -> SpeechStart | EndOfUtterance | None:
        cfg = self.config
        end_s = frame_start_s + FRAME_S
        if self.state is VadState.SILENCE:
            if p >= cfg.threshold:
                if self._run_start_s is None:
                    self._run_start_s = frame_start_s
                if end_s - self._run_start_s >= cfg.min_speech_ms / 1000 - 1e-9:
                    self.state = VadState.SPEECH
                    self._utt_start_s = self._run_start_s
                    self._last_speech_end_s = end_s
                    self._run_start_s = None
                    return SpeechStart(self._utt_start_s)
            else:
                self._run_start_s = None
            return None
        if p >= cfg.neg_threshold:
            self._last_speech_end_s = end_s
            return None
        if end_s - self._last_speech_end_s >= cfg.hangover_ms / 1000 - 1e-9:
            self.state = VadState.SILENCE
            return EndOfUtterance(self._last_speech_end_s, self._utt_start_s, end_s)
        return None

    def reset(self) -> None:
        self.state = VadState.SILENCE
        self._run_start_s = None


class VadCore:
    """Samples in (any length), events out. `probs` keeps the last frame's probability for observers."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.vad = SileroVad()
        self.endpointer = Endpointer(config or VadConfig())
        self._pending = np.zeros(0, np.float32)
        self.n_frames = 0
        self.last_prob = 0.0

    @property
    def speaking(self) -> bool:
        return self.endpointer.state is VadState.SPEECH

    def feed(self, samples: np.ndarray) -> list[SpeechStart | EndOfUtterance]:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._pending = np.concatenate([self._pending, samples])
        events: list[SpeechStart | EndOfUtterance] = []
        while self._pending.size >= FRAME:
            frame, self._pending = self._pending[:FRAME], self._pending[FRAME:]
            self.last_prob = self.vad(frame)
            ev = self.endpointer.feed(self.last_prob, self.n_frames * FRAME_S)
            self.n_frames += 1
            if ev is not None:
                events.append(ev)
        return events

    def flush(self) -> list[SpeechStart | EndOfUtterance]:
        """End of stream: an utterance still open ends at its last speech frame."""
        if self.endpointer.state is VadState.SPEECH:
            self.endpointer.reset()
            ep = self.endpointer
            return [EndOfUtterance(ep._last_speech_end_s, ep._utt_start_s, self.n_frames * FRAME_S)]
        return []
