"""The one module every CLI sub-command imports: the selected data directory, its settings, the
store, and the consoles.

``cli/main.py`` imports the sub-command modules and they import this module; nothing imports
``cli/main.py`` back, so the imports of the CLI run one way (a test walks them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from campaignrec.config import Settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class State:
    """What the root options chose: the data directory and --debug."""

    data_dir: Path | None = None
    debug: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from campaignrec.config import load_settings

            self._settings = load_settings(self.data_dir)
        return self._settings


STATE = State()


def settings() -> Settings:
    """Settings for the data directory chosen with --data-dir / CAMPAIGNREC_HOME."""
    return STATE.settings


def open_store() -> Any:
    """The SQL store of the selected data directory (created and migrated when missing)."""
    from campaignrec.store.sql import SQLStore

    s = settings()
    s.home.mkdir(parents=True, exist_ok=True)
    return SQLStore(s.resolved_database_url)
