"""Feeding a file as if it were live (`stream_file`) and the LocalAgreement-2 baseline, on real speech."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from liveloop.asr.features import SAMPLE_RATE
from liveloop.asr.lora import load_adapter_for
from liveloop.asr.simulate import LocalAgreement, stream_file, transcribe_offline


@pytest.fixture(scope="module")
def tuned(model):
    return load_adapter_for(model, "auto")


def test_real_time_and_virtual_clock_commit_the_same_words(tuned, arctic_clip):
    """The decode depends on the audio only, not on when it arrives: the several-sessions benchmark and
    `transcribe --fast` rely on it."""
    virtual = stream_file(tuned, arctic_clip, realtime=False)
    live = stream_file(tuned, arctic_clip, realtime=True)
    assert virtual.text == live.text and "Gregson" in virtual.text
    assert [(w.start_s, w.end_s) for w in virtual.words] == [(w.start_s, w.end_s) for w in live.words]
    duration = arctic_clip.size / SAMPLE_RATE
    assert live.words[-1].emit_s >= duration  # real time: the last word comes out after the last sample
    assert all(0 <= w.end_s <= w.emit_s for w in virtual.words)  # n = 2 commits a word only after it ended


def test_local_agreement_commits_only_what_two_hypotheses_agree_on(model, arctic_clip2):
    la = LocalAgreement(copy.deepcopy(model))
    dur = arctic_clip2.size / SAMPLE_RATE
    steps = [*np.arange(1.0, dur, 1.0), dur]
    committed: list[tuple[str, float, float]] = []
    for i, t in enumerate(steps):
        final = t >= dur
        prev = list(la.prev)
        new = la.step(arctic_clip2, float(t), final)
        if i == 0:
            assert new == []  # nothing to agree with yet
        if not final:
            assert [la.norm(w) for w, _, _ in new] == [la.norm(w) for w, _, _ in prev[: len(new)]]
        committed += new
    assert la.prev == [] and la.committed == committed  # the final step commits the rest
    ends = [e for _, _, e in committed]
    assert ends == sorted(ends) and all(0 <= e <= dur + 0.05 for e in ends)
    offline, _ = transcribe_offline(model, arctic_clip2)
    assert la.norm("".join(w for w, _, _ in committed)).split()[-2:] == la.norm(offline).split()[-2:]
