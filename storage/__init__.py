"""Adapters for persistence: SQLAlchemy (SQLite/PostgreSQL), Redis, and in-process versions."""
