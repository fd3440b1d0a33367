"""Turn-taking (sans-I/O): VAD frames and transcript hypotheses in, turn decisions out.

`TurnTaker.feed(frame, start_ns, prob)` is called for every VAD frame (Silero:
512 samples = 32 ms at 16 kHz) with the frame's capture time and its speech
probability; `TurnTaker.hypothesis(utt, text)` when the recognizer has finished
the text of a pause. Both return what to do, never do it::

    SILENCE ──prob ≥ start_threshold for start_frames──► SPEECH   SpeechStarted (barge-in), Begin + pre-roll to ASR
    SPEECH  ──a silent frame for pause_ms────────────────► PAUSE    Finalize(utt) to ASR (preemptive)
    PAUSE   ──prob ≥ end_threshold and a loud frame──────► SPEECH   Restore(utt) to ASR, Cancelled(utt)
    PAUSE   ──silence since the end of speech ≥ hangover──► SILENCE  Confirmed(utt) (or the Utterance itself)

**Preemptive generation.** At the pause the recognizer is asked to finish its
hypothesis at once (`Finalize`); when the text comes back it goes downstream as
a *speculative* `Utterance`, so the responder and the voice work while the
endpoint is still being confirmed. Their output is held (the session's gate)
until `Confirmed(utt)` releases it, or dropped on `Cancelled(utt)` when the user
goes on speaking (the recognizer then rebuilds the utterance: `Restore`).
With ``preempt=False`` the recognizer finishes at the confirmed endpoint and the
utterance goes out once, not speculative.

**Semantic endpointing.** The hangover is `complete_endpoint_ms` when the
hypothesis is a complete command (`is_complete`, injectable), `endpoint_ms`
otherwise or while the text is not known yet.

**Where the voice ended.** Silero's probability stays high for a while after
the voice stops (32 ms frames, smoothing: 1–3 frames on the agent's prompts), so
the waveform has a say: a frame is *silent* when its probability is below
`end_threshold`, or when no sample in it is louder than `voice_level` and the
probability is below `quiet_threshold` (inside speech, quiet frames — stop
closures — keep a probability near 1). The end of speech is the last sample
louder than `voice_level` at or before the end of the last speech frame, and the
hangover is counted from there, in capture time, so neither Silero's lag nor
the frame grid is added to it. Where the room is louder than `voice_level`,
this all falls back to Silero alone.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from liveloop.agent.responder import COMMAND_INTENTS, classify

NS_PER_MS = 1_000_000
RATE_HZ = 16_000


class TurnState(enum.Enum):
    SILENCE = "silence"  # the user is not speaking
    SPEECH = "speech"  # the user is speaking
    PAUSE = "pause"  # the user stopped; the turn may be over (not confirmed yet)


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    start_threshold: float = 0.6
    end_threshold: float = 0.35
    quiet_threshold: float = 0.8  # a frame with no sample above voice_level is silent below this probability
    start_frames: int = 1  # consecutive speech frames before a turn starts (32 ms: barge-in budget is 50 ms)
    pause_ms: float = 32.0  # silence after speech that makes a pause (and starts the preemptive finalize)
    endpoint_ms: float = 240.0  # silence that ends a turn whose text is not known to be complete
    complete_endpoint_ms: float = 120.0  # silence that ends a turn whose text is a complete command
    preempt: bool = True  # finalize at the pause and reply speculatively, held until the endpoint is confirmed
    frame_ms: float = 32.0
    voice_level: float = 0.01  # -40 dBFS: a sample above it is still voice
    preroll_ms: float = 256.0  # audio before the detected start of speech that the recognizer also gets

    def __post_init__(self) -> None:
        if not 0 < self.end_threshold <= self.start_threshold < 1:
            raise ValueError(
                f"need 0 < end_threshold <= start_threshold < 1, got {self.end_threshold}, {self.start_threshold}"
            )
        if not self.end_threshold <= self.quiet_threshold <= 1:
            raise ValueError(
                f"quiet_threshold must be in [end_threshold, 1], got {self.quiet_threshold} (end {self.end_threshold})"
            )
        if self.start_frames < 1:
            raise ValueError(f"start_frames must be >= 1, got {self.start_frames}")
        if self.frame_ms <= 0:
            raise ValueError(f"frame_ms must be > 0, got {self.frame_ms}")
        for name in ("pause_ms", "endpoint_ms", "complete_endpoint_ms", "preroll_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.complete_endpoint_ms > self.endpoint_ms:
            raise ValueError(
                f"complete_endpoint_ms must be <= endpoint_ms, got {self.complete_endpoint_ms} > {self.endpoint_ms}"
            )
        if self.pause_ms > self.complete_endpoint_ms:
            raise ValueError(f"pause_ms must be <= complete_endpoint_ms, got {self.pause_ms}")
        if not 0 < self.voice_level < 1:
            raise ValueError(f"voice_level must be in (0, 1), got {self.voice_level}")


def is_complete(text: str) -> bool:
    """A complete command of the responder's ("go left", "what do you see", "hello"): nothing more to wait for."""
    intent = classify(text)
    return intent in COMMAND_INTENTS


