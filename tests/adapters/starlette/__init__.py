"""Starlette and FastAPI adapter tests (``routecache.adapters.starlette``)."""
