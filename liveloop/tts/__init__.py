"""liveloop.tts — see DESIGN.md §4."""
