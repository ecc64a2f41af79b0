"""Importers: stream a file (or a DataFrame) through a mapping and validation into the store.

Files are read in chunks (pyarrow's streaming CSV reader, Parquet row batches, JSON lines read
line by line), so memory stays bounded by the chunk size whatever the file size. Each chunk is
mapped, validated column-wise (:mod:`campaignrec.data.validation`) and written in its own
transactions: good rows to their table (events deduplicated by ``event_id``, users/items/campaigns
upserted by id), bad rows to the quarantine (idempotent by source, line, entity and field). An
interrupted import therefore leaves whole chunks behind and can simply be run again.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from campaignrec.data.adapters import Dataset
from campaignrec.data.mapping import Mapping, load_mapping, load_preset
from campaignrec.data.records import MALFORMED_ROW, malformed_rows, text_value
from campaignrec.data.textfile import (
    TextSource,
    TranscodingFile,
    detect_encoding,
    first_line,
    locate_decode_error,
    open_source,
)
from campaignrec.data.validation import (
    ENTITIES,
    REQUIRED,
    SeenIds,
    ValidationOptions,
    ValidationResult,
    combine_reasons,
    validate_frame,
)
from campaignrec.errors import ConfigError, TooManyRejectionsError
from campaignrec.store.protocols import ImportStore

DEFAULT_CHUNK_ROWS = 200_000

ProgressFn = Callable[[int, int, int], None]
"""``progress(rows_done, bytes_done, bytes_total)``; bytes are 0 for DataFrames."""


class ImportEdge(Protocol):
    """What happens to each chunk before validation stores it (personal data at the edge).

    :class:`campaignrec.privacy.edge.PrivacyEdge` is the implementation: pseudonymised user
    ids, personal fields dropped or sealed, the text of malformed lines withheld.
    """

    def apply(self, entity: str, frame: pl.DataFrame) -> pl.DataFrame: ...
    def redact(self, quarantine: pd.DataFrame) -> pd.DataFrame: ...


@dataclass
class ImportSummary:
    """What one import did.

    Attributes
    ----------
    accepted
        Rows written (events newly stored; users, items, campaigns upserted).
    duplicates
        Rows skipped as duplicates: an event_id already stored or earlier in the file, or an id of
        a user/item/campaign repeated within the file (the last copy wins).
    quarantined
        Rows rejected by validation (each has one quarantine row per problem).
    by_reason
        Number of quarantine entries per reason code (``duplicate`` counts in-file duplicate
        events, which are also written to the quarantine for inspection).
    seconds
        Wall time (``validate_seconds`` of it in validation, ``write_seconds`` in the store; the
        rest is reading and parsing the file).
    source
        The file (absolute path) or the name given to a DataFrame.
    """

    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    source: str = ""
    entity: str = ""
    rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    validate_seconds: float = 0.0
    write_seconds: float = 0.0

    @property
    def rejected_share(self) -> float:
        """Quarantined rows over all rows read (0 for an empty source)."""
        return self.quarantined / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return asdict(self)


# ---- readers ------------------------------------------------------------------------------------
@dataclass
class _Chunk:
    frame: pl.DataFrame
    lines: np.ndarray
    bytes_done: int
    malformed: pd.DataFrame | None = None


def _header_names(path: Path, source: TextSource, sep: str) -> list[str]:
    import csv

    first = first_line(path, source)
    if not first:
        return []
    names = next(csv.reader([first], delimiter=sep))
    names = [n.strip().lstrip("\ufeff") for n in names]
    return [n if n else f"column_{i}" for i, n in enumerate(names)]


def _iter_text(path: Path, mapping: Mapping, fmt: str, chunk_rows: int) -> Iterator[_Chunk]:
    sep = mapping.separator(fmt)  # type: ignore[arg-type]
    source = detect_encoding(path, mapping.encoding)
    if mapping.header:
        names = _header_names(path, source, sep)
        if mapping.columns:
            if len(mapping.columns) != len(names):
                raise ConfigError(
                    f"mapping 'columns' names {len(mapping.columns)} columns but the header of "
                    f"{path.name} has {len(names)}",
                    hint="drop 'columns' or list exactly one name per column",
                )
            names = list(mapping.columns)
        skip = 1
    else:
        if not mapping.columns:
            raise ConfigError(
                f"{path.name}: header = false needs the column names",
                hint="set columns = [...] in the mapping or pass --columns a,b,c",
            )
        names = list(mapping.columns)
        skip = 0
    if not names:
        return
    skipped: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        skipped.append((row.number if row.number is not None else -1, row.text))
        return "skip"

    src = TranscodingFile(path, source)  # UTF-8 whatever the file's encoding
    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(
            column_names=names,
            skip_rows=skip,
            block_size=1 << 20,
            use_threads=False,  # row numbers of malformed rows are only known single-threaded
        ),
        parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False
        ),
    )
    next_line = 1 + skip
    reported = 0
    buffer: pa.Table | None = None

    def emit(table: pa.Table) -> _Chunk:
        nonlocal next_line, reported
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        bad_lines = [n for n, _ in skipped]
        lines = _line_numbers(next_line, frame.height, bad_lines)
        if len(lines):
            next_line = int(lines[-1]) + 1
        new_bad = skipped[reported:]
        reported = len(skipped)
        malformed = _malformed_frame(new_bad, str(path.resolve())) if new_bad else None
        return _Chunk(frame, lines, src.done, malformed)

    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as err:
                if "UTF8" not in str(err) and "UTF-8" not in str(err):
                    raise
                locate_decode_error(path, source)  # raises the error naming line and offset
                raise
            if not batch.num_rows:
                continue
            part = pa.Table.from_batches([batch])
            buffer = part if buffer is None else pa.concat_tables([buffer, part])
            while buffer.num_rows >= chunk_rows:
                yield emit(buffer.slice(0, chunk_rows))
                buffer = buffer.slice(chunk_rows)
        if buffer is not None and buffer.num_rows:
            yield emit(buffer)
        elif skipped[reported:]:
            yield emit(pa.table({n: pa.array([], pa.string()) for n in names}))
    finally:
        src.close()


def _line_numbers(start: int, count: int, skipped: list[int]) -> np.ndarray:
    """Line numbers of ``count`` good rows from ``start``, stepping over skipped (bad) lines."""
    lines = np.arange(start, start + count, dtype=np.int64)
    for s in sorted(n for n in skipped if n >= start):
        lines[lines >= s] += 1
    return lines


def _malformed_frame(rows: list[tuple[int, str]], source: str) -> pd.DataFrame:
    return malformed_rows([(source, n, t) for n, t in rows])


def _iter_parquet(path: Path, chunk_rows: int) -> Iterator[_Chunk]:
    pf = pq.ParquetFile(path)
    done = 0
    total = max(pf.metadata.num_rows, 1)
    size = path.stat().st_size
    for batch in pf.iter_batches(batch_size=chunk_rows):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        lines = np.arange(done + 1, done + frame.height + 1, dtype=np.int64)
        done += frame.height
        yield _Chunk(frame, lines, int(size * done / total))


def _iter_jsonl(path: Path, mapping: Mapping, chunk_rows: int) -> Iterator[_Chunk]:
    src = str(path.resolve())
    raw, _ = open_source(path, mapping.encoding)
    with io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8") as f:
        line_no = 0
        read_bytes = 0
        while True:
            block = list(itertools.islice(f, chunk_rows))
            if not block:
                break
            records: list[dict[str, str | None]] = []
            lines: list[int] = []
            bad: list[tuple[int, str]] = []
            for text in block:
                line_no += 1
                read_bytes += len(text.encode("utf-8"))
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError:
                    obj = None
                if not isinstance(obj, dict):
                    bad.append((line_no, text.rstrip("\n")))
                    continue
                records.append({str(k): text_value(v) for k, v in obj.items()})
                lines.append(line_no)
            names = list(dict.fromkeys(k for r in records for k in r))
            frame = pl.DataFrame(
                {n: pl.Series([r.get(n) for r in records], dtype=pl.String) for n in names}
            )
            yield _Chunk(
                frame,
                np.asarray(lines, dtype=np.int64),
                read_bytes,
                _malformed_frame(bad, src) if bad else None,
            )


def iter_source(
    path: str | Path, mapping: Mapping | None = None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[tuple[pl.DataFrame, np.ndarray]]:
    """Chunks of a file as read (source column names, text values) with their line numbers.

    Parameters
    ----------
    path
        A CSV, TSV, Parquet or JSON-lines file.
    mapping
        The layout (format, delimiter, header, columns, encoding); renames are not applied here.
    chunk_rows
        Rows per chunk (bounded memory).

    Yields
    ------
    (polars.DataFrame, numpy.ndarray)
        A chunk and the 1-based line number of each of its rows in the file.
    """
    for chunk in _iter_chunks(Path(path), mapping or Mapping(), chunk_rows):
        yield chunk.frame, chunk.lines


def _iter_chunks(path: Path, mapping: Mapping, chunk_rows: int) -> Iterator[_Chunk]:
    if not path.is_file():
        raise ConfigError(f"file {str(path)!r} does not exist", hint="check the path")
    fmt = mapping.file_format(path)
    if fmt in ("csv", "tsv"):
        yield from _iter_text(path, mapping, fmt, chunk_rows)
    elif fmt == "parquet":
        yield from _iter_parquet(path, chunk_rows)
    else:
        yield from _iter_jsonl(path, mapping, chunk_rows)


def file_fingerprint(path: str | Path) -> str:
    """BLAKE2b of the file's bytes (read in 8 MiB blocks)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- the import loop ---------------------------------------------------------------------------