# -- what the turn-taker asks for ----------------------------------------------------
# to the recognizer, in order with the audio:
@dataclass(frozen=True, slots=True)
class Begin:
    """A new utterance starts: drop what was kept of the last one."""

    at_ns: int


@dataclass(frozen=True, slots=True)
class Recognize:
    """Audio of the utterance (pre-roll, speech, and the pause after it)."""

    samples: np.ndarray  # (N,) float32, 16 kHz
    start_ns: int  # capture time of the first sample

    @property
    def end_ns(self) -> int:
        return self.start_ns + len(self.samples) * 1_000_000_000 // RATE_HZ


@dataclass(frozen=True, slots=True)
class Finalize:
    """Finish the text of utterance `utt` now (everything up to its end of speech is in)."""

    utt: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class Restore:
    """The user went on speaking after `utt` was finalized: recognize the utterance again, whole."""

    utt: int


AsrCommand = Begin | Recognize | Finalize | Restore


# downstream, to the responder (and the client):
@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_ns: int  # capture time of the first speech frame


@dataclass(frozen=True, slots=True)
class Utterance:
    """The text of a user turn; `speculative` until `Confirmed` (or `Cancelled`) follows."""

    utt: int
    text: str
    end_ns: int  # end of the user's speech (capture time)
    speculative: bool


@dataclass(frozen=True, slots=True)
class Confirmed:
    utt: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class Cancelled:
    utt: int


@dataclass(frozen=True, slots=True)
class EmptyTurn:
    """The endpoint came but nothing was recognized (noise, a cough)."""

    utt: int
    end_ns: int


TurnOutput = AsrCommand | SpeechStarted | Utterance | Confirmed | Cancelled | EmptyTurn


@dataclass(slots=True)
class _Pause:
    utt: int
    end_ns: int  # where the voice ended (on the waveform)
    finalized: bool = False
    text: str | None = None  # the hypothesis, once it is back
    complete: bool = False
    sent: bool = False  # a speculative Utterance went downstream


