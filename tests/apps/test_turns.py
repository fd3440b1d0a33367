"""Turn-taking from VAD probabilities (no event loop)."""

from __future__ import annotations

import pytest

from liveloop.apps.turns import EndpointConfig, Endpointer, TurnKind, TurnState

MS = 1_000_000


def run(probs: list[float], config: EndpointConfig) -> list[tuple[TurnKind, int, int]]:
    ep = Endpointer(config)
    out = []
    for i, p in enumerate(probs):
        ev = ep.feed(p, (i + 1) * 32 * MS)  # frame i ends at (i+1)*32 ms
        if ev is not None:
            out.append((ev.kind, ev.at_ns // MS, i))
    return out


def test_speech_start_and_end_are_stamped_with_capture_times():
    cfg = EndpointConfig(start_frames=2, endpoint_ms=96)
    probs = [0.1, 0.9, 0.9, 0.8, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1]
    events = run(probs, cfg)
    assert events == [
        (TurnKind.SPEECH_START, 32, 2),  # speech began at the start of frame 1 (32 ms), confirmed at frame 2
        (TurnKind.END_OF_SPEECH, 160, 7),  # last speech frame (4, p=0.5 >= end threshold) ended at 160 ms
    ]


def test_a_short_pause_does_not_end_the_turn_and_a_blip_does_not_start_one():
    cfg = EndpointConfig(start_frames=2, endpoint_ms=96)
    assert run([0.9, 0.1, 0.9, 0.1], cfg) == []  # single-frame blips
    probs = [0.9, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1]
    kinds = [k for k, _, _ in run(probs, cfg)]
    assert kinds == [TurnKind.SPEECH_START, TurnKind.END_OF_SPEECH]


def test_state_and_validation():
    ep = Endpointer(EndpointConfig(start_frames=1))
    ep.feed(0.99, 32 * MS)
    assert ep.state is TurnState.SPEECH and ep.turns == 1
    with pytest.raises(ValueError, match="speech probability must be in"):
        ep.feed(1.5, 64 * MS)
    with pytest.raises(ValueError, match="end_threshold <= start_threshold"):
        EndpointConfig(start_threshold=0.3, end_threshold=0.5)
    with pytest.raises(ValueError, match="endpoint_ms must be >= 0"):
        EndpointConfig(endpoint_ms=-1)


def test_end_of_speech_is_placed_on_the_waveform():
    """AsrRecognizer.refine_end: the VAD's end (late) moves back to the last loud sample."""
    import numpy as np

    from liveloop.apps.speech import VAD_FRAME, AsrRecognizer

    rec = AsrRecognizer.__new__(AsrRecognizer)  # only the waveform bookkeeping is exercised here
    from collections import deque

    rec._recent = deque(maxlen=16)
    ns_per_frame = VAD_FRAME * 1_000_000_000 // 16_000  # 32 ms
    for i in range(6):
        chunk = np.zeros(VAD_FRAME, np.float32)
        if i < 3:
            chunk[:] = 0.2  # voice in frames 0-2
        if i == 3:
            chunk[:100] = 0.2  # the voice stops 100 samples into frame 3
        rec._recent.append(((i + 1) * ns_per_frame, chunk))
    vad_end = 5 * ns_per_frame  # the VAD thought speech lasted until the end of frame 4
    end = rec.refine_end(vad_end)
    assert end == 3 * ns_per_frame + 100 * 1_000_000_000 // 16_000
    assert rec.refine_end(1 * ns_per_frame) == 1 * ns_per_frame  # never later than the VAD's end
