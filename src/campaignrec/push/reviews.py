"""Push plans kept for review: made, listed, read, approved, then sent (the API's plan store).

Each plan lives in ``<home>/push/plans/<plan_id>/``: ``plan.parquet`` (the rows of ``push
plan``) and ``meta.json`` (campaign, when it was planned, its summary, its status and the
history of approvals and sends). A plan goes ``draft`` -> ``approved`` -> ``sending`` (some
rows not yet due) -> ``sent``; only an approved plan is sent, and sending goes through
:func:`campaignrec.push.run.send_push`, so its send log and idempotency keys are the CLI's.
The plan is recorded in the push ledger when it is made (its pushes count against caps from
then on, as with ``push plan``).
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.errors import UnknownIdError, ValidationError
from campaignrec.push.config import PushSettings
from campaignrec.push.ledger import ledger_path, write_plan
from campaignrec.push.send import read_plan

PLAN_ID = re.compile(r"^pp_[0-9a-f]{12}$")
STATUSES = ("draft", "approved", "sending", "sent")


class PlanStateError(ValidationError):
    """The plan is not in a state that allows this (e.g. sending a draft)."""


def plans_dir(home: Path) -> Path:
    """``<home>/push/plans``."""
    return home / "push" / "plans"


def _dir(home: Path, plan_id: str) -> Path:
    if not PLAN_ID.match(plan_id):
        raise UnknownIdError("push plan", plan_id, hint="ids look like pp_0123456789ab")
    d = plans_dir(home) / plan_id
    if not (d / "meta.json").is_file():
        raise UnknownIdError("push plan", plan_id, hint="GET /v1/push/plans lists them")
    return d


def _write_meta(d: Path, meta: dict[str, Any]) -> None:
    tmp = d / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(d / "meta.json")


def create_review(
    store: Any,
    home: Path,
    campaign_id: str | None,
    *,
    settings: PushSettings,
    now: datetime | None = None,
    state: Any = None,
    uplift: pd.DataFrame | None = None,
    products: dict[str, Any] | None = None,
    ranker: Any = None,
) -> dict[str, Any]:
    """Plan ``campaign_id`` (as ``push plan`` does, recorded in the ledger) and keep the plan
    for review; returns its metadata (``plan_id``, ``status = draft``, ``summary``).
    ``uplift``: estimates (``user_id, p_control, p_treated``) in place of the logged rates.

    ``products`` (``k``, ``day``, ``limit``, ``margin_rate``) with ``ranker``, in place of a
    campaign: a product-recommendation push (``push plan --products``), campaign id
    ``products-<day>``."""
    from campaignrec.push.run import plan_product_push, plan_push

    at = now or datetime.now(UTC)
    plan_id = f"pp_{uuid.uuid4().hex[:12]}"
    d = plans_dir(home) / plan_id
    d.mkdir(parents=True, exist_ok=False)
    est = None
    if uplift is not None:
        est = d / "uplift.csv"
        uplift.to_csv(est, index=False)
    try:
        if products is not None:
            result = plan_product_push(
                store,
                ranker,
                now=at,
                settings=settings,
                ledger=ledger_path(home),
                state=state,
                **products,
            )
        else:
            result = plan_push(
                store,
                str(campaign_id),
                now=at,
                settings=settings,
                ledger=ledger_path(home),
                state=state,
                uplift=est,
            )
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    write_plan(result.plan.table, d / "plan.parquet")
    summary = result.summary()
    summary.pop("ledger", None)
    meta: dict[str, Any] = {
        "plan_id": plan_id,
        "campaign_id": result.plan.campaign_id,
        "kind": "products" if products is not None else "campaign",
        "products": dict(products) if products is not None else None,
        "status": "draft",
        "planned_at": at.astimezone(UTC).isoformat(),
        "created_at": datetime.now(UTC).isoformat(),
        "summary": summary,
        "approved_at": None,
        "approved_by": None,
        "sends": [],
    }
    _write_meta(d, meta)
    return meta


def list_reviews(home: Path, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """Every kept plan's metadata, newest first (``campaign_id``: only that campaign's)."""
    root = plans_dir(home)
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        f = d / "meta.json"
        if PLAN_ID.match(d.name) and f.is_file():
            meta = json.loads(f.read_text(encoding="utf-8"))
            if campaign_id is None or meta.get("campaign_id") == campaign_id:
                out.append(meta)
    return sorted(out, key=lambda m: (m["created_at"], m["plan_id"]), reverse=True)


def get_review(home: Path, plan_id: str, *, rows: int = 0) -> dict[str, Any]:
    """A kept plan's metadata, with its first ``rows`` rows under ``rows`` (JSON-ready)."""
    d = _dir(home, plan_id)
    meta: dict[str, Any] = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    if rows > 0:
        table = read_plan(d / "plan.parquet").head(rows)
        table = table.assign(send_at_utc=table["send_at_utc"].map(lambda t: t.isoformat()))
        meta["rows"] = json.loads(table.to_json(orient="records", force_ascii=False))
    return meta


def approve_review(home: Path, plan_id: str, *, by: str | None = None) -> dict[str, Any]:
    """Approve a draft (approving an approved plan again changes nothing)."""
    d = _dir(home, plan_id)
    meta = get_review(home, plan_id)
    if meta["status"] == "draft":
        meta["status"] = "approved"
        meta["approved_at"] = datetime.now(UTC).isoformat()
        meta["approved_by"] = by
        _write_meta(d, meta)
    return meta


def send_review(
    home: Path,
    plan_id: str,
    to: str,
    *,
    exchange: str = "",
    queue: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Send the due rows of an approved plan (see :func:`campaignrec.push.run.send_push`);
    returns the send summary. A draft is refused (:class:`PlanStateError`, field ``status``)."""
    from campaignrec.push.run import send_push

    d = _dir(home, plan_id)
    meta = get_review(home, plan_id)
    if meta["status"] == "draft":
        raise PlanStateError(
            "status",
            "the plan is a draft: approve it before sending",
            value=meta["status"],
            hint=f"POST /v1/push/plans/{plan_id}/approve",
        )
    result = send_push(
        home, read_plan(d / "plan.parquet"), to, exchange=exchange, queue=queue, now=now
    )
    summary = result.summary()
    meta = get_review(home, plan_id)
    meta["status"] = "sent" if result.not_due == 0 else "sending"
    meta["sends"].append({"at": datetime.now(UTC).isoformat(), **summary})
    _write_meta(d, meta)
    return {"plan_id": plan_id, "status": meta["status"], **summary}


__all__ = [
    "PLAN_ID",
    "STATUSES",
    "PlanStateError",
    "approve_review",
    "create_review",
    "get_review",
    "list_reviews",
    "plans_dir",
    "send_review",
]
