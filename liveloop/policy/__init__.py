"""liveloop.policy — see DESIGN.md §4."""
