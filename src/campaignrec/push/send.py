"""Deliver a push plan: each row at or after its ``send_at``, once, to a broker or a webhook.

The guarantee rests on three things, in this order for every message:

1. the **send log** (``<home>/push/sent.jsonl``, one JSON line per confirmed message) is read
   before sending, and a row whose idempotency key is in it is skipped;
2. the message is published and the call returns only once the receiver **confirmed** it
   (:mod:`campaignrec.push.targets`);
3. then its line is appended to the send log and flushed to disk (``fsync``).

So a rerun after a crash, an interrupt or ``kill -9`` sends only what was not confirmed. The one
window left is a kill between a confirm and its log line: that message can go out a second time,
with the same idempotency key (``message_id`` / ``Idempotency-Key``), for the receiver to drop.
An append-only log rather than a Parquet file: a line per confirm is cheap and a torn last line
is detectable, where rewriting a Parquet file per message is neither.

After a run (and at the start of the next, for a run that was killed) every logged send is
marked ``sent`` in the push ledger (:func:`campaignrec.push.ledger.mark_sent`), where the caps
of later plans count it. One ``push send`` runs at a time per data directory (a lock file).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.errors import ValidationError
from campaignrec.push.plan import PLAN_COLUMNS
from campaignrec.push.targets import DeliveryError, MessageRejected, Target


def _utc_text(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def idempotency_key(campaign_id: str, user_id: str, send_at: Any) -> str:
    """A stable key of one push: a hash of the campaign, the shopper and the send moment (in
    UTC, so a CSV and a Parquet copy of one plan give the same keys)."""
    ts = pd.Timestamp(send_at)
    if ts.tzinfo is None:
        raise ValidationError("send_at", "needs a UTC offset", value=str(send_at))
    raw = f"{campaign_id}\x1f{user_id}\x1f{_utc_text(ts)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def read_plan(path: Path) -> pd.DataFrame:
    """A plan file (``.csv`` / ``.parquet``, the columns of ``push plan``) with ``send_at_utc``
    parsed and an ``idempotency_key`` column; a bad row stops the send, naming row and field."""
    if not path.is_file():
        raise ValidationError("PLAN_FILE", "no such file", value=str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = pd.read_csv(path, dtype={"user_id": str, "campaign_id": str}, keep_default_na=False)
    elif suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        raise ValidationError("PLAN_FILE", "must end in .csv or .parquet", value=str(path))
    for col in PLAN_COLUMNS:
        if col not in table.columns:
            raise ValidationError(col, "the plan file lacks this column", value=str(path))
    at: list[pd.Timestamp] = []
    for i, (uid, cid, raw) in enumerate(
        zip(table["user_id"], table["campaign_id"], table["send_at"], strict=True)
    ):
        row = i + 2 if suffix == ".csv" else i  # the CSV's line number (after the header)
        if not str(uid).strip() or not str(cid).strip():
            raise ValidationError(
                "user_id" if not str(uid).strip() else "campaign_id", "is empty", row=row
            )
        try:
            ts = pd.Timestamp(str(raw))
        except ValueError:
            raise ValidationError("send_at", "not a timestamp", value=raw, row=row) from None
        if ts.tzinfo is None or pd.isna(ts):
            raise ValidationError(
                "send_at", "needs its UTC offset (e.g. +08:00)", value=raw, row=row
            )
        at.append(ts.tz_convert("UTC"))
    out = table.copy()
    out["user_id"] = out["user_id"].astype(str)
    out["campaign_id"] = out["campaign_id"].astype(str)
    out["send_at_utc"] = pd.to_datetime(pd.Series(at, dtype="datetime64[ns, UTC]"), utc=True)
    out["idempotency_key"] = [
        idempotency_key(c, u, t)
        for c, u, t in zip(out["campaign_id"], out["user_id"], out["send_at_utc"], strict=True)
    ]
    dup = out["idempotency_key"].duplicated()
    if dup.any():
        i = int(dup.to_numpy().argmax())
        raise ValidationError(
            "user_id",
            "the same push appears twice in the plan",
            value=out["user_id"].iloc[i],
            row=i + 2 if suffix == ".csv" else i,
        )
    return out.sort_values(["send_at_utc", "user_id"], kind="stable").reset_index(drop=True)


def send_log_path(home: Path) -> Path:
    """``<home>/push/sent.jsonl``."""
    return home / "push" / "sent.jsonl"


class SendLog:
    """The append-only record of confirmed messages (one JSON object a line)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        """Every complete line (a torn last line, from a kill mid-write, is left out)."""
        if not self.path.is_file():
            return []
        out: list[dict[str, Any]] = []
        with self.path.open("r", encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # torn: the process died while writing it
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and "key" in rec:
                    out.append(rec)
        return out

    def keys(self) -> set[str]:
        return {str(r["key"]) for r in self.records()}

    def _repair(self) -> None:
        """Cut a torn last line so the next append starts on a line of its own."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as fh:
                fh.truncate(keep)

    @contextmanager
    def writer(self) -> Iterator[Callable[[dict[str, Any]], None]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        with self.path.open("a", encoding="utf-8") as fh:

            def write(rec: dict[str, Any]) -> None:
                fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

            yield write


@contextmanager
def send_lock(home: Path) -> Iterator[None]:
    """Hold ``<home>/push/send.lock`` (one sender per data directory)."""
    path = home / "push" / "send.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeliveryError(
                f"another 'push send' holds {path}",
                hint="wait for it to finish; two senders could send one message twice",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def message_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of one plan row."""
    msg: dict[str, Any] = {
        "idempotency_key": str(row["idempotency_key"]),
        "campaign_id": str(row["campaign_id"]),
        "user_id": str(row["user_id"]),
        "channel": str(row["channel"]),
        "send_at": str(row["send_at"]),
        "send_at_utc": _utc_text(pd.Timestamp(row["send_at_utc"])),
        "content": str(row["content"]),
    }
    for col in ("language", "timezone"):
        if isinstance(row.get(col), str) and row[col]:
            msg[col] = row[col]
    with suppress(TypeError, ValueError):
        msg["expected_value"] = float(row["expected_value"])
    return msg


@dataclass
class SendResult:
    """What a run did: messages confirmed now, rows already in the send log, rows not yet due,
    rows the receiver rejected (``(user_id, reason)``), and the next due moment left."""

    sent: int = 0
    already_sent: int = 0
    not_due: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    due: int = 0
    next_due: datetime | None = None
    target: str = ""
    dry_run: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "already_sent": self.already_sent,
            "not_due": self.not_due,
            "due": self.due,
            "rejected": [{"user_id": u, "reason": r} for u, r in self.rejected],
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "to": self.target,
            "dry_run": self.dry_run,
        }


