"""The interleaving scheduler: text tokens in, spans to synthesize out (sans-I/O).

VITA-Audio (arXiv 2505.03739) speaks from its first forward pass and then
interleaves text and audio on a growing schedule, written ``text:audio``:

    balance   1:4, 3:8, then 4:10 repeated
    boost     1:10, then 4:10 repeated
    turbo     1:10 throughout

Here a voice, not an LLM, makes the audio, so a step ``t:a`` reads as: the
next span starts once ``t`` new words are buffered (its *minimum*), and takes
at most ``a`` words (its *maximum*). The first span is one word — or the
first clause, when the text arrives faster than that — so the first sound
comes from the first token; later spans grow, because while one span is being
synthesized the next words pile up, and a bigger span has better prosody.

The scheduler is *pulled*: the synthesizer asks for `next_span` whenever it
is free. Cutting rules, in order:

1. a span never crosses a sentence end (``. ! ? …``): cut right after it;
2. if more than ``a`` words are buffered, cut at the last clause boundary
   (``, ; : —``) in ``[ceil(t/2), a]`` words, else at the first one at most
   `slack_words` past ``a``, else at ``a`` words (a sentence end up to
   `slack_words` past ``a`` also counts as near);
3. if at least ``t`` words are buffered, take them all, cutting at the last
   clause boundary when one lies in the back half — unless enough audio is
   queued ahead of the listener (``ahead_ms > patience_ms``) and the text does
   not end on a boundary yet: then it waits for more text (better prosody,
   no risk of an underrun);
4. after `finish`, everything left goes out under the same size rule.

A mid-phrase cut never ends on a weak word ("in the | room" becomes "in |
the room"), and "a" is never a span on its own (espeak-ng reads it as the
letter). A "word" ends at whitespace, at clause or sentence punctuation, or — with
``tokens_are_words`` (text fed word by word, as the CLI does) — at the end of
every token; with ``eager_first_word`` the very first partial word of an
utterance is taken at its token's end, since waiting for the next token would
cost a whole token interval before the first sound.

Text waiting here is bounded: `is_full` turns true at ``max_buffered_words``
and the adapter stops feeding until a span is taken (back-pressure).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from liveloop.tts.text import Boundary, TextCleaner, TextWarning, boundary_of, split_words

# Words that lean on the next one: a mid-phrase cut right after them sounds (and transcribes) badly,
# so the cut moves before them. "a" alone is even read as the letter ("ˈeɪ"), so it is never a first span alone.
WEAK_WORDS = frozenset(
    {"a", "an", "the", "to", "of", "and", "or", "but", "in", "on", "at", "for", "with", "from", "by"}
    | {"my", "your", "his", "her", "its", "our", "their", "this", "that", "is", "are"}
)
# Articles are never a span on their own: "a" alone is read as the letter, and "the" alone comes out as
# "thee"/"that" (Whisper hears "that" — the whole WER cost of the first span, measured in tts_streaming).
_NEVER_ALONE = frozenset({"a", "an", "the"})


class Schedule(enum.Enum):
    BALANCE = "balance"
    BOOST = "boost"
    TURBO = "turbo"

    @property
    def steps(self) -> tuple[tuple[int, int], ...]:
        return SCHEDULE_STEPS[self]


SCHEDULE_STEPS: dict[Schedule, tuple[tuple[int, int], ...]] = {
    Schedule.BALANCE: ((1, 4), (3, 8), (4, 10)),
    Schedule.BOOST: ((1, 10), (4, 10)),
    Schedule.TURBO: ((1, 10),),
}


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    schedule: Schedule = Schedule.BALANCE
    steps: tuple[tuple[int, int], ...] | None = None  # custom text:audio steps; overrides `schedule`
    patience_ms: float = 1500.0  # with this much audio queued, wait for a clause boundary
    slack_words: int = 2  # a boundary this many words past a span's bound is "near": cut there
    max_buffered_words: int = 512  # back-pressure threshold (`is_full`)
    max_word_chars: int = 64  # longer "words" (URLs, hashes) are cut into pieces
    tokens_are_words: bool = False
    eager_first_word: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise ValueError(f"schedule must be a Schedule, got {self.schedule!r}")
        for t, a in self.resolved_steps:
            if not (isinstance(t, int) and isinstance(a, int)) or t < 1 or a < t:
                raise ValueError(f"schedule steps must be int pairs with 1 <= text <= audio, got {t}:{a}")
        if not 0 <= self.slack_words <= 8:
            raise ValueError(f"slack_words must be in [0, 8], got {self.slack_words}")
        if self.patience_ms < 0:
            raise ValueError(f"patience_ms must be >= 0, got {self.patience_ms}")
        if self.max_buffered_words < 16:
            raise ValueError(f"max_buffered_words must be >= 16, got {self.max_buffered_words}")
        if self.max_word_chars < 8:
            raise ValueError(f"max_word_chars must be >= 8, got {self.max_word_chars}")

    @property
    def resolved_steps(self) -> tuple[tuple[int, int], ...]:
        steps = self.steps if self.steps is not None else self.schedule.steps
        if not steps:
            raise ValueError("schedule steps must not be empty")
        return steps


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    arrived_ns: int  # when the token that completed it arrived
    first_token_ns: int  # when its first character arrived
    boundary: Boundary


@dataclass(frozen=True, slots=True)
class Span:
    """A run of words to synthesize in one go."""

    utterance: int  # counts turns (a `finish` ends one)
    index: int  # span number within the utterance
    words: tuple[str, ...]
    first_token_ns: int  # arrival of the earliest character in it
    cut_ns: int  # when the scheduler released it
    boundary: Boundary  # what its last word ends on
    final: bool  # last span of the utterance

    @property
    def text(self) -> str:
        return " ".join(self.words)


class InterleavingScheduler:
    """Text tokens → spans, following a `Schedule`; pull spans with `next_span`."""

    def __init__(self, config: SchedulerConfig | None = None, cleaner: TextCleaner | None = None) -> None:
        self.config = config or SchedulerConfig()
        self._steps = self.config.resolved_steps
        self.cleaner = cleaner or TextCleaner()
        self._words: list[Word] = []
        self._partial = ""
        self._partial_ns: int | None = None
        self._finished = False
        self._step = 0
        self._utterance = 0
        self._span_in_utt = 0
        self.warnings: list[TextWarning] = []
        self.first_token_ns: int | None = None

    # -- input --------------------------------------------------------------
    def feed(self, token: str, now_ns: int) -> list[TextWarning]:
        """Add one text token (any piece of text: a word, a sub-word, several sentences)."""
        if self._finished:  # text after finish() opens the next utterance
            self._finished = False
        if self.first_token_ns is None and token:
            self.first_token_ns = now_ns
        text, warnings = self.cleaner.feed(token)
        self.warnings.extend(warnings)
        self._add_text(text, now_ns, token_end=True)
        return warnings

    def finish(self, now_ns: int) -> list[TextWarning]:
        """The text stream of this utterance has ended: everything held back may go out."""
        text, warnings = self.cleaner.finish()
        self.warnings.extend(warnings)
        self._add_text(text, now_ns, token_end=True)
        self._complete_partial(now_ns)
        self._finished = True
        if not self._words:  # everything already went out: the next token opens a new utterance
            self._new_utterance()
        return warnings

    def _add_text(self, text: str, now_ns: int, token_end: bool) -> None:
        if not text:
            return
        start = 0
        for i, ch in enumerate(text):
            if ch == " ":
                self._append_partial(text[start:i], now_ns)
                self._complete_partial(now_ns)
                start = i + 1
        self._append_partial(text[start:], now_ns)
        p = self._partial
        if p and (self.config.tokens_are_words or self._ends_word(p)):
            self._complete_partial(now_ns)

    @staticmethod
    def _ends_word(p: str) -> bool:
        b = boundary_of(p)
        if b is Boundary.NONE:
            return False
        core = p.rstrip("\"')]}»”’")
        # "3." may become "3.5": a dot after a digit is not an end until the next token says so
        return not (core.endswith(".") and len(core) >= 2 and core[-2].isdigit())

    def _append_partial(self, piece: str, now_ns: int) -> None:
        if not piece:
            return
        if not self._partial:
            self._partial_ns = now_ns
        self._partial += piece
        limit = self.config.max_word_chars
        while len(self._partial) > limit:  # URLs, hashes, runaway tokens: speak them in pieces
            head, self._partial = self._partial[:limit], self._partial[limit:]
            self.warnings.append(TextWarning("too_long_word", head))
            self._push_word(head, now_ns)
            self._partial_ns = now_ns

    def _complete_partial(self, now_ns: int) -> None:
        if self._partial:
            self._push_word(self._partial, now_ns)
            self._partial = ""
            self._partial_ns = None

    def _push_word(self, text: str, now_ns: int) -> None:
        for w in split_words(text):
            if not any(ch.isalnum() for ch in w):
                # lone punctuation ("-", "...", ","): attach its boundary to the previous word
                b = boundary_of(w)
                if self._words and b is not Boundary.NONE:
                    prev = self._words[-1]
                    if b.value == "sentence" or prev.boundary is Boundary.NONE:
                        self._words[-1] = Word(prev.text + w.strip(), prev.arrived_ns, prev.first_token_ns, b)
                continue
            first_ns = self._partial_ns if self._partial_ns is not None else now_ns
            self._words.append(Word(w, now_ns, first_ns, boundary_of(w)))

    # -- state ----------------------------------------------------------------
    @property
    def buffered_words(self) -> int:
        return len(self._words)

    @property
    def is_full(self) -> bool:
        return len(self._words) >= self.config.max_buffered_words

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def drained(self) -> bool:
        """Finished and nothing left to hand out."""
        return self._finished and not self._words and not self._partial

    @property
    def step(self) -> tuple[int, int]:
        return self._steps[min(self._step, len(self._steps) - 1)]

    # -- output ---------------------------------------------------------------
    def next_span(self, now_ns: int, ahead_ms: float = 0.0) -> Span | None:
        """The next span to synthesize, or None if the schedule says wait for more text."""
        if self._eager_ok():
            self._complete_partial(now_ns)  # the first word of an utterance goes out at its token's end
        k = self._decide(ahead_ms)
        return None if k is None else self._cut(k, now_ns)

    def waiting_for_text(self, ahead_ms: float = 0.0) -> bool:
        """True when `next_span` would give nothing now: the schedule needs more text first."""
        return not self._eager_ok() and self._decide(ahead_ms) is None

    def _eager_ok(self) -> bool:
        return (
            bool(self._partial)
            and not self._words
            and self._span_in_utt == 0
            and self.config.eager_first_word
            and not self._finished
            and self._partial.lower() not in _NEVER_ALONE
        )

    def _decide(self, ahead_ms: float) -> int | None:
        """How many buffered words the next span takes, or None to wait (the cutting rules above)."""
        words = self._words
        if not words:
            return None
        t, a = self.step
        n = len(words)
        reach = min(n, a + self.config.slack_words)
        # 1. never cross a sentence end (one just past the bound is near enough)
        for i in range(reach):
            if words[i].boundary is Boundary.SENTENCE:
                return i + 1
        lo = max(1, math.ceil(t / 2))
        if n > a:  # 2. more than a span's worth: cut at a clause boundary near the bound
            return self._back_off(self._clause_cut(lo, a, reach))
        if self._finished:  # 4. the tail
            return self._clause_cut(lo, n, n)
        if n < t:
            return None
        # 3. enough words: wait for a boundary only if the listener has plenty queued
        if words[-1].boundary is Boundary.NONE and ahead_ms > self.config.patience_ms:
            return None
        k = self._clause_cut(max(t, math.ceil(n / 2)), n, n)
        if k == 1 and words[0].text.lower() in _NEVER_ALONE:
            return None
        return self._back_off(k)

    def _back_off(self, k: int) -> int:
        """A mid-phrase cut after a weak word ("in the | room") moves before it (at most two words)."""
        for _ in range(2):
            w = self._words[k - 1]
            if k > 1 and w.boundary is Boundary.NONE and w.text.lower() in WEAK_WORDS:
                k -= 1
            else:
                break
        return k

    def _clause_cut(self, lo: int, hi: int, reach: int) -> int:
        """Words to take: the last clause boundary at a count in [lo, hi], else the first in (hi, reach], else hi."""
        for k in range(hi, lo - 1, -1):
            if self._words[k - 1].boundary is not Boundary.NONE:
                return k
        for k in range(hi + 1, reach + 1):
            if self._words[k - 1].boundary is not Boundary.NONE:
                return k
        return hi

    def _cut(self, k: int, now_ns: int) -> Span:
        taken, self._words = self._words[:k], self._words[k:]
        final = self._finished and not self._words
        span = Span(
            utterance=self._utterance,
            index=self._span_in_utt,
            words=tuple(w.text for w in taken),
            first_token_ns=min(w.first_token_ns for w in taken),
            cut_ns=now_ns,
            boundary=taken[-1].boundary,
            final=final,
        )
        self._span_in_utt += 1
        self._step += 1
        if final:
            self._new_utterance()
        return span

    def _new_utterance(self) -> None:
        self._utterance += 1
        self._span_in_utt = 0
        self._step = 0
        self.first_token_ns = None

    def reset(self) -> list[str]:
        """Barge-in: drop all text not yet handed out; returns the dropped words."""
        dropped = [w.text for w in self._words]
        if self._partial:
            dropped.append(self._partial)
        self._words = []
        self._partial = ""
        self._partial_ns = None
        self.cleaner.reset()
        self._finished = False
        self._new_utterance()
        return dropped
