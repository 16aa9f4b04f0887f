"""Database: engine, sessions, models (one file per table), migrations."""
