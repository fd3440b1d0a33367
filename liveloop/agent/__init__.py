"""liveloop.agent — see DESIGN.md §4."""
