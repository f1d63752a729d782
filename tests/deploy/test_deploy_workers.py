"""MINTGATE_WORKERS end to end: the real `mintgate` command, refused or serving."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from deployfiles import DEPLOY
from servers import LOOPBACK, MINTGATE, child_env, free_port, mintgate_cli, running
from testredis import REDIS_URL

from service.minting.keys import generate_pem

DEADLINE = 30.0


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "signing.pem"
    key.write_bytes(generate_pem())
    return key


# The in-process table in test_deploy_settings.py covers each missing variable; these
# show that both commands stop on it, before uvicorn binds anything.
@pytest.mark.parametrize(
    ("command", "missing"),
    [
        ("check", ("MINTGATE_REDIS_URL", "MINTGATE_SIGNING_KEY_FILES")),
        ("serve", ("MINTGATE_REDIS_URL",)),
    ],
    ids=["check-without-key-or-redis", "serve-without-redis"],
)
def test_several_workers_without_shared_keys_and_redis_refuse_to_start(
    command: str, missing: tuple[str, ...], signing_key: Path
) -> None:
    env = {
        "MINTGATE_WORKERS": "2",
        "MINTGATE_SIGNING_KEY_FILES": str(signing_key),
        "MINTGATE_REDIS_URL": REDIS_URL,
        "MINTGATE_PORT": str(free_port()),
    }
    for name in missing:
        del env[name]
    done = mintgate_cli(command, env=env)
    assert done.returncode == 2
    assert "MINTGATE_WORKERS=2 needs MINTGATE_SIGNING_KEY_FILES and MINTGATE_REDIS_URL" in (
        done.stderr
    )
    assert "Uvicorn running" not in done.stderr


def test_a_bad_workers_value_names_the_variable() -> None:
    done = mintgate_cli("check", env={"MINTGATE_WORKERS": "lots"})
    assert done.returncode == 2
    assert "MINTGATE_WORKERS:" in done.stderr


def test_check_accepts_several_workers_with_key_and_redis(signing_key: Path) -> None:
    env = {
        "MINTGATE_WORKERS": "2",
        "MINTGATE_SIGNING_KEY_FILES": str(signing_key),
        "MINTGATE_REDIS_URL": REDIS_URL,
    }
    done = mintgate_cli("check", env=env)
    assert done.returncode == 0, done.stderr


def children(pid: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing's resource tracker is not one)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in listed
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.fixture
def two_workers(signing_key: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {
        "MINTGATE_WORKERS": "2",
        "MINTGATE_SIGNING_KEY_FILES": str(signing_key),
        "MINTGATE_REDIS_URL": REDIS_URL,
        "MINTGATE_HOST": LOOPBACK,
        "MINTGATE_PORT": str(port),
        "MINTGATE_URL": f"http://{LOOPBACK}:{port}",
    }
    log = tmp_path / "serve.log"
    try:
        with running([str(MINTGATE), "serve"], env, log) as process:
            yield process, port
    finally:
        print(log.read_text(errors="replace")[-4000:])


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if ready():
            return
        try:
            # The pause between attempts, and the check that the server did not die.
            code = process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"mintgate exited with {code} before {what}")
    raise AssertionError(f"not {what} after {DEADLINE:g}s")


@pytest.mark.redis
def test_two_workers_serve_and_stop_cleanly_on_sigterm(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = two_workers
    base = f"http://{LOOPBACK}:{port}"

    with httpx.Client(timeout=1.0, trust_env=False) as client:

        def healthy() -> bool:
            try:
                return client.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, process, "healthy")
        wait_until(lambda: len(children(process.pid)) == 2, process, "running two workers")
        ready = client.get(f"{base}/readyz").json()
        assert ready == {"status": "ok", "replay": "ok", "trust": "ok"}
        # Every worker publishes the same keys: they were read from the same files.
        documents = {client.get(f"{base}/.well-known/jwks.json").text for _ in range(8)}
        assert len(documents) == 1

    # The image's HEALTHCHECK script, against the real server.
    check = [sys.executable, str(DEPLOY / "healthcheck.py")]
    env = child_env({"MINTGATE_PORT": str(port)})
    assert subprocess.run(check, env=env, check=False, timeout=10).returncode == 0  # noqa: S603

    workers = children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=DEADLINE) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"worker {pid} outlived it"


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_healthcheck_fails_when_nothing_answers() -> None:
    check = [sys.executable, str(DEPLOY / "healthcheck.py")]
    env = child_env({"MINTGATE_PORT": str(free_port())})
    done = subprocess.run(check, env=env, check=False, timeout=10, capture_output=True)  # noqa: S603
    assert done.returncode == 1
    assert b"/healthz" in done.stderr


def test_worker_processes_build_the_app_from_the_environment() -> None:
    """The import string uvicorn gives its workers resolves to a factory, not an app."""
    from service.asgi import app_from_env
    from service.commands.serve import APP_FACTORY

    module, name = APP_FACTORY.split(":")
    assert (module, name) == (app_from_env.__module__, app_from_env.__name__)


# A worker's start-up, as uvicorn runs it, then: is the database's engine, opened lazily
# at the trust index's first poll, left out of later garbage collections?
_WORKER_HEAP = """
import asyncio, gc
from service.asgi import app_from_env
app = app_from_env()
async def main() -> None:
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.heap_settled.wait(), 60)
        engine = app.state.trust_index.feed.store._store.engine
        walked = any(o is engine for o in gc.get_objects())
        print("walked" if walked else "settled", flush=True)
asyncio.run(main())
"""


def test_a_worker_settles_its_heap_again_once_the_database_is_open(tmp_path: Path) -> None:
    # Full collections walk every tracked object: what start-up built, the database's
    # engine, dialect and Alembic's scripts included, must not be walked again.
    env = child_env({"MINTGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'mintgate.sqlite3'}"})
    done = subprocess.run(  # noqa: S603 (this interpreter, a script of the test's own)
        [sys.executable, "-c", _WORKER_HEAP],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "settled"
