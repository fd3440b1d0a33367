"""Turn-taking from voice-activity probabilities (sans-I/O).

`Endpointer.feed(prob, frame_end_ns) -> TurnEvent | None` for each VAD frame
(Silero: 512 samples = 32 ms at 16 kHz). States::

    SILENCE ──prob ≥ start_threshold for start_frames──► SPEECH     (emits SPEECH_START at the first speech frame)
    SPEECH  ──prob < end_threshold for endpoint_ms──► SILENCE  (emits END_OF_SPEECH at the last speech frame's end)

The end of speech is stamped with the capture time of the last frame that was
speech, not with the time the silence was confirmed: the endpointing delay is
part of the voice-to-voice latency and is measured as such.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

NS_PER_MS = 1_000_000


class TurnState(enum.Enum):
    SILENCE = "silence"
    SPEECH = "speech"


class TurnKind(enum.Enum):
    SPEECH_START = "speech_start"
    END_OF_SPEECH = "end_of_speech"


@dataclass(frozen=True, slots=True)
class TurnEvent:
    kind: TurnKind
    at_ns: int  # capture time: first speech frame's start, or last speech frame's end


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    start_threshold: float = 0.6
    end_threshold: float = 0.35
    start_frames: int = 1  # consecutive speech frames before a turn starts (32 ms: barge-in budget is 50 ms)
    endpoint_ms: float = 240.0  # silence that ends a turn (the endpointing delay, part of voice-to-voice)
    frame_ms: float = 32.0

    def __post_init__(self) -> None:
        if not 0 < self.end_threshold <= self.start_threshold < 1:
            raise ValueError(
                f"need 0 < end_threshold <= start_threshold < 1, got {self.end_threshold}, {self.start_threshold}"
            )
        if self.start_frames < 1:
            raise ValueError(f"start_frames must be >= 1, got {self.start_frames}")
        if self.endpoint_ms < 0:
            raise ValueError(f"endpoint_ms must be >= 0, got {self.endpoint_ms}")
        if self.frame_ms <= 0:
            raise ValueError(f"frame_ms must be > 0, got {self.frame_ms}")


class Endpointer:
    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self.state = TurnState.SILENCE
        self._run = 0  # consecutive speech frames while SILENCE
        self._silence_ms = 0.0  # silence so far while SPEECH
        self._last_speech_end_ns = 0
        self.turns = 0

    def feed(self, prob: float, frame_end_ns: int) -> TurnEvent | None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"speech probability must be in [0, 1], got {prob}")
        c = self.config
        frame_ns = round(c.frame_ms * NS_PER_MS)
        if self.state is TurnState.SILENCE:
            self._run = self._run + 1 if prob >= c.start_threshold else 0
            if self._run >= c.start_frames:
                self.state = TurnState.SPEECH
                self._silence_ms = 0.0
                self._last_speech_end_ns = frame_end_ns
                self.turns += 1
                return TurnEvent(TurnKind.SPEECH_START, frame_end_ns - self._run * frame_ns)
            return None
        if prob >= c.end_threshold:
            self._silence_ms = 0.0
            self._last_speech_end_ns = frame_end_ns
            return None
        self._silence_ms += c.frame_ms
        if self._silence_ms >= c.endpoint_ms:
            self.state = TurnState.SILENCE
            self._run = 0
            return TurnEvent(TurnKind.END_OF_SPEECH, self._last_speech_end_ns)
        return None
