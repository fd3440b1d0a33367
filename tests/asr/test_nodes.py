from __future__ import annotations

import numpy as np
import pytest

from liveloop.asr.audio import AudioFormatError
from liveloop.asr.nodes import CommittedWord, OriginMap, Partial, StreamingWhisper, Utterance, Vad, _samples
from liveloop.asr.recognizer import StreamConfig
from liveloop.asr.vad import EndOfUtterance, SpeechStart
from liveloop.graph.event import EventKind
from liveloop.testing import NodeHarness

MS = 1_000_000
T0 = 5_000 * MS  # capture time of the first sample


async def _feed_frames(h, audio, frame_ms=100):
    n = 16 * frame_ms
    for i in range(0, audio.size, n):
        await h.feed("audio", audio[i : i + n], origin_ns=T0 + i * 1_000_000_000 // 16000)
        await h.idle()


async def test_vad_node_events_with_origins(arctic_clip):
    audio = np.concatenate([np.zeros(16000, np.float32), arctic_clip, np.zeros(16000, np.float32)])
    async with NodeHarness(Vad(interrupt_on_speech=True)) as h:
        await _feed_frames(h, audio)
        await h.close()
    evs = h.outputs["events"]
    kinds = [type(e.data) for e in evs]
    assert kinds == [SpeechStart, EndOfUtterance]
    start, end = evs
    assert start.origin_ns == T0 + round(start.data.at_s * 1e9) and 1.0 <= start.data.at_s <= 1.6
    assert end.origin_ns > start.origin_ns
    assert sum(len(e.data) for e in h.outputs["out"]) == audio.size  # audio passes through, all of it
    assert any(c.kind is EventKind.INTERRUPT for c in h.controls("events"))  # barge-in signal


async def test_streaming_whisper_node(model, arctic_clip):
    node = StreamingWhisper(model=model, config=StreamConfig(chunk_ms=1000), adapter="none", offload=False)
    async with NodeHarness(node) as h:
        await _feed_frames(h, arctic_clip)
        await h.feed("vad", EndOfUtterance(at_s=arctic_clip.size / 16000, start_s=0.0), origin_ns=T0 + 3_100 * MS)
        await h.idle()
    words = h.data("words")
    assert words and all(isinstance(w, CommittedWord) for w in words)
    for ev in h.outputs["words"]:  # each word carries the capture time of the instant it ends
        assert ev.origin_ns == ev.data.end_origin_ns == T0 + round(ev.data.end_s * 16000) * 1_000_000_000 // 16000
    assert all(isinstance(p, Partial) for p in h.data("partial"))
    (utt,) = h.data("utterance")
    assert isinstance(utt, Utterance) and utt.text == " ".join(w.word for w in words)
    assert "table" in utt.text.lower()


def test_bad_audio_names_the_node():
    with pytest.raises(AudioFormatError, match=r"node 'asr'.*float32 or int16"):
        _samples(np.zeros(10, np.complex64), "asr")
    with pytest.raises(AudioFormatError, match=r"node 'vad'.*samples/sample_rate"):
        _samples("not audio", "vad")
    with pytest.raises(AudioFormatError, match="NaN"):
        _samples(np.array([np.nan], np.float32), "asr")


def test_conversion_and_origin_map():
    class Frame:
        samples = (np.sin(np.arange(4800) / 10) * 8000).astype(np.int16)
        sample_rate = 48000

    x = _samples(Frame(), "asr")
    assert x.dtype == np.float32 and abs(x.size - 1600) <= 64
    om = OriginMap()
    om.add(1600, 1_000 * MS)
    om.add(1600, 2_000 * MS)  # a gap between frames: the map follows the frames' own origins
    assert om.origin_ns(0.05) == 1_050 * MS
    assert om.origin_ns(0.15) == 2_050 * MS


async def test_end_of_utterance_waits_for_its_audio(model, arctic_clip):
    """An EndOfUtterance that overtakes queued audio closes the segment only once that audio is in."""
    node = StreamingWhisper(model=model, config=StreamConfig(chunk_ms=1000), adapter="none", offload=False)
    clip = arctic_clip[:32000]
    async with NodeHarness(node) as h:
        await h.feed("vad", SpeechStart(at_s=0.0), origin_ns=T0)
        await h.feed("vad", EndOfUtterance(at_s=1.5, start_s=0.0, detected_s=2.0), origin_ns=T0)
        await h.idle()
        assert h.data("utterance") == [] and node._pending_vad
        await _feed_frames(h, clip)
    assert not node._pending_vad
    (utt,) = h.data("utterance")
    assert utt.text and utt.end_origin_ns == T0 + 2_000 * MS


async def test_vad_gates_silence(model, arctic_clip):
    """Between utterances (after a VAD event says so) audio is not decoded: silence yields no words."""
    node = StreamingWhisper(model=model, config=StreamConfig(chunk_ms=1000), adapter="none", offload=False)
    async with NodeHarness(node) as h:
        await h.feed("vad", EndOfUtterance(at_s=0.0, start_s=0.0, detected_s=0.0), origin_ns=T0)
        await h.idle()
        await _feed_frames(h, np.zeros(32000, np.float32))
        await h.close()
    assert h.data("words") == [] and h.data("utterance") == []
    kept = sum(x.size for x, _, _ in node._preroll)
    assert node.core.n_samples == 0 and kept <= 320 * 16 + 16000 + 1600  # pre-roll + slack (+ one frame)


async def test_preroll_is_counted_from_the_vads_onset(model):
    """On speech start the recognizer gets the audio from `preroll_ms` before the VAD's onset (at_s), however
    late the VAD decided; the first fed sample keeps its own capture time."""
    node = StreamingWhisper(model=model, config=StreamConfig(chunk_ms=1000), adapter="none", offload=False)
    async with NodeHarness(node) as h:
        await h.feed("vad", EndOfUtterance(at_s=0.0, start_s=0.0, detected_s=0.0), origin_ns=T0)
        await h.idle()
        await _feed_frames(h, np.zeros(48000, np.float32))  # 3 s of "silence", 100 ms frames
        await h.feed("vad", SpeechStart(at_s=2.5), origin_ns=T0 + 2_500 * MS)  # decided at 3.0 s
        await h.idle()
        assert node.core is not None and node.core.n_samples == 48000 - (40000 - 320 * 16)  # from 2.18 s on
        assert node.origins.origin_ns(0.0) == T0 + 2_180 * MS


@pytest.mark.parametrize(("backlog_ms", "chunk_ms"), [(0, 300), (2_000, 1000)])
async def test_budget_picks_the_chunk_size(model, arctic_clip, backlog_ms, chunk_ms):
    """Audio that arrives in time is decoded in 300 ms chunks; audio already past its budget (a recognizer
    behind real time) switches the next utterance to 1 s chunks, the cheaper per second of audio."""
    node = StreamingWhisper(model=model, config=StreamConfig(chunk_ms=300), adapter="none", offload=False)
    async with NodeHarness(node, budgets={("audio", "words"): 600}) as h:
        n = 1600  # 100 ms frames
        for i in range(0, arctic_clip.size, n):
            await h.feed("audio", arctic_clip[i : i + n], origin_ns=h.clock.now_ns() - backlog_ms * MS)
            await h.idle()
        await h.feed("vad", EndOfUtterance(at_s=arctic_clip.size / 16000, start_s=0.0), origin_ns=h.clock.now_ns())
        await h.idle()
        assert node.core is not None and node.core.config.chunk_ms == chunk_ms
    assert "table" in h.data("utterance")[0].text.lower()  # the words come out either way
    counts = h.graph.runtimes[node.name].stats.mode_counts
    assert max(counts, key=counts.get) == f"chunk{chunk_ms}"


async def test_vad_events_that_overtake_queued_audio_wait_for_it(model, arctic_clip, arctic_clip2):
    """Under load the runtime serves `vad` while audio is still queued, so the events of two utterances can all
    arrive before their audio. Each applies at its own place in the stream: both utterances come out whole."""
    node = StreamingWhisper(model=model, config=StreamConfig(chunk_ms=300), adapter="auto", offload=False)
    gap = np.zeros(16000, np.float32)
    audio = np.concatenate([gap, arctic_clip, gap, arctic_clip2, gap])
    a1, e1 = 1.0, 1.0 + arctic_clip.size / 16000
    a2, e2 = e1 + 1.0, e1 + 1.0 + arctic_clip2.size / 16000
    async with NodeHarness(node) as h:
        for ev in (
            SpeechStart(at_s=a1),
            EndOfUtterance(at_s=e1, start_s=a1, detected_s=e1 + 0.5),
            SpeechStart(at_s=a2),
            EndOfUtterance(at_s=e2, start_s=a2, detected_s=e2 + 0.5),
        ):
            await h.feed("vad", ev, origin_ns=T0)
        await h.idle()
        await _feed_frames(h, audio)
    first, second = (u.text.lower() for u in h.data("utterance"))
    assert "table" in first and "degree" not in first
    assert "degree" in second and "table" not in second
