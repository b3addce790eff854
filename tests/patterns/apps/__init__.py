"""Small apps served by real uvicorn/gunicorn workers in the pattern tests.

Every app is configured through ``RC_*`` environment variables (see ``common.py``) and
shares one set of routes, rules and view behaviour, so a test can run the same
scenario through Starlette (ASGI), Flask (WSGI) or Django.
"""
