"""liveloop.tts — streaming speech out (DESIGN.md §4).

    text tokens ─► InterleavingScheduler ─► spans ─► Synthesizer (Piper, windowed decoder)
                                                          │ chunks + word timings
                   TextMark + AudioFrame (20 ms) ◄─ SpeechStream (framer, playback rule, barge-in)

Modules: `text` (clean-up), `schedule` (the VITA-Audio-style schedule), `voice`
(the backend), `audio` (resampling, framing), `stream` (the sans-I/O core),
`driver` (asyncio loops, `say`), `node` (`Speaker`), `evaluate` (WER), `cli`.
Names are imported lazily so ``liveloop --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Speaker": "liveloop.tts.node",
    "SpeechStream": "liveloop.tts.stream",
    "StreamConfig": "liveloop.tts.stream",
    "SpokenReport": "liveloop.tts.stream",
    "InterleavingScheduler": "liveloop.tts.schedule",
    "Schedule": "liveloop.tts.schedule",
    "SchedulerConfig": "liveloop.tts.schedule",
    "Span": "liveloop.tts.schedule",
    "PiperSynthesizer": "liveloop.tts.voice",
    "Synthesizer": "liveloop.tts.voice",
    "VoiceConfig": "liveloop.tts.voice",
    "AudioFrame": "liveloop.tts.audio",
    "TextMark": "liveloop.tts.audio",
    "Framer": "liveloop.tts.audio",
    "say": "liveloop.tts.driver",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'liveloop.tts' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)
