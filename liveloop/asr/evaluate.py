"""Word error rate over a set of clips, and how far a small set can be trusted with it.

WER is scored like the benchmarks score it: whisper's English normaliser on both
sides, then word-level edit distance (jiwer). `clip_errors` keeps the count per
clip, because the dev set's clips are the units a bootstrap resamples: words of
one clip are not independent (one misheard name costs two words), clips are.

`paired_bootstrap` answers "is system B within `target`× of system A's WER?"
for a dev set as small as liveloop's (≈ 200 words with a reference): it draws
the clips with replacement, the same draw for both systems, and reports the
WER's 95 % interval, the ratio's, and how often the ratio held the target.

    clips ──normalise──► (errors, words) per clip ──resample clips (paired)──► WER, B/A, P(B ≤ target·A)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from liveloop.asr.recognizer import StreamConfig


@dataclass(frozen=True, slots=True)
class ClipScore:
    errors: int  # substitutions + deletions + insertions
    words: int  # reference words after normalising

    def __post_init__(self) -> None:
        if self.errors < 0 or self.words <= 0:
            raise ValueError(f"a clip needs errors >= 0 and words > 0, got {self.errors}/{self.words}")


@cache
def _normaliser():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalise(text: str) -> str:
    """whisper's English normaliser (numbers as digits, British spellings, no punctuation)."""
    return _normaliser()(text)


def score_clip(reference: str, hypothesis: str) -> ClipScore:
    """Word errors of one hypothesis against its reference (an empty hypothesis: every word deleted)."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    n_ref = len(ref.split())
    if not n_ref:
        raise ValueError(f"the reference {reference!r} has no words after normalising")
    if not hyp.strip():
        return ClipScore(n_ref, n_ref)
    out = jiwer.process_words(ref, hyp)
    return ClipScore(out.substitutions + out.deletions + out.insertions, n_ref)


def clip_errors(references: Mapping[str, str | None], hypotheses: Mapping[str, str]) -> dict[str, ClipScore]:
    """Per clip with a reference: its score. A clip with a reference but no hypothesis is an error."""
    out = {}
    for name, ref in references.items():
        if not ref:
            continue
        if name not in hypotheses:
            raise KeyError(f"no hypothesis for clip {name!r}")
        out[name] = score_clip(ref, hypotheses[name])
    return out


def corpus_wer(scores: Sequence[ClipScore]) -> float:
    """Errors over reference words, summed over the clips (what jiwer gives for the list)."""
    if not scores:
        raise ValueError("no clips to score")
    return sum(s.errors for s in scores) / sum(s.words for s in scores)


@dataclass(frozen=True, slots=True)
class BootstrapConfig:
    resamples: int = 10_000
    seed: int = 0
    target_ratio: float = 1.3  # the "committed WER ≤ 1.3× the offline WER"

    def __post_init__(self) -> None:
        if self.resamples < 100:
            raise ValueError(f"resamples must be >= 100, got {self.resamples}")
        if self.target_ratio <= 0:
            raise ValueError(f"target_ratio must be > 0, got {self.target_ratio}")


@dataclass(frozen=True, slots=True)
class PairedComparison:
    wer: float  # B's WER on the dev set as it is
    wer_ci95: tuple[float, float]  # over resampled dev sets
    ratio: float  # B's WER / A's (inf where A made no error and B did)
    ratio_ci95: tuple[float, float]  # its upper end is inf when some resampled sets hold none of A's errors
    p_within_target: float  # share of resampled dev sets on which B's WER ≤ target · A's
    extra_errors: int  # B's errors − A's on the dev set as it is


def _interval(x: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles, as observed values (no interpolation: the ratio can be infinite)."""
    lo, hi = np.percentile(x, [2.5, 97.5], method="inverted_cdf")
    return float(lo), float(hi)


