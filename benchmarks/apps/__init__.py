"""One small module per framework; every configuration is a factory the server command names.

uvicorn runs them with ``--factory module:make_x``, gunicorn with ``module:make_x()``.
Imports of optional libraries (the anchors, routecache itself) happen inside the factories,
so a module imports even when a library is missing and the runner can skip that row alone.
"""
