"""liveloop.web — see DESIGN.md §4."""
