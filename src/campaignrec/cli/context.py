"""The one module every CLI sub-command imports: the selected data directory, its settings, the
store, and the consoles.

``cli/main.py`` imports the sub-command modules and they import this module; nothing imports
``cli/main.py`` back, and the sub-command modules import nothing from each other, so the imports
of the CLI run one way (``tests/test_import_graph.py`` walks them). The few display helpers that
two commands share (the demo narrates what other commands print) live here too.

Importing the CLI stays cheap (``campaignrec --help`` in well under a second): the library, and
with it numpy, pandas and scikit-learn, is imported inside the commands that use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from campaignrec.config import Settings
    from campaignrec.pipeline.campaigns import PlanResult
    from campaignrec.pipeline.shop import ShopInit, StoreStats

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
    from campaignrec.pipeline.shop import open_store as open_shop_store

    return open_shop_store(settings())


# ---- where the batch commands run (train, profiles export, segments, recommend --all) ---------
EngineOpt = Annotated[
    str, typer.Option("--engine", help="where the batch stage runs: local | spark")
]
SparkMasterOpt = Annotated[
    str,
    typer.Option(
        "--spark-master", help="Spark master: local[*], spark://host:7077, yarn, k8s://..."
    ),
]
SparkConfOpt = Annotated[
    list[str] | None,
    typer.Option("--spark-conf", help="Spark setting KEY=VALUE, passed through (repeatable)"),
]
SparkInputOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-input",
        help="Parquet input directory (events, items, users); default: the store, exported",
    ),
]


def spark_options(engine: str, master: str, conf: list[str] | None, input_dir: str | None) -> Any:
    """The Spark options of a batch command, or None when it runs on the local engine."""
    from campaignrec.engines.spark.jobs import SparkOptions, check_engine
    from campaignrec.engines.spark.session import parse_conf

    if check_engine(engine) == "local":
        return None
    return SparkOptions(master=master, conf=parse_conf(conf), input=input_dir)


# ---- display helpers shared by several commands ----------------------------------------------


def money(x: float | None) -> str:
    """An amount with thousands separators and two decimals ("-" when missing)."""
    return "-" if x is None else f"{x:,.2f}"


def print_init(result: ShopInit) -> None:
    """What ``campaignrec init`` did."""
    console.print(
        f"initialised [bold]{result.home}[/] (store schema v{result.schema_version}, "
        f"settings {result.settings_file})"
    )


def print_stats(stats: StoreStats, home: Path) -> None:
    """The tables of ``campaignrec stats``: rows per table, events per type, the time span."""
    table = Table(title=f"store {home}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in stats.counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    if stats.events_by_type:
        t2 = Table(title="events by type")
        t2.add_column("event_type")
        t2.add_column("rows", justify="right")
        for name, n in sorted(stats.events_by_type.items(), key=lambda kv: -kv[1]):
            t2.add_row(str(name), f"{n:,}")
        console.print(t2)
    if stats.time_span:
        console.print(f"time span: {stats.time_span[0]} .. {stats.time_span[1]}")


def selection_table(selection: dict[str, object], title: str | None = None) -> Table:
    """The default selection's leaderboard: each candidate's validation score, or why it was
    skipped (a shop without item categories, a catalogue too wide for a solver)."""
    metric = "validation score"
    validation = selection.get("validation")
    if isinstance(validation, dict):
        metric = f"validation {validation.get('metric', 'score')} ({validation.get('protocol')})"
    table = Table(title=title)
    table.add_column("candidate")
    table.add_column(metric, justify="right")
    board = selection.get("leaderboard")
    for row in board if isinstance(board, list) else []:
        if row.get("error"):
            reason = str(row["error"]).splitlines()[0].split(" (hint")[0]
            shown = "skipped: " + reason.removeprefix(f"{row.get('model')}: ")[:80]
        else:
            shown = f"{float(row.get('score', float('nan'))):.4f}"
        table.add_row(str(row.get("name")), shown)
    return table


def print_plan(result: PlanResult) -> None:
    """The strategies table of ``campaignrec campaigns plan`` and the estimates' source."""
    c, out = result.campaign, result.plan
    table = Table(
        title=f"plan for {c.campaign_id} ({c.name}); audience {result.audience_size:,}; "
        f"budget {money(c.budget)}; inventory {c.inventory or '-'}"
    )
    for col in (
        "strategy",
        "reach",
        "exp. cost",
        "redemptions",
        "incr. conv.",
        "incr. revenue",
        "incr. profit",
        "ROI",
    ):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for r in out["strategies"]:
        table.add_row(
            r["strategy"],
            f"{r['reach']:,}",
            money(r["expected_cost"]),
            f"{r['expected_redemptions']:.1f}",
            f"{r['incremental_conversions']:.1f}",
            money(r["incremental_revenue"]),
            money(r["incremental_profit"]),
            "-" if r["roi"] != r["roi"] else f"{r['roi']:.2f}",
        )
    console.print(table)
    console.print(f"estimates: [bold]{result.source}[/]", highlight=False)
