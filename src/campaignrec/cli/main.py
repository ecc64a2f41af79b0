"""Entry point of the ``campaignrec`` command line.

Sub-commands live in sibling modules and are registered here explicitly. Every
:class:`~campaignrec.errors.CampaignrecError` becomes one line on stderr and its exit code
(documented in docs/cli.md); unexpected exceptions print one line too unless ``--debug``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from campaignrec.cli.context import STATE, console, err_console, open_store, settings
from campaignrec.errors import EXIT_ERROR, CampaignrecError

app = typer.Typer(
    name="campaignrec",
    help="Self-hosted personalisation engine: products and campaigns for every shopper.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from campaignrec import __version__

        console.print(f"campaignrec {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", "-d", help="data directory of the shop (env CAMPAIGNREC_HOME)"),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    STATE.data_dir = data_dir
    STATE.debug = debug
    STATE._settings = None


def _register() -> None:
    """Attach every sub-command explicitly (no registration by import side effects)."""
    from campaignrec.cli import (
        campaigns,
        console_users,
        consume,
        core,
        demo,
        evaluate,
        experiments,
        generate,
        ingest,
        retrain,
        serve,
    )
    from campaignrec.cli import privacy as privacy_cli
    from campaignrec.cli import profiles as profiles_cli
    from campaignrec.cli import push as push_cli

    app.command("init")(core.init)
    app.command("import")(ingest.import_cmd)
    app.command("quarantine")(ingest.quarantine_cmd)
    app.command("consume")(consume.consume_cmd)
    app.command("generate")(generate.generate)
    app.command("stats")(core.stats)
    app.command("train")(core.train)
    app.command("recommend")(core.recommend)
    app.command("search")(core.search)
    app.command("models")(core.models)
    app.command("retrain")(retrain.retrain)
    app.command("health")(retrain.health)
    app.command("evaluate")(evaluate.evaluate)
    app.command("profile")(profiles_cli.profile_command)
    app.add_typer(profiles_cli.profiles_app, name="profiles")
    app.command("segments")(profiles_cli.segments_command)
    app.add_typer(profiles_cli.analytics_app, name="analytics")
    campaigns.app.command("for")(serve.campaigns_for)
    app.add_typer(campaigns.app, name="campaigns")
    app.command("uplift")(experiments.uplift)
    app.command("ope")(experiments.ope)
    app.add_typer(experiments.experiments_app, name="experiments")
    app.command("demo")(demo.demo)
    app.command("serve")(serve.serve)
    app.add_typer(serve.keys_app, name="keys")
    app.add_typer(console_users.console_users_app, name="console-users")
    app.command("erase")(privacy_cli.erase)
    app.command("retention")(privacy_cli.retention)
    app.command("dp")(privacy_cli.dp_release)
    app.command("audit")(privacy_cli.audit)
    app.add_typer(push_cli.app, name="push")


_register()


__all__ = ["STATE", "app", "console", "main", "open_store", "settings"]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning our errors into one clear line and an exit code."""
    try:
        app(args=argv, prog_name="campaignrec")  # usage errors and --help exit through click
    except CampaignrecError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[dim]hint: {exc.hint}[/]", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if STATE.debug:
            raise
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        err_console.print("[dim]hint: run again with --debug for the traceback[/]")
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":  # pragma: no cover
    main()
