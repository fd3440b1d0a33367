"""The listening cores: VAD framing and the recognizer's bookkeeping (no event loop, no model)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from liveloop.apps.listen import VAD_FRAME, Transcription, VadFramer

MS = 1_000_000


def test_frames_carry_the_capture_time_of_their_first_sample():
    f = VadFramer()
    assert f.feed(np.zeros(320, np.float32), 1000 * MS) == []
    out = f.feed(np.zeros(320, np.float32), 1020 * MS)
    assert len(out) == 1 and len(out[0][0]) == VAD_FRAME and out[0][1] == 1000 * MS
    out = f.feed(np.zeros(320, np.float32), 1040 * MS)  # 128 + 320 = 448 pending: no frame yet
    assert out == []
    out = f.feed(np.zeros(320, np.float32), 1060 * MS)
    assert [t for _, t in out] == [1032 * MS]


def test_a_discontinuity_restarts_the_framing():
    f = VadFramer()
    f.feed(np.zeros(320, np.float32), 0)
    out = f.feed(np.zeros(600, np.float32), 500 * MS)  # half a second later: the 320 pending are dropped
    assert [t for _, t in out] == [500 * MS] and f.resyncs == 1


@dataclass
class W:
    word: str


@dataclass
class U:
    words: tuple[W, ...] = ()
    partial: str = ""
    final: bool = False


@dataclass
class Recorder:
    """Commits " go" once per segment, " left." when it ends."""

    fed: list[int] = field(default_factory=list)
    speech_flags: list[bool] = field(default_factory=list)
    ended: int = 0
    said: bool = False

    def feed(self, samples: np.ndarray) -> list[U]:
        self.fed.append(len(samples))
        words = () if self.said else (W(" go"),)
        self.said = True
        return [U(words=words, partial=" le")]

    def end_segment(self, speech: bool = False) -> list[U]:
        self.ended += 1
        self.speech_flags.append(speech)
        self.said = False
        return [U(words=(W(" left."),), final=True)]


def test_audio_goes_to_the_recognizer_a_chunk_at_a_time():
    rec = Recorder()
    t = Transcription(rec, chunk_ms=100)
    t.begin()
    t.keep(np.zeros(1000, np.float32), 1)
    assert not t.due
    t.keep(np.zeros(1000, np.float32), 2)
    assert t.due
    assert t.step() == [(True, "go"), (False, "go le")]
    assert rec.fed == [2000] and t.end_ns == 2


def test_finalize_then_restore_recognizes_the_utterance_again_from_its_start():
    rec = Recorder()
    t = Transcription(rec, chunk_ms=100)
    t.begin()
    t.keep(np.zeros(1600, np.float32), 1)
    t.step()
    t.keep(np.zeros(500, np.float32), 2)
    ups, text = t.finalize()
    assert text == "go left." and rec.ended == 1 and not t.open
    assert ups[-1] == (True, "go left.")
    t.keep(np.zeros(300, np.float32), 3)  # the pause: kept, not recognized
    assert rec.fed == [1600, 500]
    t.restore()
    assert rec.fed[-1] == 1600 + 500 + 300 and t.open and t.restores == 1
    t.begin()  # a new utterance: the open segment is closed unheard, the kept audio forgotten
    assert rec.ended == 2
    assert t.finalize()[1] == "left."  # nothing was fed since: only what the segment's end commits
    # a finalized voice turn is speech (never closed empty); a segment closed unheard by begin() is not
    assert rec.speech_flags == [True, False, True]


def test_kept_audio_is_bounded():
    t = Transcription(Recorder(), chunk_ms=100, max_keep_s=0.1)
    t.begin()
    for _ in range(5):
        t.keep(np.zeros(800, np.float32), 0)
    assert t.kept_dropped == 3 * 800
    with pytest.raises(ValueError, match="must be > 0"):
        Transcription(Recorder(), chunk_ms=0)
