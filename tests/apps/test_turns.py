"""Turn-taking from VAD frames and hypotheses (no event loop)."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.apps.turns import (
    Begin,
    Cancelled,
    Confirmed,
    EmptyTurn,
    EndpointConfig,
    Finalize,
    Recognize,
    Restore,
    SpeechStarted,
    TurnState,
    TurnTaker,
    Utterance,
    is_complete,
)

MS = 1_000_000
FRAME = 512  # 32 ms
LOUD = np.full(FRAME, 0.2, np.float32)
QUIET = np.zeros(FRAME, np.float32)


class Script:
    """Feeds frames k = 0, 1, … (frame k starts at 32·k ms); loud frames are speech (p = 0.9)."""

    def __init__(self, tt: TurnTaker) -> None:
        self.tt = tt
        self.k = 0

    def frames(self, pattern: str) -> list:
        """'S' speech, '.' silence."""
        out = []
        for ch in pattern:
            loud = ch == "S"
            out += self.tt.feed(LOUD if loud else QUIET, self.k * 32 * MS, 0.9 if loud else 0.05)
            self.k += 1
        return out


def kinds(outs: list) -> list[str]:
    return [type(o).__name__ for o in outs if not isinstance(o, Recognize)]


def test_speech_start_preroll_and_the_preemptive_finalize():
    tt = TurnTaker(EndpointConfig(preroll_ms=64))
    s = Script(tt)
    outs = s.frames("...S")
    assert kinds(outs) == ["SpeechStarted", "Begin"]
    start = outs[0]
    assert isinstance(start, SpeechStarted) and start.at_ns == 96 * MS  # the first speech frame's start
    pre = [o for o in outs if isinstance(o, Recognize)]
    assert [r.start_ns // MS for r in pre] == [32, 64, 96]  # two frames of pre-roll, then the speech frame
    assert tt.state is TurnState.SPEECH
    outs = s.frames("SS.")
    assert kinds(outs) == ["Finalize"]  # the first silent frame is a pause: finish the text now
    fin = next(o for o in outs if isinstance(o, Finalize))
    assert fin.end_ns == 6 * 32 * MS  # the voice ended with frame 5, on the waveform
    assert tt.state is TurnState.PAUSE


def test_a_complete_command_ends_the_turn_after_the_short_hangover():
    tt = TurnTaker(EndpointConfig(endpoint_ms=240, complete_endpoint_ms=120))
    s = Script(tt)
    s.frames("SSS")
    fin = next(o for o in s.frames(".") if isinstance(o, Finalize))
    out = tt.hypothesis(fin.utt, " Go left.")
    assert out == [Utterance(fin.utt, "Go left.", fin.end_ns, speculative=True)]
    assert kinds(s.frames("..")) == []  # 96 ms of silence
    assert kinds(s.frames(".")) == ["Confirmed"]  # 128 ms ≥ 120 ms
    assert tt.state is TurnState.SILENCE


def test_an_incomplete_text_waits_the_full_hangover():
    tt = TurnTaker(EndpointConfig(endpoint_ms=240, complete_endpoint_ms=120))
    s = Script(tt)
    s.frames("SSS")
    fin = next(o for o in s.frames(".") if isinstance(o, Finalize))
    assert tt.hypothesis(fin.utt, "I was thinking")[0].speculative
    assert kinds(s.frames("......")) == []  # 224 ms
    assert kinds(s.frames(".")) == ["Confirmed"]  # 256 ms ≥ 240 ms


def test_text_that_comes_back_late_confirms_at_once_or_goes_out_not_speculative():
    tt = TurnTaker(EndpointConfig(endpoint_ms=240, complete_endpoint_ms=120))
    s = Script(tt)
    s.frames("SSS")
    fin = next(o for o in s.frames(".") if isinstance(o, Finalize))
    s.frames("...")  # 128 ms, the text not back yet: the long hangover applies
    assert tt.hypothesis(fin.utt, "stop") == [
        Utterance(fin.utt, "stop", fin.end_ns, speculative=True),
        Confirmed(fin.utt, fin.end_ns),  # complete, and the short hangover is already over
    ]
    # slower still: the endpoint comes first, the text after it is the turn itself
    s.frames("SSS")
    fin = next(o for o in s.frames(".") if isinstance(o, Finalize))
    assert kinds(s.frames("........")) == []  # confirmed silently: nothing to confirm yet
    assert tt.hypothesis(fin.utt, "hello there") == [Utterance(fin.utt, "hello there", fin.end_ns, speculative=False)]
    assert tt.hypothesis(fin.utt, "hello there") == []  # once


def test_speaking_on_cancels_and_restores():
    tt = TurnTaker()
    s = Script(tt)
    s.frames("SSS")
    fin = next(o for o in s.frames(".") if isinstance(o, Finalize))
    tt.hypothesis(fin.utt, "follow the")
    outs = s.frames("S")
    assert [type(o) for o in outs] == [Recognize, Restore, Cancelled]
    assert tt.state is TurnState.SPEECH and tt.cancelled == 1
    assert tt.hypothesis(fin.utt, "late text") == []  # a cancelled pause's text is void
    fin2 = next(o for o in s.frames(".") if isinstance(o, Finalize))
    assert fin2.utt != fin.utt


def test_noise_ends_as_an_empty_turn_and_blips_need_start_frames():
    tt = TurnTaker(EndpointConfig(start_frames=2))
    s = Script(tt)
    assert kinds(s.frames("S.S.")) == []  # single-frame blips
    s.frames("SS")
    fin = next(o for o in s.frames(".") if isinstance(o, Finalize))
    assert tt.hypothesis(fin.utt, "  ") == []
    assert kinds(s.frames("........")) == ["EmptyTurn"]


def test_without_preemption_the_text_is_finished_at_the_endpoint():
    tt = TurnTaker(EndpointConfig(preempt=False, endpoint_ms=96, complete_endpoint_ms=64, pause_ms=32))
    s = Script(tt)
    s.frames("SS")
    assert kinds(s.frames("..")) == []
    outs = s.frames(".")
    assert kinds(outs) == ["Finalize"] and tt.state is TurnState.SILENCE
    fin = next(o for o in outs if isinstance(o, Finalize))
    assert tt.hypothesis(fin.utt, "go left") == [Utterance(fin.utt, "go left", fin.end_ns, speculative=False)]


def test_a_quiet_frame_is_a_pause_before_the_vad_lets_go_but_not_inside_speech():
    tt = TurnTaker(EndpointConfig(quiet_threshold=0.8))
    s = Script(tt)
    s.frames("SS")
    assert kinds(tt.feed(QUIET, s.k * 32 * MS, 0.99)) == []  # a stop closure: the VAD is sure it is speech
    assert tt.state is TurnState.SPEECH
    assert kinds(tt.feed(QUIET, (s.k + 1) * 32 * MS, 0.66)) == ["Finalize"]  # quiet, and the VAD letting go
    assert kinds(tt.feed(QUIET, (s.k + 2) * 32 * MS, 0.7)) == []  # still quiet: not a resume
    assert tt.state is TurnState.PAUSE
    assert kinds(tt.feed(LOUD, (s.k + 3) * 32 * MS, 0.3)) == []  # loud but not speech (noise): not a resume
    assert kinds(tt.feed(LOUD, (s.k + 4) * 32 * MS, 0.9)) == ["Restore"]
    noisy = TurnTaker(EndpointConfig(quiet_threshold=0.8))  # a room louder than voice_level: the VAD alone decides
    Script(noisy).frames("SS")
    assert kinds(noisy.feed(np.full(FRAME, 0.02, np.float32), 2 * 32 * MS, 0.66)) == []


def test_the_end_of_speech_is_placed_on_the_waveform():
    tt = TurnTaker()
    s = Script(tt)
    s.frames("SS")
    tail = np.zeros(FRAME, np.float32)
    tail[:100] = 0.2  # the voice stops 100 samples into frame 2, though the VAD still says speech
    tt.feed(tail, 2 * 32 * MS, 0.9)
    s.k = 3
    fin = next(o for o in s.frames(".") if isinstance(o, Finalize))
    assert fin.end_ns == 2 * 32 * MS + 100 * 1_000_000_000 // 16_000
    assert tt.refine_end(32 * MS) == 32 * MS  # never later than the VAD's end


def test_validation_and_the_semantic_rule():
    with pytest.raises(ValueError, match="end_threshold <= start_threshold"):
        EndpointConfig(start_threshold=0.3, end_threshold=0.5)
    with pytest.raises(ValueError, match="complete_endpoint_ms must be <= endpoint_ms"):
        EndpointConfig(endpoint_ms=100, complete_endpoint_ms=200)
    with pytest.raises(ValueError, match="quiet_threshold must be in"):
        EndpointConfig(quiet_threshold=0.2)
    with pytest.raises(ValueError, match="pause_ms must be <="):
        EndpointConfig(pause_ms=150, complete_endpoint_ms=120)
    with pytest.raises(ValueError, match="speech probability must be in"):
        TurnTaker().feed(QUIET, 0, 1.5)
    assert is_complete("Go left.") and is_complete("what do you see") and is_complete("hello there")
    assert not is_complete("I was thinking") and not is_complete("go") and not is_complete("")
    assert [type(o) for o in [Begin(0), EmptyTurn(1, 0)]] == [Begin, EmptyTurn]
