"""Erasure everywhere a shopper's data goes: ``campaignrec erase`` and ``DELETE /v1/users/{id}``.

:func:`erase_users` removes shoppers from

1. the SQL store: events, users row, quarantine, profiles table, sealed personal fields
   (:meth:`campaignrec.store.sql.SQLStore.delete_user`);
2. the online state: recent items, sessions, fresh counts, caps (every key under
   :func:`campaignrec.store.online.user_key`), in memory or Redis;
3. every saved model under the artifacts folder (:mod:`campaignrec.privacy.artifacts`):
   id map entry replaced, per-user rows emptied, the artifact marked when it needs a retrain;
4. every other file of the data directory: cached profiles and their state, segments, batch
   exports, reports (:mod:`campaignrec.privacy.files`);

then writes an audit record (who, when, what was removed; the shopper named by a keyed hash,
never the raw id), scrubs the database file (:meth:`campaignrec.store.erasure.Erasure.scrub`:
deleted rows must not survive in free pages or the write-ahead log) and verifies: every table
and every file under the data directory is searched for the ids, and what is still found is
reported.

With pseudonymisation on, the store holds the shopper under their pseudonym: the raw id given
is hashed with the shop's key, and both forms are erased and searched for.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaignrec.errors import ValidationError
from campaignrec.privacy.artifacts import erase_from_artifact, model_dirs
from campaignrec.privacy.files import erase_from_files, files_with_bytes
from campaignrec.privacy.pseudonymise import audit_namer, pseudonymiser_from_settings

if TYPE_CHECKING:
    from campaignrec.config import Settings
    from campaignrec.store.online import OnlineState
    from campaignrec.store.sql import SQLStore

#: Files of the data directory that other erasers own, or that hold no shopper data.
DB_SUFFIXES = ("-wal", "-shm", "-journal")
OWN_FILES = ("campaignrec.toml", "audit.key")


@dataclass
class ErasureReport:
    """What :func:`erase_users` removed, and what the search afterwards still found.

    Shoppers are named by their audit names (keyed hashes) only, so a report can be stored,
    logged or returned by the API.
    """

    subjects: list[str]
    actor: str
    store: dict[str, int] = field(default_factory=dict)
    online_keys: int | None = 0
    online_note: str | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)
    scrub: dict[str, Any] = field(default_factory=dict)
    remaining_tables: dict[str, int] = field(default_factory=dict)
    remaining_files: list[str] = field(default_factory=list)
    audit_ids: list[int] = field(default_factory=list)

    @property
    def retrain_required(self) -> list[str]:
        """Saved models that still hold per-user arrays the eraser does not know."""
        return [a["path"] for a in self.artifacts if a["retrain_required"]]

    @property
    def verified(self) -> bool:
        """Whether the search after erasure found nothing (tables and files)."""
        return not self.remaining_tables and not self.remaining_files

    def to_dict(self) -> dict[str, Any]:
        return {
            "subjects": list(self.subjects),
            "actor": self.actor,
            "removed": {
                "store": dict(self.store),
                "online_keys": self.online_keys,
                "artifacts": list(self.artifacts),
                "files": dict(self.files),
            },
            "online_note": self.online_note,
            "retrain_required": self.retrain_required,
            "scrub": dict(self.scrub),
            "verified": self.verified,
            "remaining": {
                "tables": dict(self.remaining_tables),
                "files": list(self.remaining_files),
            },
            "audit_ids": list(self.audit_ids),
        }


def default_actor() -> str:
    """``cli:<login name>``: who ran a command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


def stored_ids(settings: Settings, user_id: str) -> list[str]:
    """The forms under which ``user_id`` may be stored: its pseudonym (with a key), and the
    raw id (stored before pseudonymisation was switched on, or without a key)."""
    raw = str(user_id).strip()
    if not raw:
        raise ValidationError("user_id", "is empty", hint="name the shopper to erase")
    p = pseudonymiser_from_settings(settings)
    return [raw] if p is None else [p.user_id(raw), raw]


def _data_files(home: Path, skip_dirs: list[Path], db_files: set[Path]) -> list[Path]:
    out = []
    for path in home.rglob("*"):
        if not path.is_file() or path.resolve() in db_files or path.name in OWN_FILES:
            continue
        if any(d == path.parent or d in path.parents for d in skip_dirs):
            continue
        out.append(path)
    return out


def _all_model_dirs(store: SQLStore, artifacts: Path) -> list[Path]:
    """Saved models under the artifacts folder and wherever the registry points (a version
    registered from elsewhere), members of composites included."""
    found = set(model_dirs(artifacts))
    registered = store.list_models()
    for path in registered["path"].tolist() if len(registered) else []:
        folder = Path(str(path))
        if folder.is_dir():
            found |= set(model_dirs(folder))
    return sorted(found)


