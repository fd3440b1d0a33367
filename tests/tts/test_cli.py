"""`liveloop say` end to end (real voice), through the project's CLI entry point."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from liveloop.cli import main


def test_say_streams_tokens_and_writes_wav_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hi.wav"
    rc = main(
        [
            "say",
            "Hello, how can I help you today?",
            "--stream-tokens",
            "--tokens-per-s",
            "50",
            "--schedule",
            "turbo",
            "--rate",
            "24000",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["schedule"] == "turbo" and summary["stream_tokens"] is True
    assert summary["spans"][0] == "Hello,"
    assert summary["first_audio_ms"] > 0 and summary["rtf"] > 0 and summary["total_ms"] >= summary["first_audio_ms"]
    with wave.open(str(out)) as wf:
        assert wf.getframerate() == 24_000 and wf.getnchannels() == 1 and wf.getsampwidth() == 2
        seconds = wf.getnframes() / 24_000
    assert 1.0 < seconds < 4.0
    assert summary["audio_ms"] == pytest.approx(1000 * seconds, abs=1)


def test_say_empty_text_warns_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "   ", "--json"]) == 0
    cap = capsys.readouterr()
    assert "empty text" in cap.err
    assert json.loads(cap.out.strip().splitlines()[-1])["first_audio_ms"] is None


def test_say_markup_is_skipped_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "<b>Yes.</b>", "--json"]) == 0
    cap = capsys.readouterr()
    assert "skipped markup" in cap.err
    assert json.loads(cap.out.strip().splitlines()[-1])["spans"] == ["Yes."]


@pytest.mark.parametrize(
    ("args", "message"), [(["--rate", "12345"], "--rate must be"), (["--tokens-per-s", "0"], "--tokens-per-s must be")]
)
def test_say_rejects_bad_options(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "hi", *args]) == 2
    assert message in capsys.readouterr().err
