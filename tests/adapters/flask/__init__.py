"""Tests of the Flask adapter (``routecache.adapters.flask``)."""
