"""The deterministic command responder (sans-I/O).

What the agent says, and which goal it gives a robot, for one committed user
utterance. It is the default responder of `liveloop serve`: no model, no
network, the same words every time, so turn latency measures the pipeline and
not a language model.

    "hello" / "hi" / "hey"            → a greeting
    "what do you see?"                → a sentence from the latest vision tracks
    "follow the <thing>"              → Goal(FOLLOW, target=<thing>)
    "stop" / "halt"                   → Goal(STOP)
    "go|turn|move left|right|forward|back" → Goal(MOVE, direction=…)
    anything else                     → acknowledges what it heard

``ResponderCore.feed(utterance, now_ns) -> Reply``: the reply's text split into
tokens (words with their trailing space, so joining them gives the text back)
and an optional robot goal. The node adapter streams the tokens one by one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"[a-z0-9']+")
_GREETINGS = {"hello", "hi", "hey", "hiya", "greetings"}
_DIRECTIONS = {"left", "right", "forward", "forwards", "back", "backward", "backwards", "ahead"}
_STOP = {"stop", "halt", "freeze", "wait"}
_FILLER = {"the", "a", "an", "that", "this", "my", "me", "please", "to"}


class GoalKind(enum.Enum):
    FOLLOW = "follow"
    STOP = "stop"
    MOVE = "move"


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal for the robot app (`liveloop robot`), if one is attached."""

    kind: GoalKind
    target: str | None = None
    direction: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "target": self.target, "direction": self.direction}


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    tokens: tuple[str, ...]
    goal: Goal | None = None
    intent: str = "ack"


@dataclass(frozen=True, slots=True)
class ResponderConfig:
    agent_name: str = "liveloop"
    robot_attached: bool = False
    max_listed_objects: int = 4

    def __post_init__(self) -> None:
        if not self.agent_name.strip():
            raise ValueError("agent_name must not be empty")
        if self.max_listed_objects < 1:
            raise ValueError(f"max_listed_objects must be >= 1, got {self.max_listed_objects}")


_DIRECTION_NAMES = {"forwards": "forward", "ahead": "forward", "backward": "back", "backwards": "back"}
# complete requests: once said, there is nothing more to wait for
COMMAND_INTENTS = frozenset({"greet", "vision", "follow", "stop", "move"})


def classify(utterance: str) -> str:
    """The intent of an utterance: empty, vision, follow, stop, move, greet, or ack (anything else). Pure."""
    words = _WORD.findall(utterance.lower())
    if not words:
        return "empty"
    text = " ".join(words)
    if ("see" in words and ("what" in words or "anything" in words)) or text.startswith("look"):
        return "vision"
    if "follow" in words:
        return "follow"
    if _STOP & set(words):
        return "stop"
    if {"go", "turn", "move", "head", "drive"} & set(words) and any(w in _DIRECTIONS for w in words):
        return "move"
    if words[0] in _GREETINGS or text.startswith("good morning") or text.startswith("good evening"):
        return "greet"
    return "ack"


def tokenize(text: str) -> tuple[str, ...]:
    """Split into word tokens that keep their trailing whitespace: ''.join(tokens) == text."""
    return tuple(m.group(0) for m in re.finditer(r"\S+\s*", text))


def track_label(track: Any) -> str | None:
    """The class label of a vision track, whatever its shape (dict or object)."""
    for key in ("label", "cls", "category", "name", "kind"):
        value = track.get(key) if isinstance(track, dict) else getattr(track, key, None)
        if isinstance(value, str) and value:
            return value
    return None


def describe(labels: Sequence[str], limit: int) -> str:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    parts = []
    for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        parts.append(f"one {label}" if n == 1 else f"{n} {_plural(label)}")
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word == "person":
        return "people"
    return word + "s"


@dataclass(slots=True)
class ResponderCore:
    """Utterance in, reply out. Remembers the latest vision tracks it was fed."""

    config: ResponderConfig = field(default_factory=ResponderConfig)
    _labels: tuple[str, ...] = ()
    _tracks_ns: int | None = None
    turns: int = 0

    def feed_tracks(self, tracks: Iterable[Any], now_ns: int) -> None:
        self._labels = tuple(label for label in (track_label(t) for t in tracks) if label)
        self._tracks_ns = now_ns

    def feed(self, utterance: str, now_ns: int) -> Reply:
        if not isinstance(utterance, str):
            raise TypeError(f"utterance must be str, got {type(utterance).__name__}")
        self.turns += 1
        words = _WORD.findall(utterance.lower())
        intent = classify(utterance)
        if intent == "empty":
            return self._reply("Sorry, I did not catch that.", intent=intent)
        if intent == "vision":
            return self._reply(self._what_i_see(), intent=intent)
        if intent == "follow":
            after = words[words.index("follow") + 1 :]
            target = " ".join(w for w in after if w not in _FILLER) or None
            what = f"the {target}" if target else "you"
            goal = Goal(GoalKind.FOLLOW, target=target)
            return self._reply(self._robot_says(f"Okay, following {what}."), goal=goal, intent=intent)
        if intent == "stop":
            return self._reply(self._robot_says("Stopping."), goal=Goal(GoalKind.STOP), intent=intent)
        if intent == "move":
            direction = next(w for w in words if w in _DIRECTIONS)
            direction = _DIRECTION_NAMES.get(direction, direction)
            goal = Goal(GoalKind.MOVE, direction=direction)
            return self._reply(self._robot_says(f"Going {direction}."), goal=goal, intent=intent)
        if intent == "greet":
            return self._reply(f"Hello! I am {self.config.agent_name}. How can I help you?", intent=intent)
        return self._reply(f"I heard: {utterance.strip()}", intent="ack")

    def _robot_says(self, text: str) -> str:
        return text if self.config.robot_attached else f"{text[:-1]}, once a robot is attached."

    def _what_i_see(self) -> str:
        if self._tracks_ns is None:
            return "I cannot see anything yet: no camera frames have been tracked."
        if not self._labels:
            return "I do not see anything I recognise right now."
        return f"I see {describe(self._labels, self.config.max_listed_objects)}."

    def _reply(self, text: str, *, goal: Goal | None = None, intent: str) -> Reply:
        return Reply(text=text, tokens=tokenize(text), goal=goal, intent=intent)
