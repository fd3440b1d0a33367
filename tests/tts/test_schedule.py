"""The interleaving scheduler on scripted token streams (no event loop, no voice)."""

from __future__ import annotations

import pytest

from liveloop.tts.schedule import InterleavingScheduler, Schedule, SchedulerConfig, Span
from liveloop.tts.text import Boundary

TEXT = "Sure, I can see the red cup on the table. Do you want it?"


def words_of(text: str) -> list[str]:
    ws = text.split()
    return [w if i == 0 else " " + w for i, w in enumerate(ws)]


def run_free(tokens: list[str], cfg: SchedulerConfig, ahead_ms: float = 0.0) -> list[Span]:
    """A synthesizer that is always free: it asks for a span after every token."""
    s = InterleavingScheduler(cfg)
    spans: list[Span] = []
    for i, tok in enumerate(tokens):
        s.feed(tok, now_ns=i * 50_000_000)
        while (sp := s.next_span(i * 50_000_000, ahead_ms)) is not None:
            spans.append(sp)
    s.finish(len(tokens) * 50_000_000)
    while (sp := s.next_span(len(tokens) * 50_000_000, ahead_ms)) is not None:
        spans.append(sp)
    assert s.drained
    return spans


def test_balance_word_by_word_grows_1_3_4_and_cuts_at_sentences() -> None:
    spans = run_free(words_of(TEXT), SchedulerConfig(schedule=Schedule.BALANCE, tokens_are_words=True))
    # "on" would end a mid-phrase cut: it moves to the next span
    assert [s.text for s in spans] == ["Sure,", "I can see", "the red cup", "on the table.", "Do you want it?"]
    assert [s.index for s in spans] == [0, 1, 2, 3, 4]
    assert spans[0].first_token_ns == 0  # the first span is the first token: audio can start at once
    assert spans[3].boundary is Boundary.SENTENCE


def test_turbo_word_by_word_takes_every_word_at_once() -> None:
    spans = run_free(words_of("one two three four"), SchedulerConfig(schedule=Schedule.TURBO, tokens_are_words=True))
    assert [s.text for s in spans] == ["one", "two", "three", "four"]


def test_boost_first_one_word_then_four() -> None:
    spans = run_free(words_of("b c d e f g h i j"), SchedulerConfig(schedule=Schedule.BOOST, tokens_are_words=True))
    assert [len(s.words) for s in spans] == [1, 4, 4]


def test_text_arriving_at_once_is_cut_at_the_first_clause_then_at_sentences() -> None:
    spans = run_free([TEXT], SchedulerConfig(schedule=Schedule.BALANCE))
    assert [s.text for s in spans] == ["Sure,", "I can see the red cup on the table.", "Do you want it?"]


def test_last_span_after_finish_is_final() -> None:
    s = InterleavingScheduler(SchedulerConfig(schedule=Schedule.BALANCE))
    s.feed(TEXT, 0)
    s.finish(0)
    spans = []
    while (sp := s.next_span(0)) is not None:
        spans.append(sp)
    assert [sp.final for sp in spans] == [False, False, True]
    assert s.drained


def test_span_never_exceeds_the_audio_bound_without_a_boundary() -> None:
    text = " ".join(f"w{i}" for i in range(50))
    spans = run_free([text], SchedulerConfig(schedule=Schedule.BALANCE))
    assert [len(s.words) for s in spans][:3] == [4, 8, 10]
    assert " ".join(s.text for s in spans) == text


def test_clause_boundary_near_the_bound_is_preferred() -> None:
    spans = run_free(["a b c d e f, g h i j k l m n"], SchedulerConfig(steps=((1, 1), (4, 10))))
    assert [s.text for s in spans][1] == "b c d e f,"


def test_a_boundary_just_past_the_bound_is_near_enough() -> None:
    spans = run_free(["a b c d e, f g"], SchedulerConfig(steps=((1, 4),), slack_words=1))
    assert [s.text for s in spans] == ["a b c d e,", "f", "g"]  # "g" has no end until finish()
    spans = run_free(["a b c d e f, g"], SchedulerConfig(steps=((1, 4),), slack_words=1))
    assert [s.text for s in spans] == ["a b c d", "e f,", "g"]


def test_patience_waits_for_a_boundary_when_audio_is_queued() -> None:
    cfg = SchedulerConfig(schedule=Schedule.TURBO, tokens_are_words=True, patience_ms=500)
    s = InterleavingScheduler(cfg)
    s.feed("Well", 0)
    assert s.next_span(0, ahead_ms=0).text == "Well"  # type: ignore[union-attr]
    s.feed(" I", 1)
    s.feed(" think", 2)
    assert s.next_span(3, ahead_ms=900) is None  # plenty queued: wait for a boundary
    s.feed(" so,", 4)
    assert s.next_span(5, ahead_ms=900).text == "I think so,"  # type: ignore[union-attr]
    s.feed(" but", 6)
    assert s.next_span(7, ahead_ms=100).text == "but"  # type: ignore[union-attr]  # little queued: go now


