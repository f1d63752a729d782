"""The product as installed: the wheel, in a fresh virtualenv, run from outside the checkout.

The development venv has the checkout installed editable, so a file the code reads from the
repository (config/, a template, a migration) is always there. The container image installs
the wheel and nothing else; this does the same, and then starts `mintgate serve` on its
packaged defaults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from deployfiles import ROOT
from servers import LOOPBACK, free_port, serving

from service.store import migrate

PACKAGES = ("service", "jwks_cache")
INSTALL_TIMEOUT = 300  # seconds; a cold pip cache on a slow runner, measured at ~7s warm
# Nothing may point a child back at the checkout or at another venv.
LEAKS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


@dataclass(frozen=True, slots=True)
class Installed:
    wheel: Path
    venv: Path
    elsewhere: Path  # an empty working directory outside the repository

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def run(self, *command: str | Path) -> str:
        """Run one of the venv's programs in `elsewhere`, on the defaults (no MINTGATE_*)."""
        env = {
            k: v for k, v in os.environ.items() if k not in LEAKS and not k.startswith("MINTGATE_")
        }
        done = subprocess.run(  # noqa: S603 (the installed venv's own programs)
            [str(c) for c in command],
            cwd=self.elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}{done.stderr}"
        return done.stdout


def pip(*args: str | Path) -> None:
    # The development venv's pip, with this machine's configuration (its index and wheels).
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)]
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
    )
    assert done.returncode == 0, f"pip {args[0]}: {done.returncode}\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT)
    # As deploy/Dockerfile builds it: pip, the build backend from pyproject, isolated.
    pip("wheel", "--no-deps", "--wheel-dir", base / "dist", ROOT)
    (wheel,) = (base / "dist").glob("mintgate-*.whl")
    venv = base / "venv"
    # Not --system-site-packages: the venv sees the wheel and its dependencies, nothing else.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)  # noqa: S603
    pip("--python", venv / "bin" / "python", "install", "--no-compile", wheel)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return Installed(wheel, venv, elsewhere)


def checkout_files() -> set[str]:
    """Every file of the packages in the checkout, as the wheel would name it."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_the_wheel_carries_every_file_of_the_packages(installed: Installed) -> None:
    # Templates, static files, migrations, presets, the defaults: the code reads them all
    # from beside itself.
    with zipfile.ZipFile(installed.wheel) as wheel:
        shipped = set(wheel.namelist())
    missing = sorted(checkout_files() - shipped)
    assert not missing, f"in the checkout but not in the wheel: {missing}"
    for data in ("service/defaults/issuers.toml", "service/defaults/common-passwords.txt"):
        assert data in shipped


def test_the_venv_imports_the_installed_package_not_the_checkout(installed: Installed) -> None:
    probe = (
        "import json, sys, sysconfig, service, jwks_cache, service.defaults as d;"
        "print(json.dumps({'purelib': sysconfig.get_paths()['purelib'], 'path': sys.path,"
        " 'modules': [service.__file__, jwks_cache.__file__, str(d.ISSUERS)]}))"
    )
    found = json.loads(installed.run(installed.bin("python"), "-c", probe))
    purelib = Path(found["purelib"]).resolve()
    assert purelib.is_relative_to(installed.venv.resolve())
    for module in found["modules"]:
        assert Path(module).resolve().is_relative_to(purelib), module
    leaked = [p for p in found["path"] if p and Path(p).resolve().is_relative_to(ROOT)]
    assert not leaked, f"the installed venv can see the checkout: {leaked}"


def test_the_installed_migrations_reach_the_checkout_head(installed: Installed) -> None:
    # The embedded default database, in the working directory: created and migrated.
    out = installed.run(installed.bin("mintgate"), "db", "upgrade")
    assert out.strip().endswith(f"is at revision {migrate.head()}"), out
    assert (installed.elsewhere / "mintgate.sqlite3").is_file()


@pytest.fixture
def served(installed: Installed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """`mintgate serve` from the venv, on its packaged defaults, in a directory of its own."""
    for name in LEAKS:
        monkeypatch.delenv(name, raising=False)  # serving() passes the rest of os.environ on
    monkeypatch.chdir(installed.elsewhere)  # the child's working directory
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = {"MINTGATE_HOST": LOOPBACK, "MINTGATE_PORT": str(port), "MINTGATE_URL": url}
    command = [str(installed.bin("mintgate")), "serve"]
    with serving(command, env, ready=f"{url}/healthz", log=tmp_path / "serve.log"):
        yield url


def test_the_installed_service_serves_on_its_packaged_defaults(served: str) -> None:
    with httpx.Client(base_url=served, timeout=5.0, trust_env=False) as client:
        assert client.get("/_/oidc/audience").json() == {"audience": "mintgate"}
        login = client.get("/web/login")
        assert login.status_code == 200
        assert "text/html" in login.headers["content-type"]
        assert "<form" in login.text
        style = client.get("/web/static/style.css")
        assert style.status_code == 200
        assert style.text == (ROOT / "service" / "web" / "static" / "style.css").read_text()
