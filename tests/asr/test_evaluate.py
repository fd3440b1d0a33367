"""WER per clip and the paired bootstrap that says how far a small dev set can be trusted."""

from __future__ import annotations

import pytest

from liveloop.asr.evaluate import (
    BootstrapConfig,
    ClipScore,
    clip_errors,
    corpus_wer,
    paired_bootstrap,
    score_clip,
)


def test_score_clip_normalises_like_whisper() -> None:
    assert score_clip("Four queen of clubs.", "4 Queen of Clubs") == ClipScore(0, 4)
    assert score_clip("He was not an ill-disposed young man", "he was not an ill disposed young man").errors == 0


def test_score_clip_counts_substitutions_deletions_insertions() -> None:
    assert score_clip("please call me at nine", "please call me at night") == ClipScore(1, 5)
    assert score_clip("please call me at nine", "please me at nine") == ClipScore(1, 5)
    assert score_clip("please call me at nine", "please do call me at nine now") == ClipScore(2, 5)


def test_an_empty_hypothesis_deletes_every_word() -> None:
    assert score_clip("go forward ten meters", "") == ClipScore(4, 4)


def test_a_reference_without_words_is_an_error() -> None:
    with pytest.raises(ValueError, match="no words"):
        score_clip("  ", "hello")


def test_clip_errors_skips_unreferenced_clips_and_names_a_missing_one() -> None:
    refs = {"a": "red green blue", "b": None, "c": "left right"}
    scores = clip_errors(refs, {"a": "red green glue", "b": "whatever", "c": "left right"})
    assert scores == {"a": ClipScore(1, 3), "c": ClipScore(0, 2)}
    assert corpus_wer(list(scores.values())) == pytest.approx(1 / 5)
    with pytest.raises(KeyError, match="'c'"):
        clip_errors(refs, {"a": "red green blue"})


def _scores(errors: list[int], words: int = 10) -> dict[str, ClipScore]:
    return {f"clip{i}": ClipScore(e, words) for i, e in enumerate(errors)}


def test_identical_systems_are_within_any_target() -> None:
    base = _scores([1, 0, 2, 0, 1, 3])
    cmp = paired_bootstrap(base, dict(base), BootstrapConfig(resamples=500))
    assert cmp.ratio == 1.0 and cmp.ratio_ci95 == (1.0, 1.0) and cmp.extra_errors == 0
    assert cmp.p_within_target == 1.0
    assert cmp.wer == pytest.approx(7 / 60)
    assert cmp.wer_ci95[0] <= cmp.wer <= cmp.wer_ci95[1]


def test_a_system_worse_on_every_clip_is_outside_the_target() -> None:
    base = _scores([1] * 30)
    worse = _scores([3] * 30)
    cmp = paired_bootstrap(base, worse, BootstrapConfig(resamples=500, target_ratio=1.3))
    assert cmp.ratio == pytest.approx(3.0)
    assert cmp.p_within_target == 0.0
    assert cmp.ratio_ci95[0] > 1.3
    assert cmp.extra_errors == 60


def test_a_few_errors_on_a_few_clips_leave_the_ratio_undecided() -> None:
    # liveloop's situation: 7 offline errors, 10 streaming errors, about 20 clips
    base = _scores([1, 2, 1, 2, 0, 1] + [0] * 14)
    system = _scores([1, 1, 1, 2, 3, 1, 1] + [0] * 13)
    cmp = paired_bootstrap(base, system, BootstrapConfig(resamples=2000))
    assert cmp.ratio == pytest.approx(10 / 7)
    assert cmp.ratio_ci95[0] < 1.3 < cmp.ratio_ci95[1]
    assert 0.05 < cmp.p_within_target < 0.95


def test_the_bootstrap_is_reproducible_from_its_seed() -> None:
    base, system = _scores([1, 0, 2, 1]), _scores([2, 1, 2, 0])
    a = paired_bootstrap(base, system, BootstrapConfig(resamples=300, seed=7))
    b = paired_bootstrap(base, system, BootstrapConfig(resamples=300, seed=7))
    assert a == b


