"""The Redis database the tests use: db 15, or one of its own for each pytest-xdist worker.

The suite runs on two workers (pyproject.toml, `-n auto`). Tests delete keys by pattern
(tests/conftest.py sweeps stale JWKS and mint journals), so two workers on one database
would delete each other's. dbs 13 and 14 are the benchmarks'.
MINTGATE_TEST_REDIS_URL, when set, is used as it is.
"""

from __future__ import annotations

import os

_BY_WORKER = (15, 12, 11, 10)  # pyproject.toml caps the workers at four


def _url() -> str:
    given = os.environ.get("MINTGATE_TEST_REDIS_URL")
    if given:
        return given
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    if worker >= len(_BY_WORKER):
        raise RuntimeError(
            f"test worker {worker}: at most {len(_BY_WORKER)} workers have a Redis database"
            " of their own: run at most that many (-n)"
        )
    return f"redis://127.0.0.1:6379/{_BY_WORKER[worker]}"


REDIS_URL = _url()
