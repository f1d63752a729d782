"""The Datalog every API token speaks: fact names and the snippets built from them.

Issuer, attenuator and verifier read this one module so a renamed fact cannot
drift between them.

Authority block (signed with the root key, trusted by the verifier):
    token_id("...");  user("user id", "user name");  root_key("ed25519/...");
    allowed_project("name"); ...   or   all_projects(true);
    check if time($t), $t < <expiry>;

Attenuation blocks (appended by any holder) carry checks only. Biscuit's
default scopes make facts in an appended block invisible to the authority
block and to the verifier's policies, so a block can only add conditions:
it restricts, it never widens.

The verifier adds `time(now)` and `project(name)` and allows when the project
is an authority-listed one or the token covers all the user's projects.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

TOKEN_ID = "token_id"
USER = "user"
ROOT_KEY = "root_key"
ALLOWED_PROJECT = "allowed_project"
ALL_PROJECTS = "all_projects"

EXPIRY_CHECK = "check if time($t), $t < {expires}"
PROJECTS_CHECK = "check if project($p), {projects}.contains($p)"

AUTHORIZER = f"""
time({{now}});
project({{project}});
allow if project($p), {ALLOWED_PROJECT}($p);
allow if {ALL_PROJECTS}(true);
"""

# Queries over the authority block, run by the verifier after the signature holds.
QUERY_TOKEN_ID = f"found($id) <- {TOKEN_ID}($id)"
QUERY_USER = f"found($id, $name) <- {USER}($id, $name)"
QUERY_PROJECTS = f"found($p) <- {ALLOWED_PROJECT}($p)"
QUERY_ALL = f"found(true) <- {ALL_PROJECTS}(true)"

Params = dict[str, object]


def authority(
    *,
    token_id: str,
    user_id: str,
    user_name: str,
    root_key: str,
    projects: Sequence[str] | None,
    expires: int,
) -> tuple[str, Params]:
    """The authority block's code and its parameters: values are bound, never spliced."""
    params: Params = {
        "token_id": token_id,
        "user_id": user_id,
        "user_name": user_name,
        "root_key": root_key,
        "expires": utc(expires),
    }
    lines = [
        f"{TOKEN_ID}({{token_id}});",
        f"{USER}({{user_id}}, {{user_name}});",
        f"{ROOT_KEY}({{root_key}});",
    ]
    if projects is None:
        lines.append(f"{ALL_PROJECTS}(true);")
    for i, project in enumerate(projects or ()):
        params[f"p{i}"] = project
        lines.append(f"{ALLOWED_PROJECT}({{p{i}}});")
    lines.append(EXPIRY_CHECK + ";")
    return "\n".join(lines), params


def utc(unix: int) -> datetime.datetime:
    # Biscuit dates are whole seconds since the epoch, UTC.
    return datetime.datetime.fromtimestamp(int(unix), datetime.UTC)
