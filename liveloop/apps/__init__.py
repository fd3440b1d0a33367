"""liveloop.apps — see DESIGN.md §4."""
