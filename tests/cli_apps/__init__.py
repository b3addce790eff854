"""The same small app for Flask and Django, configured from the environment, for the
command line tests (``tests/test_commands.py``) that run ``routecache``, ``flask
routecache`` and ``manage.py routecache`` as subprocesses.

``CLI_REDIS_URL`` is the private Redis, ``CLI_PREFIX`` the key prefix;
``CLI_SERVER_NAME`` (Flask) and ``CLI_ALLOWED_HOST`` (Django) the configured host.
"""
