"""The speculation gate (no event loop)."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.apps.gate import GateState, SpeculationGate
from liveloop.apps.messages import Cancel, Confirm, TurnAudio, TurnEvent, TurnMark, TurnOpen

AUDIO = np.zeros(960, np.int16)


def audio(turn: int) -> TurnAudio:
    return TurnAudio(turn, AUDIO, 48_000)


def test_a_speculative_turn_is_held_then_released_whole_and_in_order():
    g = SpeculationGate()
    assert g.feed(TurnOpen(1, speculative=True), 0, "open") == []
    items = [TurnEvent(1, {"type": "agent.token"}), TurnMark(1, {"text": "Hi"}), audio(1)]
    for k, item in enumerate(items):
        assert g.feed(item, 0, k) == []
    assert g.state(1) is GateState.HELD
    assert g.feed(Confirm(1), 0, "c") == [(items[0], 0), (items[1], 1), (items[2], 2)]
    assert g.state(1) is GateState.OPEN
    late = audio(1)
    assert g.feed(late, 0, "late") == [(late, "late")]  # after the confirm, straight through
    assert g.stats.held == 3 and g.stats.released == 3


def test_a_cancelled_turn_is_dropped_with_what_comes_after_it():
    g = SpeculationGate()
    g.feed(TurnOpen(1, speculative=True), 0, None)
    g.feed(audio(1), 0, None)
    assert g.feed(Cancel(1), 0, None) == []
    assert g.feed(audio(1), 0, None) == []
    assert g.feed(Confirm(1), 0, None) == []  # too late: it was cancelled
    assert g.state(1) is GateState.DROPPED and g.stats.dropped == 2


def test_a_turn_that_is_not_speculative_passes_at_once():
    g = SpeculationGate()
    g.feed(TurnOpen(2, speculative=False), 0, None)
    item = audio(2)
    assert g.feed(item, 0, "t") == [(item, "t")]
    unknown = audio(9)
    assert g.feed(unknown, 0, "u") == [(unknown, "u")]


def test_an_interrupt_voids_older_audio_but_keeps_client_events():
    g = SpeculationGate()
    g.feed(TurnOpen(1, speculative=True), 0, None)
    ev = TurnEvent(1, {"type": "agent.reply"})
    g.feed(ev, 100, "ev")
    g.feed(audio(1), 100, "a")
    g.interrupt(200)
    assert g.feed(Confirm(1), 0, None) == [(ev, "ev")]
    assert g.feed(audio(1), 150, None) == []  # about something before the interrupt
    newer = audio(1)
    assert g.feed(newer, 250, "n") == [(newer, "n")]


def test_held_output_is_bounded():
    g = SpeculationGate(max_held=2)
    g.feed(TurnOpen(1, speculative=True), 0, None)
    g.feed(audio(1), 0, None)
    g.feed(audio(1), 0, None)
    g.feed(audio(1), 0, None)
    assert g.state(1) is GateState.DROPPED and g.stats.overflows == 1
    with pytest.raises(ValueError, match="max_held must be >= 1"):
        SpeculationGate(max_held=0)
