"""liveloop.robots — see DESIGN.md §4."""
