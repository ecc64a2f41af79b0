"""The HTTP service (FastAPI): ``create_app(settings)`` builds it; see docs/api.md."""
