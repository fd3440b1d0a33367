"""liveloop.asr — see DESIGN.md §4."""
