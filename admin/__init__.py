"""Admin and dashboard web UI (later issues) and the web chat page's templates and static files."""
