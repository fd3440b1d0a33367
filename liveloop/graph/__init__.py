"""liveloop.graph — see DESIGN.md §4."""
