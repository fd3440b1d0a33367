"""`tts.Speaker` in a running graph (real voice, real clock): marks and frames out, budgets, barge-in."""

from __future__ import annotations

import asyncio
import time

import pytest

from liveloop.graph import EventKind, MonotonicClock
from liveloop.testing import NodeHarness
from liveloop.tts.audio import AudioFrame, TextMark
from liveloop.tts.node import Speaker
from liveloop.tts.schedule import SchedulerConfig
from liveloop.tts.stream import SpokenReport, StreamConfig
from liveloop.tts.voice import PiperSynthesizer, VoiceConfig

TEXT = "Sure, I can see the red cup on the table."


@pytest.fixture(scope="module")
def synth() -> PiperSynthesizer:
    return PiperSynthesizer(VoiceConfig())


def speaker(synth: PiperSynthesizer) -> Speaker:
    cfg = StreamConfig(scheduler=SchedulerConfig(tokens_are_words=True), output_rate_hz=24_000)
    return Speaker(stream=cfg, synthesizer=synth)


async def until(cond, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


def test_tokens_in_frames_and_marks_out_with_the_first_token_budget(synth: PiperSynthesizer) -> None:
    async def main() -> None:
        sp = speaker(synth)
        async with NodeHarness(sp, clock=MonotonicClock(), budgets={("text", "audio"): 100}) as h:
            words = TEXT.split()
            for i, w in enumerate(words):
                await h.feed("text", w if i == 0 else " " + w)
                await asyncio.sleep(0.05)
            await h.control(EventKind.FLUSH)
            await until(lambda: h.data("spoken"))
            audio = h.outputs["audio"]
            assert all(isinstance(e.data, AudioFrame) and len(e.data.samples) == 480 for e in audio)
            assert [m.text for m in h.data("marks")] == words
            assert all(isinstance(m, TextMark) for m in h.data("marks"))
            (report,) = h.data("spoken")
            assert isinstance(report, SpokenReport) and report.complete and report.spoken_text == TEXT
            # the first frame carries the first token's origin: the budget measured first text in → first audio out
            assert audio[0].source == "in_text" and audio[1].source == sp.name
            budget = next(b for b in h.graph.budgets if b.name == "text->audio")
            assert budget.stats.total == 1
            starts = [e.data.start for e in audio]
            assert starts == [i * 480 for i in range(len(audio))]

    asyncio.run(main())


def test_interrupt_stops_audio_and_reports_what_was_heard(synth: PiperSynthesizer) -> None:
    async def main() -> None:
        sp = speaker(synth)
        h = NodeHarness(sp, clock=MonotonicClock())
        h.graph.budget("in_text.out", "tts.audio", ms=50, name="barge_in", kind=EventKind.INTERRUPT)
        async with h:
            for i, w in enumerate((TEXT + " Shall I bring it over to you now?").split()):
                await h.feed("text", w if i == 0 else " " + w)
            await until(lambda: len(h.data("audio")) > 5)
            await h.interrupt()
            await until(lambda: any(r.interrupted for r in h.data("spoken")))
            n_frames = len(h.data("audio"))
            await asyncio.sleep(0.5)  # the voice was mid-span: nothing more may come out
            assert len(h.data("audio")) <= n_frames + 1  # at most one frame already handed to a full edge
            (report,) = [r for r in h.data("spoken") if r.interrupted]
            assert not report.complete and report.dropped_words > 0
            heard = report.spoken_text.split()
            assert heard == TEXT.split()[: len(heard)]
            assert any(c.kind is EventKind.INTERRUPT for c in h.controls("audio"))  # forwarded to the sink
            barge = next(b for b in h.graph.budgets if b.name == "barge_in")
            assert barge.stats.total == 1

    asyncio.run(main())


def test_bad_tokens_are_skipped_and_end_of_stream_speaks_the_rest(synth: PiperSynthesizer) -> None:
    async def main() -> None:
        sp = speaker(synth)
        async with NodeHarness(sp, clock=MonotonicClock()) as h:
            await h.feed("text", 42)  # not text
            await h.feed("text", "<b>Okay</b>")
            await until(lambda: len(h.data("marks")) == 1)
            await h.feed("text", " then")  # balance's second span wants 3 words: "then" waits for more text
            await asyncio.sleep(0.3)
            assert len(h.data("marks")) == 1
            await h.close()  # end of stream: what is held back is spoken
            await until(lambda: len(h.data("marks")) == 2 and bool(h.data("spoken")))
            assert sp.rejected_tokens == 1
            assert [m.text for m in h.data("marks")] == ["Okay", "then"]
            assert h.data("spoken")[-1].spoken_text == "Okay then"

    asyncio.run(main())