def paired_bootstrap(
    baseline: Mapping[str, ClipScore], system: Mapping[str, ClipScore], config: BootstrapConfig | None = None
) -> PairedComparison:
    """Compare `system` to `baseline` on the same clips, resampling clips with replacement (a paired,
    clustered bootstrap); percentile intervals."""
    config = config or BootstrapConfig()
    if set(baseline) != set(system):
        only = sorted(set(baseline) ^ set(system))
        raise ValueError(f"the two systems were scored on different clips: {only}")
    names = sorted(baseline)
    if not names:
        raise ValueError("no clips to compare")
    e_a = np.array([baseline[n].errors for n in names], dtype=np.int64)
    e_b = np.array([system[n].errors for n in names], dtype=np.int64)
    words = np.array([baseline[n].words for n in names], dtype=np.int64)
    if not np.array_equal(words, [system[n].words for n in names]):
        raise ValueError("the two systems were scored against different references")
    rng = np.random.default_rng(config.seed)
    draw = rng.integers(0, len(names), size=(config.resamples, len(names)))
    sum_a, sum_b, sum_w = e_a[draw].sum(1), e_b[draw].sum(1), words[draw].sum(1)
    wer_b = sum_b / sum_w
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sum_a > 0, sum_b / np.maximum(sum_a, 1), np.where(sum_b > 0, np.inf, 1.0))
    within = sum_b <= config.target_ratio * sum_a
    total_a, total_b = int(e_a.sum()), int(e_b.sum())
    point = total_b / total_a if total_a else (np.inf if total_b else 1.0)
    return PairedComparison(
        wer=total_b / int(words.sum()),
        wer_ci95=_interval(wer_b),
        ratio=float(point),
        ratio_ci95=_interval(ratio),
        p_within_target=float(within.mean()),
        extra_errors=total_b - total_a,
    )


def match_latencies(emitted: Sequence[tuple[str, float]], offline: Sequence[tuple[str, float, float]]) -> list[float]:
    """emit − the offline model's word end (ms), for the committed words that match an offline word
    (`emitted`: (word, emit_s); `offline`: (word, start_s, end_s))."""
    import difflib

    a = [normalise(w) for w, _ in emitted]
    b = [normalise(w) for w, _, _ in offline]
    out = []
    for blk in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(blk.size):
            out.append(1000 * (emitted[blk.a + k][1] - offline[blk.b + k][2]))
    return out


# -- a user's own recordings -----------------------------------------------------------------------------
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    audio_path: str
    reference: str


def _transcripts(trans: Path) -> dict[str, str]:
    """A LibriSpeech ``*.trans.txt``: one ``ID TEXT`` line per utterance."""
    out = {}
    for n, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        uid, _, text = line.strip().partition(" ")
        if not text.strip():
            raise ValueError(f"{trans}:{n}: expected 'ID TEXT', got {line.strip()!r}")
        out[uid] = text.strip()
    return out


