"""Per-event processing state: snapshot transitions, the store, restore and the read view."""
