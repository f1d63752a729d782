"""The OpenAPI document is true to the routes, and fuzzing every operation finds no 5xx."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_helpers import PASSWORD, api_settings, cheap_passwords, secret_of
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.routing import Mount, Route

from service.accounts import totp
from service.app import Overrides, create_app

# A real store on SQLite, opened lazily by the app inside schemathesis' own event loop.
_DIR = Path(tempfile.mkdtemp(prefix="mintgate-openapi-"))
APP = create_app(
    api_settings(_DIR, database_url=f"sqlite+aiosqlite:///{_DIR / 'fuzz.sqlite3'}"),
    Overrides(passwords=cheap_passwords()),
)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


def _documented() -> set[tuple[str, str]]:
    with asgi.get_client(APP) as client:
        document = client.get("http://testserver/api/v1/openapi.json").json()
    return {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}


def _routed() -> set[tuple[str, str]]:
    [mount] = [r for r in APP.routes if isinstance(r, Mount) and r.path == "/api/v1"]
    found = set()
    for route in mount.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        found |= {(path, m) for m in (route.methods or set()) - {"HEAD"}}
    return found


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    assert _documented() == _routed()


def test_every_operation_documents_its_bodies() -> None:
    with asgi.get_client(APP) as client:
        document = client.get("http://testserver/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert success, where
            for status in success:
                response = operation["responses"][status]
                assert status == "204" or "content" in response, where
            assert "4XX" in operation["responses"], where
            if "requestBody" in operation:
                assert operation["requestBody"]["content"]["application/json"]["schema"], where


def _signed_in_user(name: str) -> str:
    """A user with TOTP, signed in with a fresh proof: the fuzzer then reaches past the gate."""
    with asgi.get_client(APP) as client:
        base = "http://testserver/api/v1"
        body = {"username": name, "email": f"{name}@example.org", "password": PASSWORD}
        assert client.post(f"{base}/register", json=body).status_code == 201
        login = {"username": name, "password": PASSWORD, "bearer": True}
        session: str = client.post(f"{base}/login", json=login).json()["session_id"]
        auth = {"Authorization": f"Bearer {session}"}
        begun = client.post(f"{base}/me/two-factor/totp", headers=auth).json()
        code = totp.generate(secret_of(begun["manual_key"]), time.time())
        confirmed = client.post(
            f"{base}/me/two-factor/totp/confirm", json={"code": code}, headers=auth
        )
        assert confirmed.status_code == 200, confirmed.text
        return session


def _throwaway_session() -> str:
    with asgi.get_client(APP) as client:
        login = {"username": "fuzzer", "password": PASSWORD, "bearer": True}
        response = client.post("http://testserver/api/v1/login", json=login)
        session: str = response.json()["session_id"]
        return session


@pytest.fixture(scope="module")
def fuzzer() -> str:
    return _signed_in_user("fuzzer")


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_operation_answers_5xx(case: Any, fuzzer: str) -> None:
    # Logging out would end the shared session for every later operation.
    session = _throwaway_session() if case.path == "/logout" else fuzzer
    response = case.call(headers={"Authorization": f"Bearer {session}"})
    assert response.status_code < 500, f"{case.method} {case.path}: {response.text}"
    # Not "schema-valid data is accepted": a well-formed TOTP code can still be the wrong
    # one, and a well-formed password a breached one; those 400s are the point.
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
