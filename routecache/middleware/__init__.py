"""The framework-agnostic core of routecache.

Nothing in this package imports a web framework. ``policy`` makes every decision
(sans-I/O); ``engine_async``/``engine_sync`` carry those decisions to a store; the
``asgi`` and ``wsgi`` drivers only move bytes between a server, the engine and the app.
"""