def test_systems_scored_on_different_clips_are_refused() -> None:
    with pytest.raises(ValueError, match="clip2"):
        paired_bootstrap(_scores([1, 0]), _scores([1, 0, 1]))
    with pytest.raises(ValueError, match="different references"):
        paired_bootstrap(_scores([1, 0], words=10), _scores([1, 0], words=9))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"resamples": 10}, "resamples"), ({"target_ratio": 0.0}, "target_ratio")],
)
def test_bootstrap_config_is_checked(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BootstrapConfig(**kwargs)


def test_a_clip_score_needs_words() -> None:
    with pytest.raises(ValueError, match="words > 0"):
        ClipScore(0, 0)


def test_a_baseline_without_errors_gives_an_unbounded_ratio_without_warnings() -> None:
    import warnings

    base, system = _scores([0, 0, 1, 0]), _scores([1, 0, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = paired_bootstrap(base, system, BootstrapConfig(resamples=500))
    assert cmp.ratio == 2.0
    assert cmp.ratio_ci95[1] == float("inf")
    assert 0.0 < cmp.p_within_target < 1.0


def test_find_recordings_pairs_audio_with_its_text(tmp_path) -> None:
    from liveloop.asr.evaluate import find_recordings

    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "a.txt").write_text("Go forward ten meters.\n")
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "b.flac").write_bytes(b"")
    (sub / "b.txt").write_text("stop")
    (sub / "notes.md").write_text("not audio")
    recs = find_recordings([str(tmp_path)])
    assert [(r.name, r.reference) for r in recs] == [("a", "Go forward ten meters."), ("b", "stop")]
    assert find_recordings([str(tmp_path / "a.wav")])[0].audio_path == str(tmp_path / "a.wav")


def test_find_recordings_names_what_is_missing(tmp_path) -> None:
    from liveloop.asr.evaluate import find_recordings

    with pytest.raises(FileNotFoundError, match=r"nowhere\.wav"):
        find_recordings([str(tmp_path / "nowhere.wav")])
    with pytest.raises(ValueError, match="no audio files"):
        find_recordings([str(tmp_path)])
    (tmp_path / "c.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"expected c\.txt"):
        find_recordings([str(tmp_path)])
    (tmp_path / "c.txt").write_text("  \n")
    with pytest.raises(ValueError, match=r"c\.txt: the reference text is empty"):
        find_recordings([str(tmp_path)])


def _librispeech(tmp_path, n: int = 4):
    chapter = tmp_path / "test-clean" / "1089" / "134686"
    chapter.mkdir(parents=True)
    lines = []
    for i in range(n):
        (chapter / f"1089-134686-{i:04d}.flac").write_bytes(b"")
        lines.append(f"1089-134686-{i:04d} SENTENCE NUMBER {i} OF THE CHAPTER")
    (chapter / "1089-134686.trans.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "test-clean", chapter


def test_find_recordings_reads_librispeech_transcripts(tmp_path) -> None:
    from liveloop.asr.evaluate import find_recordings

    root, _ = _librispeech(tmp_path)
    recs = find_recordings([str(root)])
    assert [r.name for r in recs] == [f"1089-134686-{i:04d}" for i in range(4)]
    assert recs[2].reference == "SENTENCE NUMBER 2 OF THE CHAPTER"


def test_find_recordings_limit_spreads_over_the_set(tmp_path) -> None:
    from liveloop.asr.evaluate import find_recordings

    root, _ = _librispeech(tmp_path, n=10)
    assert [r.name[-2:] for r in find_recordings([str(root)], limit=3)] == ["00", "03", "06"]
    assert len(find_recordings([str(root)], limit=50)) == 10
    with pytest.raises(ValueError, match="limit must be >= 1"):
        find_recordings([str(root)], limit=0)


def test_find_recordings_names_a_bad_transcript_file(tmp_path) -> None:
    from liveloop.asr.evaluate import find_recordings

    root, chapter = _librispeech(tmp_path, n=2)
    trans = chapter / "1089-134686.trans.txt"
    trans.write_text(trans.read_text() + "1089-134686-0007 AN UTTERANCE WITHOUT AUDIO\n")
    with pytest.raises(ValueError, match=r"no audio file for utterance '1089-134686-0007'"):
        find_recordings([str(root)])
    trans.write_text("1089-134686-0000\n")
    with pytest.raises(ValueError, match=r"trans\.txt:1: expected 'ID TEXT'"):
        find_recordings([str(root)])
