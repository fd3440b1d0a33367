"""liveloop.rtc — see DESIGN.md §4."""