def find_recordings(paths: Sequence[str], limit: int | None = None) -> list[Recording]:
    """Audio files, or folders of them (searched recursively), with their reference texts.

    A reference is either a sibling ``<stem>.txt`` or, as LibriSpeech lays out its sets, a line
    ``<stem> TEXT`` of a ``*.trans.txt`` in the same folder. A missing reference, an empty one or a path
    with no audio is an error naming it. `limit`: at most this many recordings, evenly spaced over the
    sorted list (so a LibriSpeech set keeps all its speakers)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    files: list[Path] = []
    listed: dict[Path, str] = {}  # audio → reference from a *.trans.txt
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise ValueError(f"{p}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            for trans in sorted(p.rglob("*.trans.txt")):
                by_stem = {f.stem: f for f in found if f.parent == trans.parent}
                for uid, text in _transcripts(trans).items():
                    if uid not in by_stem:
                        raise ValueError(f"{trans}: no audio file for utterance {uid!r} beside it")
                    listed[by_stem[uid]] = text
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if limit is not None and limit < len(files):
        files = [files[i * len(files) // limit] for i in range(limit)]
    out: list[Recording] = []
    names: set[str] = set()
    for f in files:
        if f in listed:
            reference, source = listed[f], f"{f} (its *.trans.txt line)"
        else:
            ref_path = f.with_suffix(".txt")
            if not ref_path.exists():
                raise ValueError(f"{f}: no reference text (expected {ref_path.name} beside it, or a *.trans.txt)")
            reference, source = ref_path.read_text(encoding="utf-8").strip(), str(ref_path)
        if not normalise(reference).strip():
            raise ValueError(f"{source}: the reference text is empty")
        name = f.stem if f.stem not in names else str(f)
        names.add(name)
        out.append(Recording(name, str(f), reference))
    return out


@dataclass(frozen=True, slots=True)
class RecordingResult:
    name: str
    reference: str
    offline_text: str
    streaming_text: str
    offline: ClipScore
    streaming: ClipScore


@dataclass(frozen=True, slots=True)
class EvalReport:
    recordings: tuple[RecordingResult, ...]
    offline_wer: float
    offline_wer_ci95: tuple[float, float]
    streaming: PairedComparison  # streaming vs offline
    target_ratio: float
    latency_ms_p50: float  # emit − the offline model's word end
    latency_ms_p95: float
    rtf: float  # streaming compute time / audio time (virtual clock)
    audio_s: float

    def as_dict(self) -> dict:
        s = self.streaming

        def finite(x: float, digits: int = 4) -> float | None:
            return round(x, digits) if np.isfinite(x) else None

        return {
            "recordings": [
                {
                    "name": r.name,
                    "words": r.offline.words,
                    "offline_errors": r.offline.errors,
                    "streaming_errors": r.streaming.errors,
                    "offline_text": r.offline_text,
                    "streaming_text": r.streaming_text,
                }
                for r in self.recordings
            ],
            "words": sum(r.offline.words for r in self.recordings),
            "audio_s": round(self.audio_s, 2),
            "offline_wer": round(self.offline_wer, 4),
            "offline_wer_ci95": [round(x, 4) for x in self.offline_wer_ci95],
            "wer": round(s.wer, 4),
            "wer_ci95": [round(x, 4) for x in s.wer_ci95],
            "wer_ratio_to_offline": finite(s.ratio),
            "wer_ratio_ci95": [finite(x) for x in s.ratio_ci95],
            "target_ratio": self.target_ratio,
            "p_within_target": round(s.p_within_target, 4),
            "latency_ms_p50": finite(self.latency_ms_p50, 1),
            "latency_ms_p95": finite(self.latency_ms_p95, 1),
            "rtf": round(self.rtf, 4),
        }


def evaluate_recordings(
    base: nn.Module,
    streaming_model: nn.Module,
    recordings: Sequence[Recording],
    stream_config: StreamConfig | None = None,
    bootstrap: BootstrapConfig | None = None,
    on_done: Callable[[RecordingResult], None] | None = None,
) -> EvalReport:
    """Offline whisper with `base` (greedy, the reference system) vs the streaming recognizer running
    `streaming_model` (e.g. with the adapter merged) on each recording, on the virtual clock."""
    from liveloop.asr.audio import load_audio
    from liveloop.asr.simulate import stream_file, transcribe_offline

    bootstrap = bootstrap or BootstrapConfig()
    results, latencies = [], []
    compute_s = audio_s = 0.0
    for rec in recordings:
        audio = load_audio(rec.audio_path)
        off_text, off_words = transcribe_offline(base, audio)
        out = stream_file(streaming_model, audio, stream_config)
        latencies += match_latencies([(w.word, w.emit_s) for w in out.words], off_words)
        compute_s += out.compute_s
        audio_s += out.duration_s
        res = RecordingResult(
            rec.name,
            rec.reference,
            off_text,
            out.text,
            score_clip(rec.reference, off_text),
            score_clip(rec.reference, out.text),
        )
        results.append(res)
        if on_done is not None:
            on_done(res)
    if not results:
        raise ValueError("no recordings to evaluate")
    off = {r.name: r.offline for r in results}
    cmp = paired_bootstrap(off, {r.name: r.streaming for r in results}, bootstrap)
    self_cmp = paired_bootstrap(off, off, bootstrap)  # the offline WER's own interval (same resamples)
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (np.nan, np.nan)
    return EvalReport(
        recordings=tuple(results),
        offline_wer=self_cmp.wer,
        offline_wer_ci95=self_cmp.wer_ci95,
        streaming=cmp,
        target_ratio=bootstrap.target_ratio,
        latency_ms_p50=float(p50),
        latency_ms_p95=float(p95),
        rtf=compute_s / audio_s if audio_s else 0.0,
        audio_s=audio_s,
    )