def send_plan(
    plan: pd.DataFrame,
    target: Target | None,
    log: SendLog,
    *,
    now: datetime | None = None,
    wait_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    dry_run: bool = False,
) -> SendResult:
    """Send the rows of ``plan`` (from :func:`read_plan`) that are due and not yet logged.

    Parameters
    ----------
    plan : the plan rows, with ``send_at_utc`` and ``idempotency_key``.
    target : the receiver (None only with ``dry_run``).
    log : the send log; read first, appended after each confirm.
    now : the moment the run starts at (default: the clock); the clock runs on from it.
    wait_seconds : after the rows due now, keep sleeping until the next row is due and send it,
        for at most this many seconds in all (0: send what is due and return).
    dry_run : count what would be sent now; publish and log nothing.
    """
    start = pd.Timestamp(now or datetime.now(UTC))
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    t0 = monotonic()

    def clock() -> pd.Timestamp:
        return start + timedelta(seconds=monotonic() - t0)

    result = SendResult(target=getattr(target, "description", ""), dry_run=dry_run)
    done = log.keys()
    todo = plan[~plan["idempotency_key"].isin(done)]
    result.already_sent = len(plan) - len(todo)
    if dry_run:
        due = todo["send_at_utc"] <= start
        result.due = int(due.sum())
        result.not_due = len(todo) - result.due
        later = todo.loc[~due, "send_at_utc"]
        result.next_due = later.min().to_pydatetime() if len(later) else None
        return result
    if target is None:
        raise ValueError("a target is needed unless dry_run")
    pending: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in todo.to_dict("records")
    ]
    pos = 0
    with log.writer() as write:
        while pos < len(pending):
            row = pending[pos]
            at = pd.Timestamp(row["send_at_utc"])
            if at > clock():
                left = wait_seconds - (monotonic() - t0)
                gap = (at - clock()).total_seconds()
                if gap > left:
                    break
                sleep(max(gap, 0.0))
                continue
            msg = message_of(row)
            result.due += 1
            try:
                target.publish(msg["idempotency_key"], msg)
            except MessageRejected as exc:
                result.rejected.append((msg["user_id"], str(exc)))
                pos += 1
                continue
            write(
                {
                    "key": msg["idempotency_key"],
                    "campaign_id": msg["campaign_id"],
                    "user_id": msg["user_id"],
                    "channel": msg["channel"],
                    "send_at_utc": msg["send_at_utc"],
                    "sent_at": datetime.now(UTC).isoformat(),
                    "to": result.target,
                }
            )
            result.sent += 1
            pos += 1
    rest = pending[pos:]
    result.not_due = len(rest)
    result.next_due = pd.Timestamp(rest[0]["send_at_utc"]).to_pydatetime() if rest else None
    return result


__all__ = [
    "SendLog",
    "SendResult",
    "idempotency_key",
    "message_of",
    "read_plan",
    "send_lock",
    "send_log_path",
    "send_plan",
]
