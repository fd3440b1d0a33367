"""Adapters from the speech packages (liveloop.asr, liveloop.tts) to the session's protocols.

`recognizer_factory()` and `speaker_factory()` raise `SpeechUnavailable` with the
reason when the package is not there yet; `load_stack` turns that into a note.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from liveloop.apps.voice import Recognizer, Speaker


class SpeechUnavailable(RuntimeError):
    """A speech package (or its model) is not installed or has no streaming API yet."""


def _need(module: str, attr: str) -> object:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise SpeechUnavailable(f"{module} cannot be imported: {exc}") from exc
    if not hasattr(mod, attr):
        raise SpeechUnavailable(f"{module} has no {attr} yet")
    return getattr(mod, attr)


def recognizer_factory() -> Callable[[], Recognizer]:
    _need("liveloop.asr", "StreamingRecognizer")
    raise SpeechUnavailable("liveloop.asr adapter not wired yet")


def speaker_factory() -> Callable[[], Speaker]:
    _need("liveloop.tts", "StreamingSpeaker")
    raise SpeechUnavailable("liveloop.tts adapter not wired yet")
