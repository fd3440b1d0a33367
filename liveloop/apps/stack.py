"""Assemble the process-wide agent stack from whatever speech packages are installed.

ASR (liveloop.asr) and TTS (liveloop.tts) load their models once per process;
a part that cannot load is left out with a note saying why, and the agent runs
with the rest (typed text always reaches the responder).
"""

from __future__ import annotations

from liveloop.apps.voice import AgentStack


def load_stack(*, asr: bool = True, tts: bool = True, vision: bool = True) -> AgentStack:
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
            from liveloop.apps.speech import recognizer_factory

            stack.recognizer = recognizer_factory()
        except Exception as exc:
            stack.notes["asr"] = f"speech recognition unavailable: {exc}"
    else:
        stack.notes["asr"] = "disabled (--no-asr)"
    if tts:
        try:
            from liveloop.apps.speech import speaker_factory

            stack.speaker = speaker_factory()
        except Exception as exc:
            stack.notes["tts"] = f"speech synthesis unavailable: {exc}"
    else:
        stack.notes["tts"] = "disabled (--no-tts)"
    return stack