def _resolve_mapping(mapping: Mapping | str | Path | None, preset: str | None) -> Mapping:
    if mapping is not None and preset is not None:
        raise ConfigError("give either a mapping or a preset, not both", hint="drop one of them")
    if isinstance(mapping, Mapping):
        return mapping
    if mapping is not None:
        return load_mapping(mapping)
    if preset is not None:
        return load_preset(preset)
    return Mapping()


def _check_entity(entity: str) -> None:
    if entity not in ENTITIES:
        raise ConfigError(
            f"entity {entity!r} is not one of {', '.join(ENTITIES)}",
            hint="import users, items, campaigns or events",
        )


def _known_ids(store: ImportStore, strict_refs: bool) -> dict[str, frozenset[str]]:
    if not strict_refs:
        return {}
    users = store.read_table("users", columns=["user_id"])["user_id"]
    items = store.read_table("items", columns=["item_id"])["item_id"]
    return {
        "known_user_ids": frozenset(users.astype(str)),
        "known_item_ids": frozenset(items.astype(str)),
    }


def _write(store: ImportStore, entity: str, res: ValidationResult) -> int:
    if not res.valid_frame.height:
        return 0
    if entity == "events":
        fast = getattr(store, "insert_events_frame", None)
        if fast is not None:  # ids are distinct: SeenIds dropped later copies
            return int(fast(res.valid_frame, unique=True))
        return int(store.insert_events(res.valid))
    valid = res.valid
    if entity == "users":
        return int(store.upsert_users(valid))
    if entity == "items":
        return int(store.upsert_items(valid))
    return int(store.upsert_campaigns(valid))


