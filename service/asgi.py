"""The ASGI app factory that uvicorn's worker processes import (`service.asgi:app_from_env`).

Each worker is a fresh interpreter: it reads the same MINTGATE_* variables and builds its own app.
"""

from __future__ import annotations

from starlette.applications import Starlette

from service.app import create_app
from service.settings import Settings


def app_from_env() -> Starlette:
    return create_app(Settings.from_env())
