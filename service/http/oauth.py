"""`/oauth/*`: introspection (RFC 7662), revocation (RFC 7009), token exchange (RFC 8693).

Form parameters and client authentication in, JSON out; `oauth.authority`
decides. Every answer is `no-store`: it carries or describes a credential.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.oauth.authority import Authority, Exchanged
from service.oauth.clients import OAuthClient, OAuthClients
from service.oauth.narrowing import JWT_TOKEN_TYPE, OAuthError, parse_exchange

# A form holding one token of a few KiB; anything much larger is not ours to parse.
MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 16
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS = {"invalid_client": 401, "unauthorized_client": 403, "temporarily_unavailable": 503}


async def introspect(request: Request) -> Response:
    client = _client(request, "introspect")
    if isinstance(client, OAuthError):
        return error_response(client)
    token = await _token(request)
    if isinstance(token, OAuthError):
        return error_response(token)
    authority: Authority = request.app.state.oauth
    answer = await authority.introspect(token)
    if isinstance(answer, OAuthError):
        return error_response(answer)
    return JSONResponse(answer, headers=NO_STORE)


async def revoke(request: Request) -> Response:
    client = _client(request, "revoke")
    if isinstance(client, OAuthError):
        return error_response(client)
    # token_type_hint is optional and mintgate has one token type: nothing to look up by it.
    token = await _token(request)
    if isinstance(token, OAuthError):
        return error_response(token)
    authority: Authority = request.app.state.oauth
    failed = await authority.revoke(token, client_id=client.id)
    if failed is not None:
        return error_response(failed)
    return Response(status_code=200, headers=NO_STORE)


async def token(request: Request) -> Response:
    # No client authentication: the subject token is the credential, and its
    # holder could upload with it anyway; narrowing only gives away less.
    form = await _form(request)
    if isinstance(form, OAuthError):
        return error_response(form)
    exchange = parse_exchange(form)
    if isinstance(exchange, OAuthError):
        return error_response(exchange)
    authority: Authority = request.app.state.oauth
    result = await authority.exchange(exchange)
    if isinstance(result, OAuthError):
        return error_response(result)
    return _issued(result)


def _issued(result: Exchanged) -> Response:
    return JSONResponse(
        {
            "access_token": result.token,
            "issued_token_type": JWT_TOKEN_TYPE,
            # RFC 8693 2.2.1: not an OAuth access token for a resource server's header.
            "token_type": "N_A",
            "expires_in": result.expires_in,
        },
        headers=NO_STORE,
    )


def error_response(error: OAuthError) -> JSONResponse:
    status = STATUS.get(error.error, 400)
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="mintgate"'
    elif status == 503:
        headers["Retry-After"] = "5"
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=status,
        headers=headers,
    )


def _client(request: Request, scope: str) -> OAuthClient | OAuthError:
    clients: OAuthClients = request.app.state.oauth_clients
    client = clients.authenticate(request.headers.get("authorization"))
    if client is None:
        return OAuthError("invalid_client", "client authentication failed")
    if scope not in client.scopes:
        return OAuthError("unauthorized_client", f"this client may not {scope}")
    return client


async def _token(request: Request) -> str | OAuthError:
    form = await _form(request)
    if isinstance(form, OAuthError):
        return form
    token = form.get("token")
    if not token:
        return OAuthError("invalid_request", "token is required")
    return token


async def _form(request: Request) -> dict[str, str] | OAuthError:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM:
        return OAuthError("invalid_request", f"expected {FORM}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return OAuthError("invalid_request", f"body is larger than {MAX_FORM_BYTES} bytes")
    try:
        # errors="strict": by default a percent-encoded byte that is not UTF-8 (%ED%A0%80, a
        # surrogate; %FF) silently becomes U+FFFD, and a credential arrives changed.
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        return OAuthError("invalid_request", "body is not a well-formed UTF-8 form")
    form = dict(pairs)
    if len(form) != len(pairs):
        # RFC 6749 3.2: a parameter must not be sent twice; which copy wins is ambiguous.
        return OAuthError("invalid_request", "a parameter is repeated")
    return form


routes = [
    Route("/oauth/introspect", introspect, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
    Route("/oauth/token", token, methods=["POST"]),
]