def test_subword_tokens_wait_for_the_word_end_unless_eager() -> None:
    cfg = SchedulerConfig(eager_first_word=False)
    s = InterleavingScheduler(cfg)
    for tok in ["Hel", "lo"]:
        s.feed(tok, 0)
        assert s.next_span(0) is None
    s.feed(",", 0)
    assert s.next_span(0).text == "Hello,"  # type: ignore[union-attr]
    for tok in [" wor", "ld", "."]:
        s.feed(tok, 0)
    assert s.next_span(0).text == "world."  # type: ignore[union-attr]


def test_eager_first_word_goes_out_at_its_token_end() -> None:
    s = InterleavingScheduler(SchedulerConfig())
    s.feed("Okay", 7)
    span = s.next_span(9)
    assert span is not None and span.text == "Okay" and span.first_token_ns == 7
    s.feed(" then", 10)
    assert s.next_span(11) is None  # later words wait for their end (and for the schedule's 3 words)


def test_a_digit_dot_is_not_a_sentence_end_until_the_next_token() -> None:
    s = InterleavingScheduler(SchedulerConfig(eager_first_word=False, steps=((1, 10),)))
    s.feed("It costs 3.", 0)
    assert s.next_span(0).text == "It costs"  # type: ignore[union-attr]
    s.feed("5 dollars.", 0)
    assert s.next_span(0).text == "3.5 dollars."  # type: ignore[union-attr]


def test_a_mid_phrase_cut_moves_before_weak_words_and_a_is_never_alone() -> None:
    text = "we found three people sitting in the room today"
    spans = run_free([text], SchedulerConfig(steps=((1, 1), (6, 6))))
    assert [s.text for s in spans] == ["we", "found three people sitting", "in the room today"]
    s = InterleavingScheduler(SchedulerConfig(tokens_are_words=True))
    s.feed("A", 0)
    assert s.next_span(0) is None  # read alone, espeak-ng says the letter
    s.feed(" cup", 1)
    span = s.next_span(1)
    assert span is not None and span.text == "A cup"


def test_the_is_never_a_first_span_alone() -> None:
    s = InterleavingScheduler(SchedulerConfig(tokens_are_words=True))
    s.feed("The", 0)
    assert s.next_span(0) is None  # alone it is heard as "that"
    s.feed(" weather", 1)
    span = s.next_span(1)
    assert span is not None and span.text == "The weather"


def test_lone_punctuation_tokens_attach_to_the_previous_word() -> None:
    s = InterleavingScheduler(SchedulerConfig(steps=((3, 10),), eager_first_word=False))
    for tok in ["Yes", " ,", " really", " ."]:
        s.feed(tok, 0)
    span = s.next_span(0)
    assert span is not None and span.words == ("Yes,", "really.")


def test_markup_is_cleaned_and_reported() -> None:
    s = InterleavingScheduler(SchedulerConfig(steps=((1, 10),)))
    warnings = s.feed("<b>Hi</b> there 😀.", 0)
    assert {w.kind for w in warnings} == {"markup", "symbol"}
    assert s.next_span(0).text == "Hi there."  # type: ignore[union-attr]


def test_runaway_word_is_cut_with_a_warning() -> None:
    s = InterleavingScheduler(SchedulerConfig(max_word_chars=8, steps=((1, 10),)))
    s.feed("x" * 20 + " ok", 0)
    s.finish(0)
    span = s.next_span(0)
    assert span is not None and span.words == ("xxxxxxxx", "xxxxxxxx", "xxxx", "ok")
    assert [w.kind for w in s.warnings] == ["too_long_word", "too_long_word"]


def test_back_pressure_and_reset() -> None:
    s = InterleavingScheduler(SchedulerConfig(max_buffered_words=16, steps=((1, 10),)))
    s.feed(" ".join(["w"] * 20) + " ", 0)
    assert s.is_full and s.buffered_words == 20
    assert s.next_span(0) is not None
    assert not s.is_full
    dropped = s.reset()
    assert len(dropped) == 10 and s.buffered_words == 0
    s.feed("again", 1)
    span = s.next_span(1)
    assert span is not None and span.utterance == 1 and span.index == 0  # a new utterance starts at step 0


def test_empty_and_whitespace_input_gives_nothing() -> None:
    s = InterleavingScheduler()
    for tok in ["", "   ", "\n"]:
        s.feed(tok, 0)
        assert s.next_span(0) is None
    s.finish(0)
    assert s.drained and s.next_span(0) is None


def test_finish_then_more_text_opens_the_next_utterance() -> None:
    s = InterleavingScheduler(SchedulerConfig(tokens_are_words=True))
    s.feed("Hi.", 0)
    first = s.next_span(0)
    s.finish(0)
    s.feed("Bye.", 1)
    second = s.next_span(1)
    assert first is not None and second is not None
    assert (first.utterance, second.utterance, second.index) == (0, 1, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": ((0, 4),)}, "1 <= text <= audio"),
        ({"steps": ((5, 4),)}, "1 <= text <= audio"),
        ({"patience_ms": -1}, "patience_ms must be"),
        ({"max_buffered_words": 3}, "max_buffered_words must be"),
        ({"schedule": "balance"}, "schedule must be a Schedule"),
    ],
)
def test_config_is_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SchedulerConfig(**kwargs)
