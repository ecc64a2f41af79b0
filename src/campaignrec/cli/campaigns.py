"""``campaignrec campaigns``: list, show, check eligibility, plan a campaign.

Every command reads the store of the selected data directory (``--data-dir``); ``check`` also
reads the online state (``online_url``) for budgets, inventory, caps and exclusivity.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import typer
from rich.table import Table

from campaignrec.campaigns.allocation import plan_campaign
from campaignrec.campaigns.audience import audience_of, base_attributes, merge_attributes
from campaignrec.campaigns.catalog import Catalog, load_campaigns, window_state
from campaignrec.campaigns.eligibility import DEFAULT_KEYS, explain_eligibility
from campaignrec.campaigns.exposures import exposure_outcomes, segment_response_rates
from campaignrec.cli import context
from campaignrec.errors import UnknownIdError, ValidationError

app = typer.Typer(help="Campaigns: list, show, check a user's eligibility, plan before launch.")

FALLBACK_LABEL = "fallback: logged response rates per segment"


def _now(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        ts = pd.Timestamp(at)
    except ValueError as exc:
        raise ValidationError(
            "--at", "not a timestamp", value=at, hint="e.g. 2025-01-15T10:00Z"
        ) from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _catalog(store: Any) -> Catalog:
    frame = store.read_table("campaigns")
    return load_campaigns(frame)


def _profile_attributes(user_ids: list[str] | None) -> dict[str, dict[str, Any]] | None:
    """Attributes from the saved profiles (``<home>/profiles``), when they have been computed."""
    try:
        from campaignrec.profiles.pipeline import PROFILES_FILE, load_profiles, profile_attributes
    except ImportError:
        return None
    d = Path(context.settings().home) / "profiles"
    if not (d / PROFILES_FILE).is_file():
        return None
    profiles = load_profiles(d).profiles
    ids = profiles["user_id"].astype(str).to_numpy()
    wanted = None if user_ids is None else set(user_ids)
    out: dict[str, dict[str, Any]] = {}
    for i, uid in enumerate(ids):
        if wanted is None or uid in wanted:
            # one-row slices keep each lookup O(1) for large profile tables
            out[uid] = profile_attributes(profiles.iloc[[i]], uid)
    return out


def _attributes(
    store: Any, now: datetime, user_ids: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    users = store.read_table("users")
    if user_ids is not None:
        users = users[users["user_id"].astype(str).isin(user_ids)]
    events = store.read_table("events", columns=["user_id", "event_type", "item_id", "timestamp"])
    if user_ids is not None:
        events = events[events["user_id"].astype(str).isin(user_ids)]
    events = events[events["timestamp"] <= pd.Timestamp(now)]
    items = store.read_table("items", columns=["item_id", "category"])
    base = base_attributes(users, events, items, now=now)
    return merge_attributes(base, _profile_attributes(user_ids))


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def list_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[str | None, typer.Option("--at", help="moment for window states (UTC)")] = None,
) -> None:
    """Every campaign with its type, status, window state, budget and inventory."""
    store = context.open_store()
    cat = _catalog(store)
    now = _now(at)
    rows: list[dict[str, Any]] = [
        {
            "campaign_id": c.campaign_id,
            "name": c.name,
            "type": c.type,
            "status": c.status,
            "state": window_state(c, now),
            "start_time": c.start_time.isoformat() if c.start_time else None,
            "end_time": c.end_time.isoformat() if c.end_time else None,
            "budget": c.budget,
            "inventory": c.inventory,
            "priority": c.priority,
            "exclusivity_group": c.exclusivity_group,
        }
        for c in cat
    ]
    if json_out:
        print(json.dumps({"campaigns": rows, "at": now.isoformat()}, ensure_ascii=False))
        return
    table = Table(title=f"campaigns ({len(rows)}) at {now:%Y-%m-%d %H:%M} UTC")
    for col in ("id", "name", "type", "state", "window", "budget", "inventory", "prio", "group"):
        table.add_column(col, justify="right" if col in ("budget", "inventory", "prio") else "left")
    for r in rows:
        window = f"{(r['start_time'] or '')[:10]} .. {(r['end_time'] or '')[:10]}"
        table.add_row(
            r["campaign_id"],
            r["name"],
            r["type"],
            r["state"],
            window,
            _money(r["budget"]),
            "-" if r["inventory"] is None else f"{r['inventory']:,}",
            str(r["priority"]),
            r["exclusivity_group"] or "-",
        )
    context.console.print(table)


def _state() -> Any:
    from campaignrec.store.online import open_online_state

    return open_online_state(context.settings().online_url)


def show_cmd(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="moment for the window state (UTC)")
    ] = None,
) -> None:
    """One campaign in full, with its remaining budget and inventory in the online state."""
    store = context.open_store()
    c = _catalog(store).get(campaign_id)
    now = _now(at)
    state = _state()
    rec = c.model_dump(mode="json")
    rec["state"] = window_state(c, now)
    rec["budget_left"] = state.get_budget(DEFAULT_KEYS.budget(c.campaign_id))
    rec["inventory_left"] = state.get_budget(DEFAULT_KEYS.inventory(c.campaign_id))
    if json_out:
        print(json.dumps(rec, ensure_ascii=False))
        return
    table = Table(title=f"campaign {c.campaign_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for k, v in rec.items():
        if v in (None, [], {}):
            continue
        table.add_row(
            k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)
        )
    context.console.print(table)


def check_cmd(
    user_id: Annotated[str, typer.Argument(help="user id")],
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[str | None, typer.Option("--at", help="moment of the check (UTC)")] = None,
    lang: Annotated[str, typer.Option("--lang", help="en or zh")] = "en",
) -> None:
    """Is USER_ID eligible for CAMPAIGN_ID now, and if not, which conditions fail."""
    store = context.open_store()
    c = _catalog(store).get(campaign_id)
    now = _now(at)
    attrs = _attributes(store, now, [user_id])
    if user_id not in attrs:
        raise UnknownIdError("user", user_id, hint="`campaignrec stats` shows what the store holds")
    res = explain_eligibility(attrs[user_id], c, now, _state(), user_id=user_id)
    if json_out:
        print(
            json.dumps(
                {"user_id": user_id, "at": now.isoformat(), **res.to_dict()}, ensure_ascii=False
            )
        )
        return
    style = "green" if res.eligible else "red"
    context.console.print(
        f"[{style}]{user_id} / {campaign_id}: {res.text(lang)}[/]", highlight=False
    )


def plan_cmd(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    uplift: Annotated[
        Path | None,
        typer.Option(
            "--uplift", help="CSV/Parquet of user_id, p_control, p_treated (model output)"
        ),
    ] = None,
    segment_field: Annotated[
        str, typer.Option("--segment-field", help="attribute that groups users in the fallback")
    ] = "segment",
    order_value: Annotated[
        float, typer.Option("--order-value", help="value of a conversion")
    ] = 50.0,
    margin_rate: Annotated[float, typer.Option("--margin-rate", help="gross margin share")] = 0.3,
    objective: Annotated[str, typer.Option("--objective", help="profit or conversions")] = "profit",
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[str | None, typer.Option("--at", help="planning moment (UTC)")] = None,
) -> None:
    """Audience size, expected cost, incremental conversions and ROI before launch.

    Uses uplift estimates from ``--uplift`` when given; otherwise the *fallback*: the logged
    response rates with and without the offer, per segment (``--segment-field``), shrunk towards
    the campaign's overall rates (all campaigns' when this one has no logged exposures).
    """
    if objective not in ("profit", "conversions"):
        raise ValidationError("--objective", "must be profit or conversions", value=objective)
    store = context.open_store()
    cat = _catalog(store)
    c = cat.get(campaign_id)
    now = _now(at)
    attrs = _attributes(store, now)
    aud = audience_of(c, attrs)
    if not aud:
        raise ValidationError(
            "audience",
            f"campaign '{campaign_id}' reaches nobody",
            hint=f"check its rule with `campaigns check USER {campaign_id}`",
        )
    if uplift is not None:
        est = _read_uplift(uplift, campaign_id)
        frame = pd.DataFrame({"user_id": aud}).merge(est, on="user_id", how="inner")
        source = f"uplift estimates from {uplift.name}"
        if frame.empty:
            raise ValidationError(
                "--uplift", "no estimates for the campaign's audience", value=str(uplift)
            )
    else:
        frame, source = _fallback_estimates(store, cat, campaign_id, aud, attrs, segment_field)
    obj: Literal["profit", "conversions"] = "profit" if objective == "profit" else "conversions"
    plan = plan_campaign(
        c,
        frame,
        order_value=order_value,
        margin_rate=margin_rate,
        objective=obj,
        uplift_source=source,
    )
    out = plan.to_dict()
    out["audience_size"] = len(aud)
    if json_out:
        print(json.dumps(out, ensure_ascii=False))
        return
    table = Table(
        title=f"plan for {campaign_id} ({c.name}); audience {len(aud):,}; "
        f"budget {_money(c.budget)}; inventory {c.inventory or '-'}"
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
            _money(r["expected_cost"]),
            f"{r['expected_redemptions']:.1f}",
            f"{r['incremental_conversions']:.1f}",
            _money(r["incremental_revenue"]),
            _money(r["incremental_profit"]),
            "-" if r["roi"] != r["roi"] else f"{r['roi']:.2f}",
        )
    console = context.console
    console.print(table)
    console.print(f"estimates: [bold]{source}[/]", highlight=False)


def _read_uplift(path: Path, campaign_id: str) -> pd.DataFrame:
    if not path.is_file():
        raise ValidationError("--uplift", "no such file", value=str(path))
    df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    if "campaign_id" in df.columns:
        df = df[df["campaign_id"].astype(str) == campaign_id]
    if "p_treated" not in df.columns and {"p_control", "uplift"} <= set(df.columns):
        df = df.assign(p_treated=df["p_control"] + df["uplift"])
    for col in ("user_id", "p_control", "p_treated"):
        if col not in df.columns:
            raise ValidationError(
                col,
                "the uplift file needs this column",
                value=str(path),
                hint="columns: user_id, p_control, p_treated (or uplift)",
            )
    return df[["user_id", "p_control", "p_treated"]].assign(
        user_id=lambda d: d["user_id"].astype(str)
    )


def _fallback_estimates(
    store: Any,
    cat: Catalog,
    campaign_id: str,
    aud: list[str],
    attrs: dict[str, dict[str, Any]],
    segment_field: str,
) -> tuple[pd.DataFrame, str]:
    events = store.read_table(
        "events",
        columns=[
            "user_id",
            "event_type",
            "item_id",
            "campaign_id",
            "timestamp",
            "session_id",
            "variant",
            "policy",
            "propensity",
        ],
    )
    items = store.read_table("items", columns=["item_id", "category"])
    out = exposure_outcomes(events, cat, items)
    if out.empty or out["treated"].nunique() < 2:
        raise ValidationError(
            "events",
            "no logged exposures with both shown and held-out (control) users",
            hint="pass --uplift FILE with model estimates, or log a control holdout",
        )
    if not any(a.get(segment_field) is not None for a in attrs.values()):
        segment_field = "membership_tier"  # no profiles yet: a field every shop has
    seg = {u: str(a.get(segment_field)) for u, a in attrs.items()}
    scope = "this campaign"
    if not (out["campaign_id"] == campaign_id).any():
        out = out.assign(campaign_id=campaign_id)
        scope = "all campaigns (none logged for this one)"
    rates = segment_response_rates(out[out["campaign_id"] == campaign_id], seg)
    by_seg = rates.set_index("segment")
    overall_t = float(by_seg["p_treated"].mean())
    overall_c = float(by_seg["p_control"].mean())
    s = pd.Series([seg.get(u, "None") for u in aud])
    frame = pd.DataFrame(
        {
            "user_id": aud,
            "p_control": s.map(by_seg["p_control"]).fillna(overall_c).to_numpy(),
            "p_treated": s.map(by_seg["p_treated"]).fillna(overall_t).to_numpy(),
        }
    )
    label = f"{FALLBACK_LABEL} '{segment_field}' ({scope}; not an uplift model)"
    return frame, label


app.command("list")(list_cmd)
app.command("show")(show_cmd)
app.command("check")(check_cmd)
app.command("plan")(plan_cmd)
