"""The soak origins as module-level apps for the servers (``tests.soak._apps:starlette``,
``tests.soak._apps:flask``)."""

from __future__ import annotations

import os
from typing import Any

from tests.soak._origin import app_flask, app_starlette

app: Any = app_starlette() if os.environ.get("SK_KIND") == "starlette" else app_flask()