def check_columns(entity: str, frame: pl.DataFrame, source: str) -> None:
    """A required column missing from the whole file is a layout error, not N bad rows."""
    missing = [c for c in REQUIRED[entity] if c not in frame.columns]
    if missing:
        found = ", ".join(frame.columns[:12]) + (" ..." if frame.width > 12 else "")
        raise ConfigError(
            f"{source}: required {entity} column(s) {', '.join(missing)} not found "
            f"(columns read: {found})",
            hint="check the delimiter and header, or map the columns with --rename / a mapping "
            "file (docs/data.md)",
        )


class _Run:
    """Counters of one import, shared by files and frames."""

    def __init__(
        self,
        store: ImportStore,
        entity: str,
        source: str,
        options: ValidationOptions,
        progress: ProgressFn | None,
        total_bytes: int,
        edge: ImportEdge | None = None,
    ) -> None:
        self.store = store
        self.edge = edge
        self.entity = entity
        self.source = source
        self.options = options
        self.progress = progress
        self.total_bytes = total_bytes
        self.summary = ImportSummary(source=source, entity=entity)
        self.seen = SeenIds()
        self.reasons: list[dict[str, int]] = []
        self.ignored: set[str] = set()
        self.started = time.perf_counter()

    def feed(self, frame: pl.DataFrame, lines: np.ndarray, bytes_done: int) -> None:
        s = self.summary
        if frame.height and not s.rows:
            check_columns(self.entity, frame, self.source)
        if frame.height and self.edge is not None:
            frame = self.edge.apply(self.entity, frame)
        if frame.height:
            t0 = time.perf_counter()
            res = validate_frame(
                self.entity,
                frame,
                source=self.source,
                lines=lines,
                options=self.options,
                seen=self.seen if self.entity == "events" else None,
            )
            t1 = time.perf_counter()
            written = _write(self.store, self.entity, res)
            if self.entity == "events":
                s.duplicates += res.duplicates + (res.valid_frame.height - written)
                s.accepted += written
            else:
                s.duplicates += res.duplicates
                s.accepted += res.valid_frame.height
            if len(res.quarantine):
                self.store.insert_quarantine(res.quarantine)
            t2 = time.perf_counter()
            s.validate_seconds += t1 - t0
            s.write_seconds += t2 - t1
            s.quarantined += res.rejected_rows
            s.rows += frame.height
            self.reasons.append(res.by_reason)
            self.ignored.update(res.ignored_columns)
        if self.progress is not None:
            self.progress(s.rows, bytes_done, self.total_bytes)

    def release(self) -> None:
        """Drop the event-id hashes and hand unused Arrow memory back (the file is done)."""
        self.seen = SeenIds()
        gc.collect()
        pa.default_memory_pool().release_unused()

    def count_bulk_conflicts(self) -> None:
        """Staged rows that the bulk load's flush found stored already are duplicates."""
        take = getattr(self.store, "take_bulk_conflicts", None)
        late = int(take()) if take is not None else 0
        if late and self.entity == "events":
            self.summary.accepted -= late
            self.summary.duplicates += late

    def malformed(self, frame: pd.DataFrame) -> None:
        frame = frame.assign(entity=self.entity)
        if self.edge is not None:
            frame = self.edge.redact(frame)
        self.store.insert_quarantine(frame)
        self.summary.quarantined += len(frame)
        self.summary.rows += len(frame)
        self.reasons.append({MALFORMED_ROW: len(frame)})

    def finish(self, fingerprint: str, reject_threshold: float) -> ImportSummary:
        s = self.summary
        s.by_reason = combine_reasons(self.reasons)
        s.ignored_columns = sorted(self.ignored)
        s.seconds = time.perf_counter() - self.started
        self.store.record_import(s.source, s.entity, fingerprint, s.to_dict())
        if s.rows and s.rejected_share > reject_threshold:
            err = TooManyRejectionsError(
                f"{s.source}: {s.quarantined} of {s.rows} rows ({s.rejected_share:.1%}) were "
                f"quarantined, above the reject threshold of {reject_threshold:.1%} "
                f"(reasons: {s.by_reason}); the good rows were stored ({s.accepted} new)",
                hint="inspect them with `campaignrec quarantine --source FILE`, fix the mapping, "
                "or raise --reject-threshold",
            )
            err.summary = s  # type: ignore[attr-defined]
            raise err
        return s


