"""One TLS context per CA bundle for the test process, instead of one per httpx client.

httpx builds each client's SSLContext by parsing every CA certificate of the
bundle again: about 30 ms for every app a test creates (create_app makes its
own client), thousands of times a run. For one bundle that context is the same
each time, so the tests share it, per bundle (SSL_CERT_FILE / SSL_CERT_DIR as
httpx reads them, and the file's size and mtime, so a rewritten bundle is read
anew). Anything else still gets what httpx makes: verify=False, a context of
the test's own, a client certificate.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx._transports.default as transports

_build = transports.create_ssl_context


@functools.cache
def _for_bundle(file: str | None, directory: str | None, stamp: tuple[int, int]) -> ssl.SSLContext:
    # The arguments are only the cache key: httpx reads the same environment itself.
    return _build()


def _stamp(path: str | None) -> tuple[int, int]:
    if not path:
        return (0, 0)
    found = os.stat(path)
    return (found.st_size, found.st_mtime_ns)


def _shared(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
    if verify is not True or cert is not None or not trust_env:
        return _build(verify=verify, cert=cert, trust_env=trust_env)
    file = os.environ.get("SSL_CERT_FILE") or None
    directory = None if file else os.environ.get("SSL_CERT_DIR") or None
    try:
        stamp = _stamp(file or directory)
    except OSError:  # httpx raises its own error for a missing bundle: let it
        return _build(verify=verify, cert=cert, trust_env=trust_env)
    return _for_bundle(file, directory, stamp)


def share() -> None:
    transports.create_ssl_context = _shared