def _sqlite_files(store: SQLStore) -> set[Path]:
    if store.dialect != "sqlite":
        return set()
    database = store.engine.url.database or ""
    if database in ("", ":memory:"):
        return set()
    db = Path(database).resolve()
    return {db, *(db.with_name(db.name + s) for s in DB_SUFFIXES)}


def erase_users(
    settings: Settings,
    store: SQLStore,
    user_ids: list[str],
    *,
    actor: str | None = None,
    online: OnlineState | None = None,
    vacuum: bool = True,
    verify: bool = True,
) -> ErasureReport:
    """Erase shoppers from the store, the online state, model artifacts and the data directory.

    Parameters
    ----------
    settings : Settings
        The shop's settings (data directory, pseudonymisation key, online URL).
    store : SQLStore
        The shop's store.
    user_ids : list of str
        External ids as the shop knows them (pseudonymised here when a key is set).
    actor : str, optional
        Who asked (an API key's name, ``cli:<login>``); default :func:`default_actor`.
    online : OnlineState, optional
        The online state to clear; default: opened from ``settings.online_url`` (an in-process
        ``memory://`` state belongs to the server process: erase through the API to clear it).
    vacuum : bool
        Rebuild the database file so deleted rows leave no bytes behind (default on).
    verify : bool
        Search every table and every file under the data directory for the ids afterwards.

    Returns
    -------
    ErasureReport
    """
    if not user_ids:
        raise ValidationError("user_id", "no shopper named", hint="campaignrec erase USER_ID")
    who = actor or default_actor()
    namer = audit_namer(settings)
    forms = {u: stored_ids(settings, u) for u in user_ids}
    every = sorted({f for fs in forms.values() for f in fs})
    report = ErasureReport(subjects=[namer.audit_name(u) for u in user_ids], actor=who)

    # 1. the store
    per_user: dict[str, dict[str, int]] = {}
    for raw, fs in forms.items():
        counts: dict[str, int] = {}
        for uid in fs:
            for table, n in store.delete_user(uid).items():
                counts[table] = counts.get(table, 0) + n
        per_user[raw] = counts
        for table, n in counts.items():
            report.store[table] = report.store.get(table, 0) + n

    # 2. the online state
    opened = None
    if online is None and settings.online_url.startswith("memory"):
        report.online_keys = None
        report.online_note = (
            "the memory:// online state lives in the server process; erase through "
            "DELETE /v1/users/{id} to clear it there"
        )
    else:
        if online is None:
            from campaignrec.store.online import open_online_state

            online = opened = open_online_state(settings.online_url)
        try:
            report.online_keys = sum(online.clear_user(uid) for uid in every)
            from campaignrec.store.online import bump_results_epoch

            bump_results_epoch(online)  # no worker serves a list it cached before
        finally:
            if opened is not None:
                opened.close()

    # 3. model artifacts, 4. the other files of the data directory
    home = Path(settings.home)
    models = _all_model_dirs(store, Path(settings.artifacts_dir))
    for folder in models:
        done = erase_from_artifact(folder, every)
        if done is not None:
            report.artifacts.append(done.to_dict())
    db_files = _sqlite_files(store)
    files = _data_files(home, models, db_files) if home.is_dir() else []
    report.files = erase_from_files(files, every, root=home).to_dict()

    # the audit record, then the database file scrubbed (the record's own page included)
    from campaignrec.store.privacy import PrivacyRepository

    shared = {
        "online_keys_all_named": report.online_keys,
        "artifacts_rewritten": len(report.artifacts),
        "artifacts_retrain_required": len(report.retrain_required),
        "files_rewritten": len(report.files.get("rewritten", {})),
        "erased_together": len(user_ids),
    }
    repo = PrivacyRepository(store)
    for raw in user_ids:
        report.audit_ids.append(
            repo.record(
                who,
                "erase",
                subject=namer.audit_name(raw),
                detail={"store": per_user[raw], **shared},
            )
        )
    report.scrub = store.scrub(vacuum=vacuum)

    if verify:
        labels = {f: f"id #{n + 1}" for n, f in enumerate(every)}
        for uid in every:
            for table, n in store.find_user(uid).items():
                report.remaining_tables[table] = report.remaining_tables.get(table, 0) + n
        hits = files_with_bytes(home, every) if home.is_dir() else {}
        report.remaining_files = sorted(
            f"{path} ({', '.join(labels[i] for i in ids)})" for path, ids in hits.items()
        )
    return report


__all__ = ["ErasureReport", "default_actor", "erase_users", "stored_ids"]
