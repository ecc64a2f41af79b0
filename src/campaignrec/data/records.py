"""Records one at a time (an HTTP request's rows, a broker's messages) through the importer's rules.

A record is a mapping of canonical field names to JSON values. :func:`records_frame` turns a list
of them into text columns, as a JSON-lines file would give them, so that
:func:`validate_records` applies exactly :func:`campaignrec.data.validation.validate_frame`: the
privacy edge first, then validation, then the quarantine (redacted by the edge), written to the
store. ``POST /v1/events``, ``POST /v1/items`` and ``campaignrec consume`` all go through here.

Each record may carry its own origin (``source``, ``line``): a stream names the message it came
from, so that a message delivered twice files its problems under the same quarantine key
(:data:`campaignrec.data.columns.QUARANTINE_KEY`) and is recorded once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from campaignrec.data.columns import QUARANTINE_COLUMNS
from campaignrec.data.validation import ValidationOptions, ValidationResult, validate_frame

#: Reason of a line or message that is not a record at all (not JSON, not an object).
MALFORMED_ROW = "malformed_row"
#: Characters of a malformed line kept in the quarantine's ``value`` (``raw`` keeps it whole).
MALFORMED_VALUE_CHARS = 200


def text_value(value: Any) -> str | None:
    """One JSON value as the text a file would hold (None stays missing).

    >>> [text_value(v) for v in (None, True, 3, 2.5, "a", [1, 2])]
    [None, 'true', '3', '2.5', 'a', '[1, 2]']
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def records_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Records as a frame of text columns (every key any record has, in first-seen order)."""
    names = list(dict.fromkeys(str(k) for r in records for k in r))
    return pl.DataFrame(
        {n: pl.Series([text_value(r.get(n)) for r in records], dtype=pl.String) for n in names},
        schema={n: pl.String for n in names},
    )


def malformed_rows(rows: Sequence[tuple[str, int, str]]) -> pd.DataFrame:
    """Quarantine rows of lines or messages that are not records: ``(source, line, text)``.

    The whole text goes into ``raw`` (``{"text": ...}``), its start into ``value``; the reason is
    :data:`MALFORMED_ROW` and the field ``*`` (the whole line).
    """
    return pd.DataFrame(
        {
            "source": [s for s, _, _ in rows],
            "line": pd.Series([int(n) for _, n, _ in rows], dtype="int64"),
            "entity": "",
            "field": "*",
            "value": [t[:MALFORMED_VALUE_CHARS] for _, _, t in rows],
            "reason": MALFORMED_ROW,
            "raw": [json.dumps({"text": t}, ensure_ascii=False) for _, _, t in rows],
        },
        columns=list(QUARANTINE_COLUMNS),
    )


def validate_records(
    entity: str,
    records: Sequence[Mapping[str, Any]],
    *,
    source: str,
    store: Any = None,
    edge: Any = None,
    origins: Sequence[tuple[str, int]] | None = None,
    options: ValidationOptions | None = None,
) -> ValidationResult:
    """Validate ``records`` as ``entity`` rows by the importer's rules and quarantine the bad ones.

    Parameters
    ----------
    entity
        ``users``, ``items``, ``campaigns`` or ``events``.
    records
        Mappings with canonical field names and JSON values.
    source
        The quarantine's ``source`` of every record (lines are the 1-based positions) unless
        ``origins`` names each record's own.
    store
        Receives the quarantine (``insert_quarantine``, idempotent on its key); None: not written.
    edge
        The privacy edge (:class:`campaignrec.privacy.edge.PrivacyEdge`), applied first: user ids
        pseudonymised and personal fields dropped or sealed before anything is stored.
    origins
        ``(source, line)`` of each record, e.g. the message it came from.
    options
        See :class:`campaignrec.data.validation.ValidationOptions`.

    Returns
    -------
    ValidationResult
        As :func:`~campaignrec.data.validation.validate_frame`; its quarantine's ``line`` is the
        record's position (1-based) in ``records`` unless ``origins`` were given.
    """
    frame = records_frame(records)
    if edge is not None:
        frame = edge.apply(entity, frame)
    res = validate_frame(entity, frame, source=source, options=options)
    if edge is not None and len(res.quarantine):
        res.quarantine = edge.redact(res.quarantine)
    if origins is not None and len(res.quarantine):
        pos = res.quarantine["line"].to_numpy(dtype=np.int64) - 1
        q = res.quarantine.copy()
        q["source"] = [origins[i][0] for i in pos]
        q["line"] = pd.Series([int(origins[i][1]) for i in pos], dtype="int64", index=q.index)
        res.quarantine = q
    if store is not None and len(res.quarantine):
        store.insert_quarantine(res.quarantine)
    return res


__all__ = [
    "MALFORMED_ROW",
    "malformed_rows",
    "records_frame",
    "text_value",
    "validate_records",
]
