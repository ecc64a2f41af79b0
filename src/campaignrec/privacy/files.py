"""Erasure in the files of a data directory: cached profiles, segments, exports, reports.

:func:`erase_from_files` walks the data directory (the store's database files and saved models
are left to their own erasers) and rewrites every file that holds a shopper, by format:

* CSV / TSV and Parquet: rows with a cell equal to one of the ids are dropped. A Parquet file
  that maps another key to ``user_id`` (the profile state's ``user_ids.parquet`` maps a hash
  ``uh``) hands the dropped keys on: rows with those keys go from the other Parquet files of the
  same folder too;
* JSON: entries keyed by an id, list elements equal to one, and objects with a value equal to
  one are removed; JSON lines: lines whose object holds an id are dropped;
* anything else is left as it is and reported when its bytes hold an id
  (:func:`files_with_bytes`), so nothing is silently missed.

Files are written to a temporary name and moved into place.
"""

from __future__ import annotations

import csv
import io
import json
import mmap
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

TABULAR_TEXT = {".csv": ",", ".tsv": "\t"}


@dataclass
class FileErasure:
    """Per-file rows removed, and the files that could not be rewritten (with why)."""

    rewritten: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rewritten": dict(sorted(self.rewritten.items())), "failed": dict(self.failed)}


def _replace_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name + ".erasing")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _contains_any(data: bytes, needles: list[bytes]) -> bool:
    return any(n in data for n in needles)


def _rows_matching(frame: pd.DataFrame, ids: set[str]) -> pd.Series:
    hit = pd.Series(False, index=frame.index)
    for col in frame.columns:
        values = frame[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            hit |= values.astype(str).str.strip().isin(ids)
    return hit


def _erase_text_table(path: Path, ids: set[str], sep: str) -> int:
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    kept = [r for r in body if not any(c.strip() in ids for c in r)]
    removed = len(body) - len(kept)
    if header and any(c.strip() in ids for c in header):
        header = [c for c in header if c.strip() not in ids]  # not expected: a wide matrix
    if removed:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=sep, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(kept)
        _replace_bytes(path, out.getvalue().encode("utf-8"))
    return removed


def _erase_parquet(path: Path, ids: set[str], linked: dict[str, set[Any]]) -> int:
    frame = pd.read_parquet(path)
    hit = _rows_matching(frame, ids)
    for col, keys in linked.items():
        if col in frame.columns and keys:
            hit |= frame[col].isin(keys)
    removed = int(hit.sum())
    if removed:
        if "user_id" in frame.columns and frame.shape[1] == 2:
            other = next(c for c in frame.columns if c != "user_id")
            linked.setdefault(other, set()).update(frame.loc[hit, other].tolist())
        buf = io.BytesIO()
        frame.loc[~hit].reset_index(drop=True).to_parquet(buf, index=False)
        _replace_bytes(path, buf.getvalue())
    return removed


def _scrub_json(value: Any, ids: set[str]) -> tuple[Any, int]:
    """``value`` without the ids (see the module docstring) and the number of entries removed."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        n = 0
        for k, v in value.items():
            if str(k) in ids:
                n += 1
                continue
            if isinstance(v, dict) and any(str(x) in ids for x in v.values() if isinstance(x, str)):
                n += 1
                continue
            cleaned, m = _scrub_json(v, ids)
            out[k] = cleaned
            n += m
        return out, n
    if isinstance(value, list):
        items: list[Any] = []
        n = 0
        for v in value:
            if isinstance(v, str) and v in ids:
                n += 1
                continue
            if isinstance(v, dict) and any(str(x) in ids for x in v.values() if isinstance(x, str)):
                n += 1
                continue
            cleaned, m = _scrub_json(v, ids)
            items.append(cleaned)
            n += m
        return items, n
    return value, 0


def _erase_json(path: Path, ids: set[str]) -> int:
    value = json.loads(path.read_text(encoding="utf-8"))
    cleaned, n = _scrub_json(value, ids)
    if n:
        text = json.dumps(cleaned, indent=2, ensure_ascii=False, default=str)
        _replace_bytes(path, text.encode("utf-8"))
    return n


def _erase_jsonl(path: Path, ids: set[str]) -> int:
    kept: list[str] = []
    removed = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            obj = None
        _, n = _scrub_json([obj], ids) if obj is not None else (None, 0)
        if n:
            removed += 1
        else:
            kept.append(line)
    if removed:
        _replace_bytes(path, ("\n".join(kept) + ("\n" if kept else "")).encode("utf-8"))
    return removed


def erase_from_files(
    files: Iterable[Path], ids: Iterable[str], *, root: Path | None = None
) -> FileErasure:
    """Rewrite each of ``files`` that holds one of ``ids`` (see the module docstring).

    Parquet files are visited folder by folder, the id maps first, so linked keys reach the
    tables that use them.
    """
    wanted = {str(i) for i in ids}
    needles = [i.encode("utf-8") for i in wanted]
    report = FileErasure()
    ordered = sorted(
        (Path(f) for f in files),
        key=lambda p: (str(p.parent), p.suffix != ".parquet", p.name != "user_ids.parquet", p.name),
    )
    linked_by_dir: dict[Path, dict[str, set[Any]]] = {}
    for path in ordered:
        name = str(path.relative_to(root)) if root is not None else str(path)
        suffix = path.suffix.lower()
        try:
            if suffix == ".parquet":
                linked = linked_by_dir.setdefault(path.parent, {})
                n = _erase_parquet(path, wanted, linked)
            elif not _contains_any(path.read_bytes(), needles):
                continue
            elif suffix in TABULAR_TEXT:
                n = _erase_text_table(path, wanted, TABULAR_TEXT[suffix])
            elif suffix == ".json":
                n = _erase_json(path, wanted)
            elif suffix in (".jsonl", ".ndjson"):
                n = _erase_jsonl(path, wanted)
            else:
                continue
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            report.failed[name] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        if n:
            report.rewritten[name] = n
    return report


def files_with_bytes(root: Path, ids: Iterable[str]) -> dict[str, list[str]]:
    """Every file under ``root`` whose bytes contain one of ``ids`` (UTF-8): the final check.

    Short ids can match unrelated bytes (an item id, a number inside a binary file); a hit is a
    file to look at, not proof of a leftover.
    """
    wanted = [str(i) for i in ids if str(i)]
    found: dict[str, list[str]] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            hits = _hits(path, wanted)
        except OSError:
            continue
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def _hits(path: Path, wanted: list[str]) -> list[str]:
    """The ids whose UTF-8 bytes occur in ``path`` (memory-mapped: large files stay on disk),
    in a zip member (``.npz``) or among a Parquet file's decoded values (compression would
    hide them from a plain byte search)."""
    # numpy keeps text arrays as UTF-32 (an .npy of ids spells "ab" as a\0\0\0b\0\0\0)
    needles = [(i.encode("utf-8"), i.encode("utf-32-le")) for i in wanted]
    found: set[int] = set()
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return []
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            found |= {k for k, n in enumerate(needles) if any(mm.find(x) >= 0 for x in n)}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                data = z.read(name)
                found |= {k for k, n in enumerate(needles) if any(x in data for x in n)}
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError):
            frame = None
        if frame is not None:
            data = frame.to_csv(index=False).encode("utf-8")
            found |= {k for k, n in enumerate(needles) if n[0] in data}
    return [wanted[k] for k in sorted(found)]


__all__ = ["FileErasure", "erase_from_files", "files_with_bytes"]