def import_file(
    store: ImportStore,
    entity: str,
    path: str | Path,
    *,
    mapping: Mapping | str | Path | None = None,
    preset: str | None = None,
    reject_threshold: float = 0.05,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: ProgressFn | None = None,
    strict_refs: bool = False,
    custom_event_types: tuple[str, ...] | list[str] = (),
    edge: ImportEdge | None = None,
    protected_attributes: tuple[str, ...] | list[str] | None = None,
) -> ImportSummary:
    """Import one file of users, items, campaigns or events into the store.

    Parameters
    ----------
    store
        The store (``SQLStore``).
    entity
        ``users``, ``items``, ``campaigns`` or ``events``.
    path
        A CSV, TSV, Parquet or JSON-lines file (canonical layout unless a mapping says otherwise).
    mapping
        A :class:`~campaignrec.data.mapping.Mapping` or the path of a TOML mapping file.
    preset
        Name of a shipped mapping preset (see :func:`campaignrec.data.mapping.preset_names`).
    reject_threshold
        Largest share of quarantined rows that still counts as success.
    chunk_rows
        Rows validated and written per transaction.
    progress
        Called after each chunk with ``(rows_done, bytes_done, bytes_total)``.
    strict_refs
        Reject events whose user or item the store does not know (reasons ``unknown_user`` /
        ``unknown_item``); off by default (such events are stored, nothing else is created).
    custom_event_types
        Event types accepted besides the standard ones (added to the mapping's).
    edge
        Applied to each chunk before validation: the privacy edge of the shop
        (:func:`campaignrec.privacy.edge.privacy_edge`), so that raw user ids and personal
        fields never reach the store or the quarantine.
    protected_attributes
        The shop's protected user attributes (the ``protected_attributes`` setting; default
        :data:`campaignrec.data.rules.PROTECTED_ATTRIBUTES`): a campaign whose audience reads
        one it does not declare is quarantined (field ``audience``, ``protected_attribute``).

    Returns
    -------
    ImportSummary
        Counts of accepted, duplicate and quarantined rows.

    Raises
    ------
    TooManyRejectionsError
        When quarantined / rows exceeds ``reject_threshold``, after the good rows and the
        quarantine were stored; the exception's ``summary`` attribute holds the summary.
    """
    _check_entity(entity)
    m = _resolve_mapping(mapping, preset)
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"file {str(p)!r} does not exist", hint="check the path")
    source = str(p.resolve())
    options = m.validation_options(
        custom_event_types=tuple(dict.fromkeys([*m.custom_event_types, *custom_event_types])),
        **_known_ids(store, strict_refs and entity == "events"),
        **_protected(protected_attributes),
    )
    run = _Run(store, entity, source, options, progress, p.stat().st_size, edge)
    with _bulk_mode(store, entity, p.stat().st_size):
        for chunk in _iter_chunks(p, m, chunk_rows):
            run.feed(m.apply(chunk.frame), chunk.lines, chunk.bytes_done)
            if chunk.malformed is not None:  # after the chunk: the edge has seen its columns
                run.malformed(chunk.malformed)
            del chunk
        run.release()  # before the store rebuilds its indexes: keep the peak memory low
    run.count_bulk_conflicts()
    return run.finish(file_fingerprint(p), reject_threshold)


