"""mintgate user create | reset-2fa: add an account; clear a user's 2FA after out-of-band checks."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import TextIO

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.accounts.accounts import Accounts, Context
from service.accounts.breach import PwnedPasswords
from service.accounts.core import deps_for
from service.accounts.passwords import PasswordPolicy, Passwords, load_common
from service.accounts.secretbox import SecretBox
from service.accounts.two_factor import reset_two_factor
from service.commands.common import connect, load_settings
from service.publishers.base import Refusal
from service.settings import Settings

NAME = "user"
HELP = "manage accounts: create, reset two-factor"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="user_action", required=True)
    create = actions.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )
    reset = actions.add_parser(
        "reset-2fa",
        help="remove every two-factor method of a user whose identity you checked out of band",
    )
    reset.add_argument("username")
    reset.add_argument("--reason", required=True, help="the ticket, and how identity was checked")


def read_password(from_stdin: bool, stdin: TextIO | None = None) -> str | None:
    if from_stdin:
        # Only the line ending goes: spaces may be part of a passphrase.
        return (stdin or sys.stdin).readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        print("mintgate: the passwords differ", file=sys.stderr)
        return None
    return first


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return 2
    if args.user_action == "reset-2fa":
        return asyncio.run(reset(settings, args.username, args.reason))
    password = read_password(args.password_stdin)
    if password is None:
        return 1
    return asyncio.run(create(settings, args.username, args.email, password))


async def create(settings: Settings, username: str, email: str, password: str) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    try:
        async with httpx.AsyncClient(follow_redirects=False) as client:
            breaches = (
                PwnedPasswords(client, settings.pwned_passwords_url)
                if settings.pwned_passwords_url
                else None
            )
            accounts = Accounts(
                store,
                passwords=Passwords(),
                policy=PasswordPolicy(load_common(settings.common_passwords_file), breaches),
                # Creating a user never touches a TOTP secret: a throwaway key
                # spares the ephemeral-key warning, which would only mislead here.
                secrets=SecretBox(AESGCM.generate_key(bit_length=256)),
            )
            result = await accounts.create_user(username, email, password, Context(actor="cli"))
    finally:
        await store.close()
    if isinstance(result, Refusal):
        print(f"mintgate: {result.description} ({result.code})", file=sys.stderr)
        return 1
    print(
        f"mintgate: created user {result.username} (id {result.id});"
        " two-factor authentication is set up at first sign-in"
    )
    return 0


def operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "operator"


async def reset(settings: Settings, username: str, reason: str) -> int:
    store = await connect(settings)
    if store is None:
        return 2
    try:
        deps = deps_for(
            store, settings.smtp_url, settings.smtp_from, settings.two_factor_required_from
        )
        result = await reset_two_factor(deps, Context(actor=operator()), username, reason)
    finally:
        await store.close()
    if isinstance(result, Refusal):
        print(f"mintgate: {result.description} ({result.code})", file=sys.stderr)
        return 1
    print(
        f"mintgate: removed every two-factor method of {username}; they were notified and"
        " must enrol again at next sign-in"
    )
    return 0
