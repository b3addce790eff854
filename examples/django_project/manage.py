#!/usr/bin/env python
"""The Django example: ``python examples/django_project/manage.py runserver``.

GET /data/<id> is slow (0.5 s, standing for a database) and cached for 60 s;
PUT /data/<id> changes the record and routecache invalidates the cached page before
the PUT's answer goes out. Redis when ``REDIS_URL`` is set, else the in-process
memory store::

    python examples/django_project/manage.py runserver
    REDIS_URL=redis://127.0.0.1:6379/0 python examples/django_project/manage.py runserver
    curl -i localhost:8000/data/1        # twice: look at Cache-Status
    curl -i -X PUT -d 'new value' localhost:8000/data/1
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    """Run a management command with this project's settings."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dataproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