def _protected(names: tuple[str, ...] | list[str] | None) -> dict[str, tuple[str, ...]]:
    return {} if names is None else {"protected_attributes": tuple(names)}


#: An events file at least this large (or any events file into an empty table) is loaded in
#: the store's bulk mode (secondary index rebuilt once at the end instead of per row).
BULK_LOAD_BYTES = 64 * 1024 * 1024


def _bulk_mode(store: Any, entity: str, size: int) -> contextlib.AbstractContextManager[Any]:
    bulk = getattr(store, "bulk_load", None)
    if entity != "events" or bulk is None:
        return contextlib.nullcontext()
    if size >= BULK_LOAD_BYTES or store.count("events") == 0:
        return bulk()  # type: ignore[no-any-return]
    return contextlib.nullcontext()


def import_frame(
    store: ImportStore,
    entity: str,
    df: pd.DataFrame | pl.DataFrame,
    *,
    source: str = "dataframe",
    mapping: Mapping | str | Path | None = None,
    reject_threshold: float = 0.05,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: ProgressFn | None = None,
    strict_refs: bool = False,
    custom_event_types: tuple[str, ...] | list[str] = (),
    edge: ImportEdge | None = None,
    protected_attributes: tuple[str, ...] | list[str] | None = None,
) -> ImportSummary:
    """Import a pandas or polars DataFrame, with the same validation as :func:`import_file`.

    Line numbers in the quarantine are 1-based row positions in ``df``.

    Parameters
    ----------
    store, entity, mapping, reject_threshold, chunk_rows, progress, strict_refs, custom_event_types
        As in :func:`import_file` (the mapping's file-layout keys are ignored).
    edge, protected_attributes
        As in :func:`import_file`.
    df
        The rows, canonical column names unless the mapping renames them.
    source
        The name written into the quarantine and the import log.

    Returns
    -------
    ImportSummary
    """
    _check_entity(entity)
    m = _resolve_mapping(mapping, None)
    frame = df if isinstance(df, pl.DataFrame) else _pandas_to_polars(df)
    options = m.validation_options(
        custom_event_types=tuple(dict.fromkeys([*m.custom_event_types, *custom_event_types])),
        **_known_ids(store, strict_refs and entity == "events"),
        **_protected(protected_attributes),
    )
    run = _Run(store, entity, source, options, progress, 0, edge)
    for start in range(0, frame.height, chunk_rows):
        part = frame.slice(start, chunk_rows)
        lines = np.arange(start + 1, start + part.height + 1, dtype=np.int64)
        run.feed(m.apply(part), lines, 0)
    fp = hashlib.blake2b(
        json.dumps([source, frame.columns, frame.height]).encode(), digest_size=16
    ).hexdigest()
    return run.finish(fp, reject_threshold)


