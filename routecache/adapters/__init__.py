"""Framework glue: each adapter makes the core native in one framework.

``starlette`` (Starlette and FastAPI), ``flask``, ``django``; and the bare drivers
re-exported as ``asgi`` and ``wsgi`` for any other ASGI or WSGI framework. Adapters
only translate: every decision is made by :mod:`routecache.middleware.policy`.
"""
