"""SIGTERM: stop accepting, finish the request in flight, exit 0. A real `mintgate serve`."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import httpx
from obskit import value
from servekit import Served, serve
from servers import LOOPBACK

BODY = json.dumps({"token": "not.a.jwt"}).encode()


def in_flight(served: Served) -> float:
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        text = client.get(f"{served.url}/metrics").text
    return value(text, "mintgate_http_requests_in_flight")


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return False
    except OSError:
        return True


def test_sigterm_finishes_the_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    env = {"MINTGATE_LOG_FORMAT": "json"}
    with serve(env, tmp_path / "serve.log") as served:
        request = (
            b"POST /_/oidc/mint-token HTTP/1.1\r\nHost: mintgate\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
        )
        with socket.create_connection((LOOPBACK, served.port), timeout=10) as conn:
            conn.sendall(request + BODY[:10])
            # The app is handling it (waiting for the rest of the body) when the scrape that
            # asks is the second request in flight.
            served.wait_until(lambda: in_flight(served) == 2, "handling the first part")
            served.process.send_signal(signal.SIGTERM)
            served.wait_until(lambda: refuses_connections(served.port), "refusing connections")
            assert served.process.poll() is None, "exited with a request in flight"
            conn.sendall(BODY[10:])
            response = _read_response(conn)
        assert served.process.wait(timeout=30) == 0, served.tail()

    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 422"), response
    assert b"x-request-id: " in head.lower()
    assert json.loads(body)["errors"][0]["code"] == "invalid-token"
    lines = [json.loads(line) for line in served.log.read_text().splitlines() if line]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    refused = [line for line in lines if line.get("event") == "mint-refused"]
    assert len(refused) == 1
    assert refused[0]["request_id"].encode() in head


def _read_response(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body
