"""`guajie serve`: the HTTP service for scenario apps (FastAPI app, session pool, limits)."""
