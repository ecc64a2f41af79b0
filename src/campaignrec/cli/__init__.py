"""The ``campaignrec`` command line."""

from campaignrec.cli.main import app, main

__all__ = ["app", "main"]
