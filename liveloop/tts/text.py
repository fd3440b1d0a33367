"""Text clean-up for speech: what an LLM emits is not what a voice should read.

Tokens arrive as an LLM streams them: pieces of words, whitespace, markup.
`TextCleaner` is a sans-I/O filter (``feed(token) -> (clean_text, warnings)``)
that removes what must not be spoken and keeps the rest:

    markup            HTML/SSML tags ``<b>``, Markdown ``**``, ``__``, ``#``, backticks,
                      link targets ``[text](url)`` → ``text``
    symbols           emoji and pictographs (espeak-ng would read "grinning face")
    control chars     anything in Unicode category C except whitespace
    raw phonemes      Piper's ``[[ … ]]`` blocks (not accepted from untrusted text)

Everything skipped is reported as a `TextWarning` naming what was dropped, so a
caller can log it; nothing raises. Tags and links can straddle tokens
(``"<b"``, ``">hi"``), so the cleaner holds back an unfinished ``<…`` or ``[…](``
until it closes or grows past `max_markup_chars` (then it is spoken as text).

`split_words` and the boundary helpers define what a "word" and a "clause
boundary" are for the scheduler.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

SENTENCE_END = frozenset(".!?…")
CLAUSE_END = frozenset(",;:—–")
_CLOSERS = "\"')]}»”’"

_TAG_RE = re.compile(r"</?[A-Za-z][^<>]{0,200}>|<!--.*?-->", re.S)
_LINK_RE = re.compile(r"\[([^\[\]]{0,200})\]\([^()\s]{0,500}\)")
_MD_RE = re.compile(r"(\*\*|__|~~|`+|^#{1,6}\s|(?<=\s)#{1,6}\s|^>\s)", re.M)
_PHONEME_BLOCK_RE = re.compile(r"\[\[.*?\]\]", re.S)
_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")


class Boundary(enum.Enum):
    """What ends a word, for the scheduler's cutting rule."""

    NONE = "none"
    CLAUSE = "clause"  # , ; : — a place to cut with little prosody cost
    SENTENCE = "sentence"  # . ! ? … always a cut


@dataclass(frozen=True, slots=True)
class TextWarning:
    """Something in the input that was not spoken."""

    kind: str  # "markup", "symbol", "control", "phonemes", "too_long_word"
    text: str

    def __str__(self) -> str:
        return f"tts skipped {self.kind}: {self.text[:40]!r}"


def boundary_of(word: str) -> Boundary:
    """The boundary a word ends on (``"you?"`` → SENTENCE, ``"Hello,"`` → CLAUSE)."""
    w = word.rstrip(_CLOSERS)
    if not w:
        return Boundary.NONE
    if w[-1] in SENTENCE_END:
        # "e.g." / "Dr." are abbreviations to espeak too, but a cut there only costs prosody
        return Boundary.SENTENCE
    if w[-1] in CLAUSE_END:
        return Boundary.CLAUSE
    return Boundary.NONE


def split_words(text: str) -> list[str]:
    return [w for w in _SPACE_RE.split(text) if w]


def _is_symbol(ch: str) -> bool:
    cat = unicodedata.category(ch)
    if cat == "So" or cat == "Cs" or cat == "Co":
        return True
    cp = ord(ch)
    return 0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or cp in (0xFE0F, 0x200D)


@dataclass(frozen=True, slots=True)
class CleanerConfig:
    max_markup_chars: int = 256  # an unclosed "<" or "[" longer than this is plain text

    def __post_init__(self) -> None:
        if self.max_markup_chars < 8:
            raise ValueError(f"max_markup_chars must be >= 8, got {self.max_markup_chars}")


class TextCleaner:
    """Streaming text filter: tokens in, speakable text out (plus warnings)."""

    def __init__(self, config: CleanerConfig | None = None) -> None:
        self.config = config or CleanerConfig()
        self._held = ""

    def reset(self) -> None:
        self._held = ""

    def feed(self, token: str) -> tuple[str, list[TextWarning]]:
        """Clean one token; may hold back an unfinished tag or link (returned on a later call)."""
        if not isinstance(token, str):
            raise TypeError(f"tts text token must be str, got {type(token).__name__}")
        text = self._held + token
        self._held = ""
        cut = self._unfinished_markup_start(text)
        if cut is not None:
            self._held = text[cut:]
            text = text[:cut]
        return self._clean(text)

    def finish(self) -> tuple[str, list[TextWarning]]:
        """Whatever is held back, cleaned as plain text (end of the text stream)."""
        text, self._held = self._held, ""
        return self._clean(text, final=True)

    def _unfinished_markup_start(self, text: str) -> int | None:
        limit = self.config.max_markup_chars
        for opener, closer in (("<", ">"), ("[", ")"), ("[[", "]]")):
            i = text.rfind(opener)
            if i < 0 or len(text) - i > limit:
                continue
            rest = text[i:]
            if closer not in rest:
                if opener == "[" and "](" not in rest and ("]" in rest or " " in rest.strip()):
                    continue  # "[note] more" is text, not a link in progress
                if opener == "<" and (len(rest) > 1 and not (rest[1].isalpha() or rest[1] in "/!")):
                    continue  # "a < b" is a comparison, not a tag
                return i
        return None

    def _clean(self, text: str, final: bool = False) -> tuple[str, list[TextWarning]]:
        warnings: list[TextWarning] = []
        if not text:
            return "", warnings
        text = unicodedata.normalize("NFKC", text)

        def drop(kind: str) -> object:
            def repl(m: re.Match[str]) -> str:
                warnings.append(TextWarning(kind, m.group(0)))
                return " "

            return repl

        text = _PHONEME_BLOCK_RE.sub(drop("phonemes"), text)  # type: ignore[arg-type]
        text = _TAG_RE.sub(drop("markup"), text)  # type: ignore[arg-type]

        def link(m: re.Match[str]) -> str:
            warnings.append(TextWarning("markup", m.group(0)))
            return m.group(1)

        text = _LINK_RE.sub(link, text)

        def md(m: re.Match[str]) -> str:
            warnings.append(TextWarning("markup", m.group(0)))
            return " " if m.group(0).endswith(" ") else ""

        text = _MD_RE.sub(md, text)
        out: list[str] = []
        dropped_sym: list[str] = []
        dropped_ctl: list[str] = []
        for ch in text:
            if ch in "\n\t\r":
                out.append(" ")
            elif _is_symbol(ch):
                dropped_sym.append(ch)
            elif unicodedata.category(ch).startswith("C"):
                dropped_ctl.append(ch)
            else:
                out.append(ch)
        if dropped_sym:
            warnings.append(TextWarning("symbol", "".join(dropped_sym)))
        if dropped_ctl:
            warnings.append(TextWarning("control", repr("".join(dropped_ctl))))
        return "".join(out), warnings
