"""The span cache: replay, bounds, joins in the key, nothing half cached, warm-up (a scripted voice)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from liveloop.tts.cache import CachedSynthesizer, first_span
from liveloop.tts.schedule import SchedulerConfig
from liveloop.tts.stream import StreamConfig
from liveloop.tts.voice import SynthChunk, WordTiming


class ScriptedVoice:
    """Two chunks per span; counts the spans it was asked for."""

    name = "scripted"
    sample_rate = 24_000

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], bool, bool]] = []

    def stream(self, words: Sequence[str], *, join_head: bool = False, join_tail: bool = False) -> Iterator[SynthChunk]:
        self.calls.append((tuple(words), join_head, join_tail))
        timings = tuple(WordTiming(i, w, 480 * i) for i, w in enumerate(words))
        yield SynthChunk(np.full(480, 0.1, np.float32), 0, timings, 0.05)
        yield SynthChunk(np.full(480, 0.2, np.float32), 480, (), 0.05)


def test_a_span_said_before_is_replayed_without_the_voice() -> None:
    voice = ScriptedVoice()
    cache = CachedSynthesizer(voice)
    assert not cache.cached(["I", "heard:"])
    first = list(cache.stream(["I", "heard:"]))
    assert cache.cached(["I", "heard:"]) and not cache.cached(["I", "heard:"], join_tail=True)
    again = list(cache.stream(["I", "heard:"]))
    assert len(voice.calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    assert [c.offset for c in again] == [c.offset for c in first] and again[0].words == first[0].words
    assert np.array_equal(again[1].samples, first[1].samples)
    assert all(c.compute_s == 0.0 for c in again)  # nothing was computed
    list(cache.stream(["I", "heard:"], join_tail=True))  # another join trims other audio: another span
    assert len(voice.calls) == 2


def test_long_spans_pass_through_and_the_cache_is_bounded() -> None:
    voice = ScriptedVoice()
    cache = CachedSynthesizer(voice, max_spans=2, max_words=3)
    long = ["one", "two", "three", "four"]
    list(cache.stream(long))
    list(cache.stream(long))
    assert len(voice.calls) == 2 and len(cache) == 0
    for words in (["a"], ["b"], ["c"]):
        list(cache.stream(words))
    assert len(cache) == 2
    list(cache.stream(["a"]))  # evicted (least recently used): synthesized again
    assert voice.calls[-1] == (("a",), False, False)
    with pytest.raises(ValueError, match="max_spans and max_words must be >= 1"):
        CachedSynthesizer(voice, max_spans=0)


def test_a_stream_stopped_early_is_not_cached() -> None:
    voice = ScriptedVoice()
    cache = CachedSynthesizer(voice)
    it = cache.stream(["Hello!"])
    next(it)
    it.close()  # barge-in: the consumer stopped after the first chunk
    assert len(cache) == 0
    assert len(list(cache.stream(["Hello!"]))) == 2 and len(voice.calls) == 2


def test_warm_makes_the_first_span_a_stream_asks_for() -> None:
    config = StreamConfig(scheduler=SchedulerConfig(steps=((1, 3), (4, 10)), tokens_are_words=True))
    assert first_span("Going left, once a robot is attached.", 24_000, config) == (("Going", "left,"), False, False)
    assert first_span("I cannot", 24_000, config) == (("I", "cannot"), False, False)
    assert first_span("", 24_000, config) is None
    voice = ScriptedVoice()
    cache = CachedSynthesizer(voice)
    assert cache.warm(["Hello! How can I help you?", "I heard: something"], config) == 2
    assert voice.calls == [(("Hello!",), False, False), (("I", "heard:"), False, False)]
    list(cache.stream(["Hello!"]))
    assert cache.hits == 1 and len(voice.calls) == 2
