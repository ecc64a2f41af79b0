"""``campaignrec console-users create|list|disable``: people who log in to the console.

Imports only :mod:`campaignrec.cli.context` from the CLI.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from campaignrec.cli.context import console, open_store

console_users_app = typer.Typer(
    help="Console users (password stored as a salted scrypt hash): create, list, disable.",
    no_args_is_help=True,
)


@console_users_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="the user's name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a console user (asks for the password twice unless --password-stdin)."""
    from campaignrec.service.console.users import ConsoleUsers

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = ConsoleUsers(open_store()).create(username, password)
    console.print(f"console user {user.id}: {user.username}", highlight=False)


@console_users_app.command("list")
def list_users() -> None:
    """List console users (names and state; never passwords)."""
    from campaignrec.service.console.users import ConsoleUsers

    for user in ConsoleUsers(open_store()).list():
        state = "disabled" if user.disabled else "active"
        console.print(f"{user.id}\t{user.username}\t{state}", highlight=False)


@console_users_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="the user's name")]) -> None:
    """Disable a console user (their sessions end at the next request)."""
    from campaignrec.service.console.users import ConsoleUsers

    ConsoleUsers(open_store()).disable(username)
    console.print(f"disabled console user {username}", highlight=False)