def import_dataset(
    store: ImportStore,
    dataset: Dataset,
    *,
    source: str | None = None,
    reject_threshold: float = 0.05,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[str], ProgressFn | None] | None = None,
    strict_refs: bool = False,
    edge: ImportEdge | None = None,
) -> dict[str, ImportSummary]:
    """Import every table of an adapter's :class:`~campaignrec.data.adapters.Dataset`.

    Users, items and campaigns go first, so that strict reference checks see them.

    Parameters
    ----------
    store
        The store.
    dataset
        Canonical frames from :func:`campaignrec.data.adapters.read_dataset`.
    source
        Prefix of each table's source name (default: the data set's name); the source of a table
        is ``<source>:<entity>``.
    reject_threshold, chunk_rows, strict_refs, edge
        As in :func:`import_file`; the threshold applies to each table.
    progress
        ``progress(entity)`` returns the progress callback of that table (or None).

    Returns
    -------
    dict
        entity -> :class:`ImportSummary`.

    Raises
    ------
    TooManyRejectionsError
        After all tables were imported, when one of them exceeded the threshold
        (``summaries`` attribute: the dict above).
    """
    prefix = source or dataset.name
    out: dict[str, ImportSummary] = {}
    for entity, frame in dataset.tables():
        out[entity] = import_frame(
            store,
            entity,
            frame,
            source=f"{prefix}:{entity}",
            reject_threshold=1.0,
            chunk_rows=chunk_rows,
            progress=progress(entity) if progress is not None else None,
            strict_refs=strict_refs,
            edge=edge,
        )
    over = {e: s for e, s in out.items() if s.rejected_share > reject_threshold}
    if over:
        detail = ", ".join(f"{e}: {s.quarantined} of {s.rows}" for e, s in over.items())
        err = TooManyRejectionsError(
            f"{prefix}: too many rows quarantined ({detail}), above the reject threshold of "
            f"{reject_threshold:.1%}; the good rows were stored",
            hint="inspect them with `campaignrec quarantine`, or raise --reject-threshold",
        )
        err.summaries = out  # type: ignore[attr-defined]
        raise err
    return out


def _pandas_to_polars(df: pd.DataFrame) -> pl.DataFrame:
    """pandas -> polars, keeping list/dict columns as JSON text where polars cannot type them."""
    cols: dict[str, pl.Series] = {}
    for name in df.columns:
        ser = df[name]
        if ser.dtype == object:
            values = ser.tolist()
            if any(isinstance(v, dict | list | tuple) for v in values):
                text = [text_value(list(v) if isinstance(v, tuple) else v) for v in values]
                cols[str(name)] = pl.Series(str(name), text, dtype=pl.String)
                continue
            try:
                cols[str(name)] = pl.Series(str(name), values)
            except (TypeError, pl.exceptions.PolarsError):
                cols[str(name)] = pl.Series(
                    str(name), [None if v is None else str(v) for v in values], dtype=pl.String
                )
            continue
        cols[str(name)] = pl.from_pandas(ser.rename(str(name)))
    return pl.DataFrame(list(cols.values())) if cols else pl.DataFrame()


__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ImportEdge",
    "ImportSummary",
    "file_fingerprint",
    "import_dataset",
    "import_file",
    "import_frame",
    "iter_source",
]
