"""The per-stage breakdown read from an event's hops."""

from __future__ import annotations

from liveloop.apps.egress import Stage, stage_breakdown
from liveloop.graph import Event, Hop

MS = 1_000_000
STAGES = (Stage("endpoint", "turns", first=True), Stage("asr_final", "asr"), Stage("responder", "agent"))


def chain(*hops: tuple[str, int]) -> Hop | None:
    h = None
    for node, t in hops:
        h = Hop(node, t * MS, t * MS, h)
    return h


def test_stages_follow_the_path_and_sum_to_the_total():
    hop = chain(("mic", 90), ("turns", 140), ("asr", 260), ("turns", 262), ("agent", 265))
    ev = Event("audio", 100 * MS, 1, "mic", "speech", hop)
    st = stage_breakdown(ev, 400 * MS, STAGES)
    assert st == {"endpoint_ms": 40.0, "asr_final_ms": 120.0, "responder_ms": 5.0, "egress_ms": 135.0}
    assert sum(st.values()) == 300.0


def test_a_stage_the_event_skipped_is_left_out():
    ev = Event("audio", 0, 1, "typed", "speech", chain(("typed", 0), ("agent", 3)))
    assert stage_breakdown(ev, 10 * MS, STAGES) == {"responder_ms": 3.0, "egress_ms": 7.0}
