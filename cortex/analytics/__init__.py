"""analytics: event store, rollups, conversation/user/pattern metrics, reports."""
