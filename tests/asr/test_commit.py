"""The commit rule on scripted log-probs (a test double for Whisper's decoder: no model)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from liveloop.asr.commit import CommitConfig, CommitPolicy

V = 10  # scripted vocabulary: 0 = end-of-text, 1… words
EOT = 0
SOT = (9,)


def dist(probs: dict[int, float]) -> np.ndarray:
    """Log-probs with the given mass on some tokens and the rest spread evenly."""
    p = np.full(V, (1.0 - sum(probs.values())) / (V - len(probs)))
    for t, v in probs.items():
        p[t] = v
    return np.log(p)


class ScriptedSource:
    """A LogitSource whose next-token distribution is a function of the sequence (a test double for Whisper)."""

    eot = EOT

    def __init__(self, script, n_frames: int = 100, frame_of=lambda seq: 0) -> None:
        self.script = script  # seq (tuple) -> log-probs for the next token
        self.n_frames = n_frames
        self.frame_of = frame_of
        self.seq: list[int] = []
        self.begins = 0

    def begin(self, tokens: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        self.begins += 1
        self.seq = list(tokens)
        rows = [self.script(tuple(tokens[: len(tokens) - k + i + 1])) for i in range(k)]
        frames = np.array([self.frame_of(tuple(tokens[: i + 1])) for i in range(len(tokens))])
        return np.stack(rows), frames

    def extend(self, token: int) -> tuple[np.ndarray, int]:
        self.seq.append(token)
        return self.script(tuple(self.seq)), self.frame_of(tuple(self.seq))

    def truncate(self, n_tokens: int) -> None:
        del self.seq[n_tokens:]

    def beam_start(self, n_prefix: int) -> None:
        self.beam = [self.seq[:n_prefix]]

    def beam_step(self, parents: Sequence[int], tokens: Sequence[int]) -> np.ndarray:
        self.beam = [[*self.beam[p], t] for p, t in zip(parents, tokens, strict=True)]
        return np.stack([self.script(tuple(h)) for h in self.beam])


def sentence(words: list[int], confident: float = 0.9):
    """A script that reads `words` then ends."""

    def script(seq: tuple[int, ...]) -> np.ndarray:
        n = len(seq) - len(SOT)
        return dist({words[n]: confident}) if n < len(words) else dist({EOT: confident})

    return script


def test_commits_all_but_last_n_then_everything_at_the_end():
    src = ScriptedSource(sentence([1, 2, 3, 4, 5]))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2))
    r = pol.step(src)
    assert r.eot and r.committed == [1, 2, 3] and r.tentative == [4, 5] and r.revised == 0
    r = pol.step(src, final=True)
    assert r.committed == [4, 5] and pol.committed == [1, 2, 3, 4, 5] and pol.tentative == []


def test_commit_on_eot_commits_the_whole_tail_only_when_decoding_ends_in_eot():
    # a streaming-tuned model's end-of-text says every word so far has ended: nothing stays tentative
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2, commit_on_eot=True))
    r = pol.step(ScriptedSource(sentence([1, 2, 3, 4, 5])))
    assert r.eot and r.committed == [1, 2, 3, 4, 5] and r.tentative == []
    # stopped at the audio edge instead (token 4 would attend to the last frame): the last n stay tentative
    edge = ScriptedSource(sentence([1, 2, 3, 4, 5]), n_frames=10, frame_of=lambda seq: 9 if len(seq) > 3 else 0)
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2, commit_on_eot=True))
    r = pol.step(edge)
    assert not r.eot and r.committed == [1] and r.tentative == [2, 3]


def test_min_stable_commits_tokens_that_survived_a_recheck_and_confirms_the_end():
    src = ScriptedSource(sentence([1, 2, 3]))
    pol = CommitPolicy(SOT, CommitConfig(min_stable=1))
    r = pol.step(src)  # first sight: everything tentative, whatever n_recheck says
    assert r.eot and r.committed == [] and r.tentative == [1, 2, 3] and not r.end_confirmed
    r = pol.step(src)  # the same text again on more audio, then end-of-text again: stable, and the end is confirmed
    assert r.committed == [1, 2, 3] and r.tentative == [] and r.end_confirmed
    # a token the new audio revises is never committed
    words = {"first": [1, 7], "then": [1, 2]}
    state = {"w": "first"}
    src = ScriptedSource(lambda seq: sentence(words[state["w"]])(seq))
    pol = CommitPolicy(SOT, CommitConfig(min_stable=1))
    pol.step(src)
    state["w"] = "then"
    r = pol.step(src)
    assert r.committed == [1] and r.tentative == [2] and r.revised == 1 and not r.end_confirmed


def test_recheck_keeps_stable_and_truncates_at_first_dropped_token():
    # chunk 1: the audio so far suggests 1 2 3 7; chunk 2 (more audio) says 1 2 3 4 5
    words = {"first": [1, 2, 3, 7], "then": [1, 2, 3, 4, 5]}
    state = {"w": "first"}
    src = ScriptedSource(lambda seq: sentence(words[state["w"]])(seq))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2))
    pol.step(src)
    assert pol.committed == [1, 2] and pol.tentative == [3, 7]
    state["w"] = "then"
    r = pol.step(src)
    # token 3 is still the argmax (kept); 7 lost its probability and is not the argmax (revised)
    assert r.revised == 1
    assert pol.committed == [1, 2, 3] and pol.tentative == [4, 5]
    assert src.seq[: len(SOT) + 3] == [*SOT, 1, 2, 3]  # the source was truncated before re-decoding


def test_recheck_keeps_token_whose_probability_rose_even_if_not_argmax():
    probs = {"p": 0.3}

    def script(seq):
        n = len(seq) - len(SOT)
        if n == 0:
            return dist({1: 0.9})
        if n == 1:  # token 2 is the argmax the first time; later 6 wins but 2's probability did not drop
            return dist({2: probs["p"], 6: 0.01 if probs["p"] == 0.3 else 0.5})
        return dist({EOT: 0.9})

    src = ScriptedSource(script)
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2))
    pol.step(src)
    assert pol.tentative == [1, 2]
    probs["p"] = 0.35
    r = pol.step(src)
    assert r.revised == 0 and pol.tentative == [1, 2]
    probs["p"] = 0.2  # dropped and not the argmax → revised
    r = pol.step(src)
    assert r.revised == 1 and pol.tentative == [1, 6]


def test_edge_rule_waits_for_audio():
    # token i sits at frame 10·i; 35 frames of audio: the 4th token would come from the edge
    src = ScriptedSource(sentence([1, 2, 3, 4, 5]), n_frames=35, frame_of=lambda seq: 10 * len(seq))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=1, edge_frames=8))
    r = pol.step(src)
    assert not r.eot
    assert pol.committed + pol.tentative == [1, 2]  # stopped before the token at frame 30 ≥ 35 − 8
    src.n_frames = 100
    pol.step(src)
    assert pol.committed + pol.tentative == [1, 2, 3, 4, 5]


def test_edge_rule_is_for_the_base_model_only():
    """A streaming-tuned model stops with end-of-text itself: the edge rule only held its words back a chunk."""
    base, tuned = (CommitConfig(n_recheck=0).resolve_for(streaming_tuned=t) for t in (False, True))
    assert (base.edge_frames, tuned.edge_frames) == (2, 0)
    assert CommitConfig(edge_frames=5).resolve_for(streaming_tuned=True).edge_frames == 5  # a set value is kept
    at_edge = ScriptedSource(sentence([1, 2, 3]), n_frames=30, frame_of=lambda seq: 10 * len(seq) - 1)
    waits = CommitPolicy(SOT, base)
    waits.step(at_edge)
    assert waits.committed == [1, 2]  # the third token attends to frame 29 of 30: wait for audio
    writes = CommitPolicy(SOT, tuned)
    writes.step(at_edge)
    assert writes.committed == [1, 2, 3]


def test_hold_keeps_an_unsure_token_and_what_follows_until_it_is_sure_or_survived_k_rechecks():
    probs = {"p": 0.4}

    def script(seq: tuple[int, ...]) -> np.ndarray:  # 1 sure, 2 at p, 3 sure, then end-of-text
        n = len(seq) - len(SOT)
        return dist({[1, 2, 3][n]: probs["p"] if n == 1 else 0.9} if n < 3 else {EOT: 0.9})

    src = ScriptedSource(script)
    held = CommitPolicy(SOT, CommitConfig.from_spec("eot+p50"))
    r = held.step(src)
    assert r.eot and r.committed == [1] and r.tentative == [2, 3]  # 2 is under the bar, 3 waits behind it
    held.step(src)
    assert held.tentative == [2, 3]  # re-checked, still unsure: held
    probs["p"] = 0.6
    r = held.step(src)
    assert r.committed == [2, 3] and held.committed == [1, 2, 3]  # sure on the new audio
    probs["p"] = 0.4
    k1 = CommitPolicy(SOT, CommitConfig.from_spec("eot+p50k1"))
    assert k1.step(src).committed == [1]
    assert k1.step(src).committed == [2, 3]  # survived one re-check: committed though still unsure
    last = CommitPolicy(SOT, CommitConfig.from_spec("eot+p50"))
    last.step(src)
    assert last.step(src, final=True).committed == [2, 3]  # the segment's end commits everything
    n2 = CommitPolicy(SOT, CommitConfig.from_spec("2+p50"))
    assert n2.step(src).committed == [1]  # with the n rule too: all but the last n, and not past 2


def test_loop_rules_stop_repetition():
    loop = [1, 2, 3, 4] * 5
    src = ScriptedSource(sentence(loop))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=0, no_repeat_ngram=4, max_new_tokens=50))
    r = pol.step(src, final=True)
    assert pol.committed == [1, 2, 3, 4, 1, 2, 3]  # the 4-gram 1 2 3 4 is not emitted twice
    assert r.looped and not r.eot  # the recognizer counts this stop towards a pause reset
    edge = CommitPolicy(SOT, CommitConfig(n_recheck=1, edge_frames=8))
    r = edge.step(ScriptedSource(sentence([1, 2, 3]), n_frames=25, frame_of=lambda seq: 10 * len(seq)))
    assert not r.looped and not r.eot  # waiting at the audio's edge is not a loop


def test_jump_back_rule_stops_when_attention_goes_back():
    # tokens attend to frames 10, 20, 30, then back to 5: the start of a loop over audio already read
    frames = {1: 10, 2: 20, 3: 30, 4: 5, 5: 40}

    def frame_of(seq: tuple[int, ...]) -> int:  # where the next token attends
        return frames.get(len(seq) - len(SOT) + 1, 50)

    src = ScriptedSource(sentence([1, 2, 3, 4, 5]), n_frames=100, frame_of=frame_of)
    on = CommitPolicy(SOT, CommitConfig(n_recheck=0, max_back_frames=10).resolve_for(streaming_tuned=False))
    r = on.step(src)
    assert on.committed == [1, 2, 3] and r.looped
    off = CommitPolicy(SOT, CommitConfig(n_recheck=0).resolve_for(streaming_tuned=True))
    assert off.config.max_back_frames == 0
    off.step(ScriptedSource(sentence([1, 2, 3, 4, 5]), n_frames=100, frame_of=frame_of))
    assert off.committed == [1, 2, 3, 4, 5]


def test_budget_and_min_prob():
    src = ScriptedSource(sentence(list(range(1, 9)), confident=0.5))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2, max_new_tokens=3))
    assert pol.step(src).tentative == [2, 3] and pol.committed == [1]
    unsure = CommitPolicy(SOT, CommitConfig(min_prob=0.6))
    assert unsure.step(ScriptedSource(sentence([1, 2], confident=0.5))).tentative == []


def test_commit_rule_from_spec():
    assert CommitConfig.from_spec("2") == CommitConfig(n_recheck=2)
    assert CommitConfig.from_spec("eot") == CommitConfig(n_recheck=0, commit_on_eot=True)
    assert CommitConfig.from_spec("1+eot") == CommitConfig(n_recheck=1, commit_on_eot=True)
    assert CommitConfig.from_spec(" S1 ") == CommitConfig(min_stable=1)
    assert CommitConfig.from_spec("2+beam5") == CommitConfig(n_recheck=2, beam=5)
    assert CommitConfig.from_spec("eot+beam3") == CommitConfig(n_recheck=0, commit_on_eot=True, beam=3)
    assert CommitConfig.from_spec("eot+p50k1") == CommitConfig(
        n_recheck=0, commit_on_eot=True, hold_below=0.5, hold_checks=1
    )
    assert CommitConfig.from_spec("2+p5+beam5") == CommitConfig(n_recheck=2, hold_below=0.05, beam=5)
    for bad in ("", "soon", "s", "x+eot", "-1", "2+eot+eot", "2+beam", "beam5", "2+beam0", "eot+p", "eot+p100"):
        with pytest.raises(ValueError, match="commit rule"):
            CommitConfig.from_spec(bad)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"n_recheck": -1}, "n_recheck must be >= 0"),
        ({"min_prob": 1.5}, "min_prob must be in"),
        ({"hold_below": 1.0}, "hold_below must be in"),
        ({"hold_checks": -1}, "hold_checks >= 0"),
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"beam": 0}, "beam must be >= 1"),
        ({"edge_frames": -1}, "edge_frames must be >= 0"),
    ],
)
def test_config_validation(bad: dict, message: str):
    with pytest.raises(ValueError, match=message):
        CommitConfig(**bad)


def table_script(table: dict[tuple[int, ...], dict[int, float]], default: dict[int, float] | None = None):
    """A script from a table: next-token mass after each sequence; end-of-text after any other."""
    return lambda seq: dist(table.get(seq, default or {EOT: 0.9}))


def test_beam_finds_the_likelier_reading_greedy_misses():
    # greedy takes 1 (0.5) and then finds only weak words; 2 (0.45) leads to a sure reading
    script = table_script({(9,): {1: 0.5, 2: 0.45}, (9, 1): {4: 0.3}, (9, 1, 4): {EOT: 0.3}, (9, 2): {3: 0.95}})
    greedy = CommitPolicy(SOT, CommitConfig(n_recheck=2))
    r = greedy.step(ScriptedSource(script), final=True)
    assert greedy.committed == [1, 4] and r.eot
    beam = CommitPolicy(SOT, CommitConfig(n_recheck=2, beam=3))
    r = beam.step(ScriptedSource(script), final=True)
    assert beam.committed == [2, 3] and r.committed == [2, 3] and r.eot and not r.looped
    assert beam.tentative == [] and beam.tentative_logp == []


def test_beam_streams_only_without_the_per_token_stop_rules():
    """The beam runs in every step for a streaming-tuned model (edge and jump-back rules off); with the base
    model's edge rule (it needs each token's attention, which the beam does not keep), streaming steps stay
    greedy and only the segment's final decode is a beam."""
    script = table_script({(9,): {1: 0.5, 2: 0.45}, (9, 1): {4: 0.3}, (9, 1, 4): {EOT: 0.3}, (9, 2): {3: 0.95}})
    base = CommitPolicy(SOT, CommitConfig(n_recheck=0, beam=3).resolve_for(streaming_tuned=False))
    assert not base.beam_streams
    base.step(ScriptedSource(script))
    assert base.committed == [1, 4]  # greedy
    tuned = CommitPolicy(SOT, CommitConfig(n_recheck=0, beam=3).resolve_for(streaming_tuned=True))
    assert tuned.beam_streams
    r = tuned.step(ScriptedSource(script))
    assert tuned.committed == [2, 3] and r.eot  # the likelier reading, in a streaming step
    assert not CommitPolicy(SOT, CommitConfig(beam=3, edge_frames=0, min_prob=0.2)).beam_streams


