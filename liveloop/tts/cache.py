"""A cache of synthesized spans: a reply's opening words, said before, are not synthesized again.

    CachedSynthesizer(voice, max_spans=64, max_words=6)   a `Synthesizer` like the voice it wraps
    first_span(text, config) -> (words, join_head, join_tail)   the span a stream asks for first
    cached.warm(texts, config)                                 synthesize those first spans now

A voice agent's first audio is the front end plus the first decoder window of
its reply's first span: 70–90 ms of CPU for two words with Piper on this
machine, twice that on a loaded one, all of it on the voice-to-voice path. A
command agent opens most replies with the same few words ("Hello!", "I heard:",
"Going left,"), so a span of at most `max_words` words is kept, keyed by its
words and its joins (the audio at a join is trimmed), and replayed instantly
the next time; `warm` fills it at start-up with the first spans of the
replies an agent is known to give, so the first turn is as fast as the
twentieth. Replay is the rendition made the first time (Piper's noise makes
every rendition a little different; any of them is the voice).

Bounded: least recently used spans are evicted beyond `max_spans`. A span is
kept only when its stream ran to the end (a barge-in leaves nothing half
cached). Thread-safe: the voice runs in worker threads.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from liveloop.tts.voice import SynthChunk, Synthesizer

SpanKey = tuple[tuple[str, ...], bool, bool]  # (words, join_head, join_tail)


class CachedSynthesizer:
    """`Synthesizer` that replays spans of up to `max_words` words it synthesized before."""

    def __init__(self, voice: Synthesizer, *, max_spans: int = 64, max_words: int = 6) -> None:
        if max_spans < 1 or max_words < 1:
            raise ValueError(f"max_spans and max_words must be >= 1, got {max_spans}, {max_words}")
        self.voice = voice
        self.name = f"{voice.name}+cache"
        self.sample_rate = voice.sample_rate
        self.max_spans = max_spans
        self.max_words = max_words
        self._spans: OrderedDict[SpanKey, tuple[SynthChunk, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._spans)

    def cached(self, words: Sequence[str], *, join_head: bool = False, join_tail: bool = False) -> bool:
        """Would `stream` replay this span (no compute: callers may run it on the event loop)?"""
        with self._lock:
            return (tuple(words), join_head, join_tail) in self._spans

    def stream(self, words: Sequence[str], *, join_head: bool = False, join_tail: bool = False) -> Iterator[SynthChunk]:
        key: SpanKey = (tuple(words), join_head, join_tail)
        if len(words) > self.max_words:
            yield from self.voice.stream(words, join_head=join_head, join_tail=join_tail)
            return
        with self._lock:
            cached = self._spans.get(key)
            if cached is not None:
                self._spans.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
        if cached is not None:
            for chunk in cached:
                yield replace(chunk, compute_s=0.0)
            return
        made: list[SynthChunk] = []
        for chunk in self.voice.stream(words, join_head=join_head, join_tail=join_tail):
            made.append(chunk)
            yield chunk
        self._keep(key, tuple(made))  # reached only when the consumer took every chunk

    def _keep(self, key: SpanKey, chunks: tuple[SynthChunk, ...]) -> None:
        with self._lock:
            self._spans[key] = chunks
            self._spans.move_to_end(key)
            while len(self._spans) > self.max_spans:
                self._spans.popitem(last=False)

    def warm(self, texts: Iterable[str], config: Any = None) -> int:
        """Synthesize the first span of each text (as a `SpeechStream` with `config` would ask); returns how many."""
        n = 0
        for text in texts:
            span = first_span(text, self.sample_rate, config)
            if span is None or len(span[0]) > self.max_words:
                continue
            words, head, tail = span
            for _ in self.stream(words, join_head=head, join_tail=tail):
                pass
            n += 1
        return n


def first_span(text: str, sample_rate_hz: int, config: Any = None) -> SpanKey | None:
    """The span (words, join_head, join_tail) a stream asks its voice for first when `text` is fed whole."""
    from liveloop.tts.stream import SpeechStream

    stream = SpeechStream(sample_rate_hz, config)
    for m in re.finditer(r"\S+\s*", text):  # words with their trailing space, as a responder streams them
        stream.feed(m.group(0), 0)
    stream.finish(0)
    span = stream.next_span(0)
    if span is None:
        return None
    head, tail = stream.joins(span)
    return span.words, head, tail


__all__ = ["CachedSynthesizer", "SpanKey", "first_span"]
