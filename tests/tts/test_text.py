"""The text cleaner: markup, symbols and control characters are dropped with a warning, text is kept."""

from __future__ import annotations

import pytest

from liveloop.tts.text import Boundary, CleanerConfig, TextCleaner, boundary_of, split_words


def clean_all(tokens: list[str]) -> tuple[str, list[str]]:
    c = TextCleaner()
    out, kinds = [], []
    for t in tokens:
        text, w = c.feed(t)
        out.append(text)
        kinds += [x.kind for x in w]
    text, w = c.finish()
    out.append(text)
    kinds += [x.kind for x in w]
    return " ".join(split_words("".join(out))), kinds


def test_plain_text_passes_through() -> None:
    assert clean_all(["Hello, ", "how are you?"]) == ("Hello, how are you?", [])


def test_html_and_ssml_tags_are_dropped() -> None:
    text, kinds = clean_all(['<speak>Say <emphasis level="strong">this</emphasis>.</speak>'])
    assert text == "Say this ."
    assert kinds.count("markup") == 4


def test_tag_split_across_tokens_is_held_back_until_closed() -> None:
    c = TextCleaner()
    assert c.feed("Hi <b") == ("Hi ", [])  # "<b" could be a tag: held
    text, w = c.feed(">there</b>")
    assert text.split() == ["there"]
    assert [x.kind for x in w] == ["markup", "markup"]


def test_comparison_is_not_markup() -> None:
    assert clean_all(["a < b and 3 > 2"])[0] == "a < b and 3 > 2"


def test_markdown_and_links() -> None:
    text, kinds = clean_all(["## Title\n**bold** and `code` see [the docs](https://x.org/a)"])
    assert text == "Title bold and code see the docs"
    assert "markup" in kinds


def test_emoji_and_control_characters_are_dropped_with_warnings() -> None:
    text, kinds = clean_all(["Great 😀 job\x00\x07 🎉!"])
    assert text == "Great job !"
    assert "symbol" in kinds and "control" in kinds


def test_raw_phoneme_blocks_are_not_accepted() -> None:
    text, kinds = clean_all(["say [[ hɛloʊ ]] now"])
    assert text == "say now"
    assert kinds == ["phonemes"]


def test_unclosed_tag_is_released_at_finish_as_text() -> None:
    c = TextCleaner()
    assert c.feed("x <unclosed") == ("x ", [])
    assert c.finish()[0] == "<unclosed"


def test_unclosed_tag_longer_than_limit_is_text() -> None:
    c = TextCleaner(CleanerConfig(max_markup_chars=16))
    text, _ = c.feed("<" + "a" * 40)
    assert text.startswith("<aaa")


@pytest.mark.parametrize("bad", [None, 3, b"bytes"])
def test_non_text_token_is_rejected(bad: object) -> None:
    with pytest.raises(TypeError, match="must be str"):
        TextCleaner().feed(bad)  # type: ignore[arg-type]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="max_markup_chars must be"):
        CleanerConfig(max_markup_chars=2)


@pytest.mark.parametrize(
    ("word", "boundary"),
    [("you?", Boundary.SENTENCE), ("Hello,", Boundary.CLAUSE), ('said."', Boundary.SENTENCE), ("cup", Boundary.NONE)],
)
def test_boundaries(word: str, boundary: Boundary) -> None:
    assert boundary_of(word) is boundary
