"""Ingestion commands: ``import`` (files, presets, whole data sets) and ``quarantine``.

``campaignrec import users|items|campaigns|events FILE [--preset NAME | --mapping FILE] [--json]``
streams a file through the mapping and validation into the store;
``campaignrec import dataset PRESET PATH`` reads a public data set with its adapter and imports
every table it has. ``campaignrec quarantine`` lists (or exports) the rejected rows.
With ``--json`` exactly one JSON object is printed on stdout; progress goes to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from campaignrec.cli import context
from campaignrec.errors import ConfigError, TooManyRejectionsError

ENTITY_CHOICES = ("users", "items", "campaigns", "events", "dataset")

_err = Console(stderr=True)


def _build_mapping(
    *,
    preset: str | None,
    mapping: Path | None,
    fmt: str | None,
    delimiter: str | None,
    no_header: bool,
    columns: str | None,
    rename: list[str] | None,
    value: list[str] | None,
    constant: list[str] | None,
    timestamp_column: str | None,
    timestamp_format: str | None,
    timestamp_unit: str | None,
    timezone: str | None,
    list_separator: str | None,
    encoding: str | None,
) -> Any:
    from campaignrec.data.mapping import (
        Mapping,
        load_mapping,
        load_preset,
        parse_pairs,
        parse_value_maps,
    )

    if preset is not None and mapping is not None:
        raise ConfigError("give either --preset or --mapping, not both", hint="drop one of them")
    base = load_mapping(mapping) if mapping else load_preset(preset) if preset else Mapping()
    if delimiter == "\\t":
        delimiter = "\t"
    ts: dict[str, Any] = {
        k: v
        for k, v in (
            ("column", timestamp_column),
            ("format", timestamp_format),
            ("unit", timestamp_unit),
            ("timezone", timezone),
        )
        if v is not None
    }
    return base.merged(
        format=fmt,
        delimiter=delimiter,
        header=False if no_header else None,
        columns=[c.strip() for c in columns.split(",")] if columns else None,
        rename=parse_pairs(rename, what="--rename") or None,
        values=parse_value_maps(value) or None,
        constants=parse_pairs(constant, what="--constant") or None,
        timestamp=ts or None,
        list_separator=list_separator,
        encoding=encoding,
    )


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a callback for the importer (or None)."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_err,
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=None, rows=0)

        def update(rows: int, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None, rows=rows)

        yield update


def _summary_dict(s: Any) -> dict[str, Any]:
    return {
        "accepted": s.accepted,
        "duplicates": s.duplicates,
        "quarantined": s.quarantined,
        "by_reason": dict(s.by_reason),
        "rows": s.rows,
        "entity": s.entity,
        "source": s.source,
        "seconds": round(s.seconds, 3),
    }


def _print_table(summaries: dict[str, Any], title: str) -> None:
    console = context.console
    table = Table(title=title)
    for col in ("table", "rows", "accepted", "duplicates", "quarantined", "reasons"):
        table.add_column(col, justify="left" if col in ("table", "reasons") else "right")
    for entity, s in summaries.items():
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(s.by_reason.items())) or "-"
        table.add_row(
            entity,
            f"{s.rows:,}",
            f"{s.accepted:,}",
            f"{s.duplicates:,}",
            f"{s.quarantined:,}",
            reasons,
        )
    console.print(table)
    if summaries and len(summaries) == 1:
        s = next(iter(summaries.values()))
        if s.ignored_columns:
            console.print(f"[yellow]ignored columns:[/] {', '.join(s.ignored_columns)}")
        rate = s.rows / s.seconds if s.seconds else 0.0
        console.print(f"{s.seconds:.1f} s ({rate:,.0f} rows/s)")


def import_cmd(
    entity: Annotated[str, typer.Argument(help="users | items | campaigns | events | dataset")],
    file: Annotated[
        str, typer.Argument(help="the file to import (for 'dataset': the preset name)")
    ],
    path: Annotated[
        Path | None, typer.Argument(help="for 'dataset': the folder or file of the data set")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", help="a shipped mapping (taobao, movielens, ...) or an adapter"),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="a TOML mapping file (docs/data.md)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    reject_threshold: Annotated[
        float | None,
        typer.Option("--reject-threshold", help="fail (exit 5) above this quarantined share"),
    ] = None,
    strict_refs: Annotated[
        bool,
        typer.Option("--strict-refs", help="quarantine events whose user or item is unknown"),
    ] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="csv | tsv | parquet | jsonl")] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="field separator")] = None,
    no_header: Annotated[
        bool, typer.Option("--no-header", help="the file has no header row (give --columns)")
    ] = False,
    columns: Annotated[
        str | None, typer.Option("--columns", help="comma-separated column names")
    ] = None,
    rename: Annotated[
        list[str] | None, typer.Option("--rename", help="SOURCE=CANONICAL (repeatable)")
    ] = None,
    value: Annotated[
        list[str] | None, typer.Option("--value", help="COLUMN:FROM=TO value map (repeatable)")
    ] = None,
    constant: Annotated[
        list[str] | None, typer.Option("--constant", help="COLUMN=VALUE constant (repeatable)")
    ] = None,
    timestamp_column: Annotated[
        str | None, typer.Option("--timestamp-column", help="source column of the event time")
    ] = None,
    timestamp_format: Annotated[
        str | None, typer.Option("--timestamp-format", help="strptime format, e.g. %Y%m%d")
    ] = None,
    timestamp_unit: Annotated[
        str | None, typer.Option("--timestamp-unit", help="epoch unit: s | ms | us | ns")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="zone of naive timestamps (default UTC)")
    ] = None,
    list_separator: Annotated[
        str | None, typer.Option("--list-separator", help="separator of list values (default |)")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="text encoding when the file has no byte-order mark (default utf-8; e.g. gb18030)",
        ),
    ] = None,
    custom_event_type: Annotated[
        list[str] | None,
        typer.Option("--custom-event-type", help="accept this event type too (repeatable)"),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="rows per chunk / transaction")
    ] = 200_000,
) -> None:
    """Import a file of users, items, campaigns or events (or a whole data set) into the store.

    Bad rows go to the quarantine with a reason; duplicate events are skipped. Exit code 5 when
    more than the reject threshold of the rows was quarantined (the good rows are kept).
    """
    from campaignrec.data.adapters import ADAPTERS, read_dataset
    from campaignrec.data.importer import import_dataset, import_file, import_frame
    from campaignrec.data.mapping import preset_names

    if entity not in ENTITY_CHOICES:
        raise ConfigError(
            f"cannot import {entity!r}", hint=f"use one of {', '.join(ENTITY_CHOICES)}"
        )
    m = context
    threshold = m.settings().reject_threshold if reject_threshold is None else reject_threshold
    store = m.open_store()
    from campaignrec.privacy.edge import privacy_edge

    edge = privacy_edge(m.settings(), store)
    protected = tuple(m.settings().protected_attributes)
    show = not json_out and _err.is_terminal
    try:
        if entity == "dataset":
            if path is None:
                raise ConfigError(
                    "import dataset needs a preset and a path",
                    hint="campaignrec import dataset movielens data/ml-100k",
                )
            ds = read_dataset(file, path)
            summaries: dict[str, Any] = {}
            error: TooManyRejectionsError | None = None
            try:
                summaries = import_dataset(
                    store,
                    ds,
                    reject_threshold=threshold,
                    strict_refs=strict_refs,
                    chunk_rows=chunk_rows,
                    edge=edge,
                )
            except TooManyRejectionsError as exc:
                summaries = exc.summaries  # type: ignore[attr-defined]
                error = exc
            _report_many(summaries, json_out, title=f"{file}: {path}")
            if error is not None:
                raise error
            return
        if path is not None:
            raise ConfigError(f"unexpected extra argument {str(path)!r}", hint="give one FILE")
        src = Path(file)
        adapter = preset is not None and preset not in preset_names() and preset in ADAPTERS
        summary = None
        try:
            with _progress(show, f"{entity} {src.name}") as progress:
                if adapter:
                    assert preset is not None
                    frame = getattr(read_dataset(preset, src), entity)
                    if frame is None:
                        raise ConfigError(
                            f"the {preset} adapter has no {entity} table",
                            hint="see docs/datasets.md for what each adapter reads",
                        )
                    summary = import_frame(
                        store,
                        entity,
                        frame,
                        source=f"{src.resolve()}:{entity}",
                        reject_threshold=threshold,
                        strict_refs=strict_refs,
                        chunk_rows=chunk_rows,
                        progress=progress,
                        edge=edge,
                        protected_attributes=protected,
                    )
                else:
                    mp = _build_mapping(
                        preset=preset,
                        mapping=mapping,
                        fmt=fmt,
                        delimiter=delimiter,
                        no_header=no_header,
                        columns=columns,
                        rename=rename,
                        value=value,
                        constant=constant,
                        timestamp_column=timestamp_column,
                        timestamp_format=timestamp_format,
                        timestamp_unit=timestamp_unit,
                        timezone=timezone,
                        list_separator=list_separator,
                        encoding=encoding,
                    )
                    summary = import_file(
                        store,
                        entity,
                        src,
                        mapping=mp,
                        reject_threshold=threshold,
                        chunk_rows=chunk_rows,
                        progress=progress,
                        strict_refs=strict_refs,
                        custom_event_types=tuple(custom_event_type or ()),
                        edge=edge,
                        protected_attributes=protected,
                    )
        except TooManyRejectionsError as exc:
            summary = exc.summary  # type: ignore[attr-defined]
            _report_one(summary, json_out)
            raise
        _report_one(summary, json_out)
    finally:
        if edge.consent_events:  # consent changes take effect in the users table at once
            from campaignrec.privacy.consent import sync_consent_from_store

            sync_consent_from_store(store)
        close = getattr(store, "close", None)
        if close is not None:
            close()


def _report_one(summary: Any, json_out: bool) -> None:
    if json_out:
        print(json.dumps(_summary_dict(summary)))
    else:
        _print_table({summary.entity: summary}, title=summary.source)


def _report_many(summaries: dict[str, Any], json_out: bool, title: str) -> None:
    from campaignrec.data.validation import combine_reasons

    if json_out:
        out = {
            "accepted": sum(s.accepted for s in summaries.values()),
            "duplicates": sum(s.duplicates for s in summaries.values()),
            "quarantined": sum(s.quarantined for s in summaries.values()),
            "by_reason": combine_reasons(s.by_reason for s in summaries.values()),
            "tables": {e: _summary_dict(s) for e, s in summaries.items()},
        }
        print(json.dumps(out))
    else:
        _print_table(summaries, title=title)


def quarantine_cmd(
    source: Annotated[
        str | None, typer.Option("--source", help="only rows of this source (substring match)")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="only this reason code")] = None,
    entity: Annotated[str | None, typer.Option("--entity", help="only this entity")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="rows shown (0: all)")] = 20,
    export: Annotated[
        Path | None, typer.Option("--export", help="write all matching rows to this CSV file")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """List the quarantined rows (source, line, field, value, reason), or export them as CSV."""
    m = context
    store = m.open_store()
    try:
        q = store.read_table("quarantine")
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    if source:
        q = q[q["source"].astype(str).str.contains(source, regex=False)]
    if reason:
        q = q[q["reason"] == reason]
    if entity:
        q = q[q["entity"] == entity]
    q = q.sort_values(["source", "line", "field"], kind="stable").reset_index(drop=True)
    cols = ["source", "line", "entity", "field", "value", "reason", "raw"]
    q = q[[c for c in cols if c in q.columns]]
    if export is not None:
        q.to_csv(export, index=False)
    shown = q if limit == 0 else q.head(limit)
    by_reason = {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()}
    if json_out:
        print(
            json.dumps(
                {
                    "total": len(q),
                    "by_reason": by_reason,
                    "rows": json.loads(shown.drop(columns=["raw"]).to_json(orient="records")),
                    "exported": str(export) if export else None,
                }
            )
        )
        return
    console = m.console
    table = Table(title=f"quarantine: {len(q):,} rows")
    for col in ("source", "line", "entity", "field", "value", "reason"):
        table.add_column(col, justify="right" if col == "line" else "left", overflow="fold")
    for rec in shown.to_dict("records"):
        table.add_row(
            Path(str(rec["source"])).name,
            str(rec["line"]),
            str(rec["entity"]),
            str(rec["field"]),
            str(rec["value"])[:60],
            str(rec["reason"]),
        )
    console.print(table)
    if by_reason:
        console.print(", ".join(f"{k}: {v:,}" for k, v in by_reason.items()))
    if export is not None:
        console.print(f"exported {len(q):,} rows to {export}")
