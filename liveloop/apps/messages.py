"""What travels on the edges of a session graph (frozen records; the graph is in `liveloop.apps.graph`).

    mic ─PcmFrame─► vad ─VadFrame─► turns ─AsrCommand─► asr ─Hypothesis─► turns      (the feedback edge)
                                      └─TurnOutput─► agent ─Reply | TurnItem─► voice ─TurnItem─► gate ─► egress
    typed ─ClientInput─► agent        video ─frame─► vision ─tracks─► agent

A *turn* is one user request and the agent's answer to it, numbered by the
agent. Everything the agent produces for a turn is a `TurnItem` carrying the
turn number, so the gate can hold a speculative turn whole (its client events,
its audio, its captions) and release or drop it at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveloop.agent.responder import Reply


@dataclass(frozen=True, slots=True)
class VadFrame:
    """One VAD frame (512 samples at 16 kHz) with its capture time and speech probability."""

    samples: np.ndarray  # (512,) float32
    start_ns: int
    prob: float


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """The recognizer's finished text for utterance `utt` (see `liveloop.apps.turns.Finalize`)."""

    utt: int
    text: str


@dataclass(frozen=True, slots=True)
class TypedText:
    text: str


@dataclass(frozen=True, slots=True)
class ClientTracks:
    tracks: list[Any]


ClientInput = TypedText | ClientTracks


@dataclass(frozen=True, slots=True)
class TurnReply:
    """What the agent answers: the voice speaks it (tokens, or a stream still arriving from an LLM)."""

    turn: int
    reply: Reply
    stream: AsyncIterator[str] | None = None


# -- turn items: from the agent and the voice, through the gate, to the egress ----------------------
@dataclass(frozen=True, slots=True)
class TurnOpen:
    """A turn begins; a speculative one is held by the gate until `Confirm` or `Cancel`."""

    turn: int
    speculative: bool


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """A client event that belongs to a turn (utterance.end, agent.token, agent.reply, caption, error)."""

    turn: int
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnAudio:
    turn: int
    samples: np.ndarray  # (N,) int16 or float32
    rate_hz: int


@dataclass(frozen=True, slots=True)
class TurnMark:
    """A caption mark: due when the audio pushed after it starts playing."""

    turn: int
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnDone:
    """The voice has produced everything it will say for this turn."""

    turn: int


@dataclass(frozen=True, slots=True)
class Confirm:
    turn: int


@dataclass(frozen=True, slots=True)
class Cancel:
    turn: int


TurnItem = TurnOpen | TurnEvent | TurnAudio | TurnMark | TurnDone | Confirm | Cancel


@dataclass(frozen=True, slots=True)
class FirstAudio:
    """The voice's first audio of a turn (its origin: the first text token it was given)."""

    turn: int
