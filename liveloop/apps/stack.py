"""The process-wide agent stack: the parts every session graph is built from.

ASR (liveloop.asr), TTS (liveloop.tts) and vision load their models once per
process (`load_stack`); a part that cannot load is left out with a note saying
why, and the agent runs with the rest (typed text always reaches the responder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveloop.agent.responder import Goal, ResponderConfig
from liveloop.apps.turns import EndpointConfig


@dataclass(slots=True)
class AgentStack:
    """Factories for the parts of the agent (one instance per session); None where a part is not available."""

    vad: Callable[[], Callable[[np.ndarray], float]] | None = None  # 512 samples at 16 kHz → p(speech)
    recognizer: Callable[[], Any] | None = None  # → a liveloop.apps.listen.Transcriber
    speaker: Callable[[], Any] | None = None  # → a liveloop.apps.reply.Speaker
    vision: Callable[[], Any] | None = None  # → liveloop.apps.vision.VisionPipeline
    llm: Any = None  # liveloop.agent.llm.LlmClient: free talk from an OpenAI-compatible endpoint
    responder: ResponderConfig = field(default_factory=ResponderConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)  # turn-taking
    asr_chunk_ms: int = 300  # the recognizer's chunk: audio is handed to it a chunk at a time
    offload: bool = True  # blocking model calls in worker threads (tests on a virtual clock run them inline)
    # where the responder's robot goals go (the robot app, when one is attached); called on the event loop
    goal_sink: Callable[[Goal], None] | None = None
    notes: dict[str, str] = field(default_factory=dict)  # why a part is missing

    def capabilities(self) -> dict[str, bool]:
        return {
            "asr": self.recognizer is not None and self.vad is not None,
            "tts": self.speaker is not None,
            "vision": self.vision is not None,
        }


def load_stack(*, asr: bool = True, tts: bool = True, vision: bool = True, tts_cache: bool = True) -> AgentStack:
    stack = AgentStack()
    from liveloop.agent.llm import LlmClient, LlmConfig

    llm = LlmConfig.from_env()
    if llm is not None:
        stack.llm = LlmClient(llm)
        stack.notes["llm"] = f"free talk from {llm.model} at {llm.url}"
    if vision:
        try:
            from liveloop.apps.vision import VisionConfig, VisionPipeline

            VisionPipeline(VisionConfig())  # load the detector once now, not on the first frame
            stack.vision = VisionPipeline
        except Exception as exc:
            stack.notes["vision"] = f"vision unavailable: {exc}"
    else:
        stack.notes["vision"] = "disabled (--no-vision)"
    if asr:
        try:
            from liveloop.apps.speech import AsrConfig, recognizer_factory, vad_factory

            config = AsrConfig()
            stack.vad = vad_factory()
            stack.recognizer = recognizer_factory(config)
            stack.asr_chunk_ms = config.chunk_ms
        except Exception as exc:
            stack.vad = stack.recognizer = None
            stack.notes["asr"] = f"speech recognition unavailable: {exc}"
    else:
        stack.notes["asr"] = "disabled (--no-asr)"
    if tts:
        try:
            from liveloop.apps.speech import TtsConfig, canned_replies, speaker_factory

            config = TtsConfig() if tts_cache else TtsConfig(cache_spans=0)
            stack.speaker = speaker_factory(config, warm=canned_replies(stack.responder))
        except Exception as exc:
            stack.notes["tts"] = f"speech synthesis unavailable: {exc}"
    else:
        stack.notes["tts"] = "disabled (--no-tts)"
    return stack
