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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np


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
