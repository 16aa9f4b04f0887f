"""Health and queue round-trip."""
