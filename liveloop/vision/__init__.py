"""liveloop.vision — detection, tracking and latency-aware trajectory prediction (DESIGN.md §4).

Sans-I/O cores (plain classes, no event loop) and thin graph nodes:

    types.py        Box, Detection, Track, PredictedTrack, Forecast, batches; `as_bgr` (the frame gate), errors
    detect.py       detectors whose models ship on PyPI: BlazeFace (mediapipe Tasks API + the 0.10.21 .tflite),
                    Haar (OpenCV XML), HOG people, colour marker
    kalman.py       continuous-time constant-velocity Kalman filter on a box
    association.py  IoU / centre-distance matrices, Hungarian assignment with gates (SORT)
    appearance.py   template trackers between detections: NCC (default), OpenCV KCF/CSRT/MIL
    tracker.py      TrackerCore: detect every k frames (the knob) + Kalman + Hungarian + appearance; stable ids
    motion.py       relative-motion-normalised history features (PVT++) and the learned MLP's NumPy forward pass
    predictor.py    PredictorCore: each track moved to now + downstream latency, and a 1 s / 10 Hz forecast
                    with σ (methods: none, kalman, learned)
    train.py        training data (TUD-Stadtmitte + synthetic motion) and the training loop (torch, 1 thread)
    elae.py         the e-LAE scorer (PVT++'s online latency-aware evaluation)
    synth.py        rendered sequences from real media with exact ground truth (benchmarks, tests)
    nodes.py        graph nodes: Tracker, Predictor, VideoFileSource
    video.py        a video file through the graph; `liveloop vision track`
    cli.py          `liveloop vision train-predictor`, `liveloop vision track`

Choices, measured (benchmarks/tracking_elae.py, benchmarks/trajectory.py, tests/vision):

- Detector: BlazeFace (≈ 2–8 ms per 640×480 frame here, depending on load) is faster and steadier than
  Haar at half scale (≈ 25–50 ms) and far faster than HOG; it is the default.
- Between detections: normalised cross-correlation on a ≤ 40 px template (≈ 1 ms). OpenCV 4.14's KCF
  reports the previous frame's position (one frame of lag; see tests/vision/test_appearance.py) and CSRT/MIL
  cost 5–10× more.
- Frames: NumPy ``(H, W, 3) uint8`` BGR by default (``TrackerConfig(channel_order=ChannelOrder.RGB)`` for RGB),
  or ``av.VideoFrame``.
"""
