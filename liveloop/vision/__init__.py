"""liveloop.vision — see DESIGN.md §4."""
