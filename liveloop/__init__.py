"""liveloop: real-time multimodal agents on one timed asyncio event graph."""

__version__ = "0.1.0"
