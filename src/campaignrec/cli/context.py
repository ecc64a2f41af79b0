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

from campaignrec.errors import ConfigError

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


SparkMappingOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mapping",
        help="mapping file (TOML, as for `import`) of a --spark-input table: FILE for events, "
        "or ENTITY=FILE (events, items, users); repeatable",
    ),
]


def spark_options(
    engine: str,
    master: str,
    conf: list[str] | None,
    input_dir: str | None,
    mappings: list[str] | None = None,
) -> Any:
    """The Spark options of a batch command, or None when it runs on the local engine."""
    from campaignrec.engines.spark.jobs import SparkOptions, check_engine, parse_mappings
    from campaignrec.engines.spark.session import parse_conf

    if check_engine(engine) == "local":
        if mappings:
            raise ConfigError(
                "--mapping maps the Parquet input of --engine spark",
                hint="locally, map a file on import: campaignrec import events FILE --mapping M",
            )
        return None
    return SparkOptions(
        master=master,
        conf=parse_conf(conf),
        input=input_dir,
        mappings=parse_mappings(mappings, input_dir),
    )


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


def selection_progress() -> Any:
    """A context manager yielding the progress display of ``campaignrec train``'s selection: one
    bar per candidate (trials done of planned, predicted time, then its validation score) and
    the time left of the budget; a candidate skipped for time shows why."""
    import contextlib
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from campaignrec.evaluation.budget import SelectionProgress

    class _Left(TextColumn):
        def __init__(self, owner: _Rich) -> None:
            super().__init__("")
            self.owner = owner

        def render(self, task: Any) -> Any:
            from rich.text import Text

            if task.finished or task.fields.get("skipped"):
                return Text("")
            left = self.owner.deadline - time.perf_counter()
            return Text(f"{left:5.0f} s left / 剩余" if left >= 0 else f"{-left:.0f} s over")

    class _Rich(SelectionProgress):
        def __init__(self) -> None:
            self.deadline = time.perf_counter()
            self.bar = Progress(
                TextColumn("{task.description:<24}"),
                BarColumn(bar_width=12),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                _Left(self),
                console=console,
            )
            self.tasks: dict[str, Any] = {}

        def start(self, budget_s: float, deadline: float, candidates: list[str]) -> None:
            self.deadline = deadline
            console.print(
                f"choosing the default model within {budget_s:.0f} s "
                f"(在 {budget_s:.0f} 秒内选择默认模型); {len(candidates)} candidates"
            )

        def candidate_start(self, label: str, trials: int, predicted_s: float) -> None:
            note = f"~{predicted_s:.1f} s"
            if label in self.tasks:
                task = self.tasks[label]
                total = self._task(task).total or 0
                self.bar.update(task, total=total + trials, note=note)
            else:
                self.tasks[label] = self.bar.add_task(label, total=trials, note=note)

        def trial_done(self, label: str, value: float) -> None:
            if label in self.tasks:
                self.bar.update(self.tasks[label], advance=1, note=f"ndcg {value:.4f}")

        def _task(self, task_id: Any) -> Any:
            return next(t for t in self.bar.tasks if t.id == task_id)

        def candidate_end(self, label: str, score: float) -> None:
            if label in self.tasks:  # tuning may stop early (time): the bar ends where it got
                task = self.tasks[label]
                done = self._task(task).completed
                self.bar.update(task, total=done, note=f"best {score:.4f}")

        def skipped(self, label: str, reason: str) -> None:
            short = "over budget / 超出预算" if "time budget" in reason else "failed / 失败"
            note = f"skipped: {short}"
            if label in self.tasks:  # it started, then failed
                self.bar.update(self.tasks[label], note=note, skipped=True)
            else:
                self.tasks[label] = self.bar.add_task(
                    label, total=1, completed=0, note=note, skipped=True
                )

        def finish(self, chosen: str) -> None:
            for label, task in self.tasks.items():
                if label.startswith("refit "):
                    self.bar.update(task, completed=1, note="done")

    @contextlib.contextmanager
    def run() -> Any:
        rich = _Rich()
        with rich.bar:
            yield rich

    return run()


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
        if row.get("skipped"):
            shown = "skipped (已跳过): " + str(row["skipped"])[:110]
        elif row.get("error"):
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
    used = out.get("protected_attributes_used") or []
    if used:
        console.print(
            f"[yellow]the audience selects on protected attribute(s) / 受众使用了受保护属性:[/] "
            f"{', '.join(used)}",
            highlight=False,
        )
    rates = out.get("selection_rates") or []
    if rates:
        grid = Table(title="selection rate by group / 各群体入选率")
        for col in ("field", "group", "shoppers", "selected", "rate", "ratio to max"):
            grid.add_column(col, justify="left" if col in ("field", "group") else "right")
        for r in rates:
            grid.add_row(
                str(r["field"]),
                str(r["group"]),
                f"{r['shoppers']:,}",
                f"{r['selected']:,}",
                f"{r['rate']:.1%}",
                f"{r['ratio_to_max']:.2f}",
            )
        console.print(grid)


def print_push_plan(s: dict[str, Any]) -> None:
    """The summary of ``campaignrec push plan`` (a :meth:`PushPlanResult.summary` with ``out``):
    pushes, holdout, expected value, pushes by channel, shoppers left out by reason."""
    console.print(
        f"push plan for [bold]{s['campaign_id']}[/]: {s['pushes']:,} pushes / 条推送, "
        f"{s['holdout']:,} in the holdout / 对照组, expected value / 预期价值 "
        f"{money(s['expected_value'])} -> {s.get('out')}",
        highlight=False,
    )
    table = Table(title="by channel / 按渠道")
    table.add_column("channel")
    table.add_column("pushes", justify="right")
    for ch, n in s["by_channel"].items():
        table.add_row(ch, f"{n:,}")
    console.print(table)
    if s["skipped"]:
        skipped = Table(title="left out / 未推送")
        skipped.add_column("reason")
        skipped.add_column("shoppers", justify="right")
        for reason, n in s["skipped"].items():
            skipped.add_row(reason, f"{n:,}")
        console.print(skipped)
    console.print(f"value estimates: {s['value_source']}", highlight=False)
    if s["ledger"]:
        console.print(f"recorded in / 已记录于 {s['ledger']}", highlight=False)


def print_campaign_models(summary: dict[str, Any], *, as_json: bool = False) -> None:
    """What ``uplift --from-store`` (and ``retrain``) fitted: rows, arms, held-out Qini."""
    import json

    if as_json:
        typer.echo(json.dumps(summary, default=str, ensure_ascii=False))
        return
    h = summary.get("holdout") or {}
    console.print(
        f"campaign models / 活动模型 {summary.get('version')}: {summary.get('rows', 0):,} exposures "
        f"({summary.get('treated_rows', 0):,} shown / 展示, {summary.get('control_rows', 0):,} "
        f"held out / 对照) over {len(summary.get('campaigns') or [])} campaigns -> "
        f"{summary.get('path')}",
        highlight=False,
    )
    if "qini" in h:
        console.print(
            f"held-out {h['rows']:,} exposures / 留出样本: Qini {h['qini']:.4f} (random / 随机 "
            f"{h['qini_random']:.4f}), uplift@30% {h['uplift_at_30']:.3f} (random / 随机 "
            f"{h['uplift_at_30_random']:.3f})",
            highlight=False,
        )
    elif h.get("skipped"):
        console.print(f"held-out check skipped / 未做留出检验: {h['skipped']}", highlight=False)
    console.print(
        "campaigns plan and the service now use this uplift model / "
        "活动计划与服务现在使用该增益模型",
        highlight=False,
    )