class TurnTaker:
    """The turn-taking state machine (see the module docstring)."""

    def __init__(self, config: EndpointConfig | None = None, *, complete: Callable[[str], bool] = is_complete) -> None:
        self.config = config or EndpointConfig()
        self.complete = complete
        self.state = TurnState.SILENCE
        c = self.config
        self._frame_ns = round(c.frame_ms * NS_PER_MS)
        self._preroll: deque[Recognize] = deque(maxlen=c.start_frames + round(c.preroll_ms / c.frame_ms))
        self._recent: deque[Recognize] = deque(maxlen=16)  # ≈ 0.5 s of frames to place the end of speech
        self._run = 0  # consecutive speech frames while SILENCE
        self._voice_end_ns = 0  # end of the last frame that was speech
        self._pause: _Pause | None = None
        self._awaiting: dict[int, int] = {}  # confirmed utterances whose text is not back yet: utt → end_ns
        self._utts = 0
        self._last_frame_end_ns = 0
        self.turns = 0  # utterances started
        self.cancelled = 0  # speculative utterances the user spoke through

    def feed(self, frame: np.ndarray, start_ns: int, prob: float) -> list[TurnOutput]:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"speech probability must be in [0, 1], got {prob}")
        c = self.config
        rec = Recognize(frame, start_ns)
        end_ns = rec.end_ns
        self._last_frame_end_ns = end_ns
        self._recent.append(rec)
        if self.state is TurnState.SILENCE:
            self._preroll.append(rec)
            self._run = self._run + 1 if prob >= c.start_threshold else 0
            if self._run < c.start_frames:
                return []
            self.state = TurnState.SPEECH
            self.turns += 1
            self._voice_end_ns = end_ns
            at = end_ns - self._run * self._frame_ns
            out: list[TurnOutput] = [SpeechStarted(at), Begin(at), *self._preroll]
            self._preroll.clear()
            return out
        out = [rec]  # SPEECH or PAUSE: the recognizer gets every frame of the utterance
        quiet = not bool(np.any(np.abs(frame) > c.voice_level))
        speech = prob >= c.end_threshold and not (quiet and prob < c.quiet_threshold)
        if self.state is TurnState.PAUSE:
            if speech and not quiet:  # the voice is back
                self._voice_end_ns = end_ns
                return out + self._resume()
            return out + self._maybe_confirm(end_ns)
        if speech:
            self._voice_end_ns = end_ns
            return out
        if end_ns - self._voice_end_ns >= round(c.pause_ms * NS_PER_MS):
            self.state = TurnState.PAUSE
            self._utts += 1
            self._pause = _Pause(self._utts, self.refine_end(self._voice_end_ns))
            if c.preempt:
                self._pause.finalized = True
                out.append(Finalize(self._pause.utt, self._pause.end_ns))
            out += self._maybe_confirm(end_ns)
        return out

    def hypothesis(self, utt: int, text: str) -> list[TurnOutput]:
        """The recognizer's text for `utt` is back."""
        text = text.strip()
        p = self._pause
        if p is not None and p.utt == utt and self.state is TurnState.PAUSE:
            p.text = text
            p.complete = bool(text) and self.complete(text)
            out: list[TurnOutput] = []
            if text:
                p.sent = True
                out.append(Utterance(utt, text, p.end_ns, speculative=True))
            return out + self._maybe_confirm(self._last_frame_end_ns)
        end_ns = self._awaiting.pop(utt, None)
        if end_ns is None:
            return []  # the user spoke through this pause: its text is void
        return [Utterance(utt, text, end_ns, speculative=False) if text else EmptyTurn(utt, end_ns)]

    def _maybe_confirm(self, now_end_ns: int) -> list[TurnOutput]:
        p = self._pause
        assert p is not None
        c = self.config
        hangover_ms = c.complete_endpoint_ms if p.complete else c.endpoint_ms
        if now_end_ns - p.end_ns < round(hangover_ms * NS_PER_MS):
            return []
        self.state = TurnState.SILENCE
        self._pause = None
        self._run = 0
        out: list[TurnOutput] = []
        if not p.finalized:
            out.append(Finalize(p.utt, p.end_ns))
        if p.text is None:
            self._awaiting[p.utt] = p.end_ns
            while len(self._awaiting) > 16:  # bounded: a recognizer that never answers must not grow this
                del self._awaiting[next(iter(self._awaiting))]
        elif p.sent:
            out.append(Confirmed(p.utt, p.end_ns))
        else:
            out.append(EmptyTurn(p.utt, p.end_ns))
        return out

    def _resume(self) -> list[TurnOutput]:
        p = self._pause
        assert p is not None
        self.state = TurnState.SPEECH
        self._pause = None
        out: list[TurnOutput] = []
        if p.finalized:
            out.append(Restore(p.utt))
        if p.sent:
            self.cancelled += 1
            out.append(Cancelled(p.utt))
        return out

    def refine_end(self, vad_end_ns: int) -> int:
        """The last sample louder than `voice_level` at or before `vad_end_ns` (the VAD's end is late)."""
        level = self.config.voice_level
        for rec in reversed(self._recent):
            if rec.start_ns >= vad_end_ns:
                continue
            loud = np.nonzero(np.abs(rec.samples) > level)[0]
            if loud.size:
                t = rec.start_ns + (int(loud[-1]) + 1) * 1_000_000_000 // RATE_HZ
                return min(t, vad_end_ns)
        return vad_end_ns