def test_streaming_beam_keeps_the_commit_rule_and_the_recheck():
    src = ScriptedSource(sentence([1, 2, 3, 4, 5]))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2, beam=3, edge_frames=0, max_back_frames=0))
    r = pol.step(src)
    assert r.committed == [1, 2, 3] and pol.tentative == [4, 5] and r.eot
    assert pol.tentative_logp == pytest.approx([np.log(0.9)] * 2)  # the re-check compares these
    r = pol.step(src)
    assert r.revised == 0 and r.committed == [] and pol.tentative == [4, 5]


def test_beam_ends_a_reading_only_where_end_of_text_is_best():
    # after "1", end-of-text has 0.45 against 0.5 for "2": an ordinary beam would keep the short reading
    # [1] (mean log-prob -0.45 against -0.54 for [1, 2, 3]); greedy and this beam read on
    script = table_script({(9,): {1: 0.9}, (9, 1): {EOT: 0.45, 2: 0.5}, (9, 1, 2): {3: 0.5}, (9, 1, 2, 3): {EOT: 0.5}})
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2, beam=4))
    r = pol.step(ScriptedSource(script), final=True)
    assert pol.committed == [1, 2, 3] and r.eot


def test_beam_keeps_the_loop_rules():
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=0, max_token_run=2, beam=3))
    r = pol.step(ScriptedSource(sentence([5, 5, 5, 5, 5, 6])), final=True)
    assert pol.committed == [5, 5] and r.looped and not r.eot


def test_final_beam_keeps_the_rechecked_tail_and_the_committed_prefix():
    src = ScriptedSource(sentence([1, 2, 3, 4, 5]))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=2, beam=3))
    pol.step(src)  # streaming: 1 2 3 committed, 4 5 tentative
    assert pol.committed == [1, 2, 3] and pol.tentative == [4, 5]
    r = pol.step(src, final=True)
    assert r.committed == [4, 5] and pol.committed == [1, 2, 3, 4, 5] and r.eot and r.revised == 0


def test_token_run_rule():
    src = ScriptedSource(sentence([5, 5, 5, 5, 5, 6]))
    pol = CommitPolicy(SOT, CommitConfig(n_recheck=0, max_token_run=2))
    pol.step(src, final=True)
    assert pol.committed == [5, 5]
