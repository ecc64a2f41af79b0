"""CLI commands of user profiles, segments and behaviour analytics.

Wire them in ``cli/main.py``::

    from campaignrec.cli import profiles as profiles_cli
    app.command("profile")(profiles_cli.profile_command)
    app.add_typer(profiles_cli.profiles_app, name="profiles")
    app.command("segments")(profiles_cli.segments_command)
    app.add_typer(profiles_cli.analytics_app, name="analytics")

Profiles are computed from the store of the selected data directory and kept under
``<home>/profiles`` (Parquet + JSON); they are recomputed when missing or with ``--refresh``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from campaignrec.cli import context
from campaignrec.errors import CampaignrecError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

profiles_app = typer.Typer(help="User profiles: export and refresh.", no_args_is_help=True)
analytics_app = typer.Typer(
    help="Behaviour analytics: funnels, heatmaps, co-purchase rules, cohorts.",
    no_args_is_help=True,
)
console = Console()

RefreshOpt = Annotated[bool, typer.Option("--refresh", help="recompute profiles from the store")]


def _settings() -> Any:
    return context.settings()


def _open_store() -> Any:
    return context.open_store()


def profiles_dir() -> Path:
    """Where the CLI keeps the computed profiles: ``<home>/profiles``."""
    return Path(_settings().home) / "profiles"


def _reports_dir() -> Path:
    return Path(_settings().home) / "reports" / "profiles"


def _events(store: Any) -> Iterator[pd.DataFrame]:
    from campaignrec.pipeline.profiles import iter_events

    return iter_events(store)


def _profiles(refresh: bool, spark: Any = None) -> Any:
    """The saved profiles of the data directory (computed when missing or with --refresh;
    always computed, on Spark, with ``spark`` options)."""
    from campaignrec.pipeline.profiles import ensure_profiles

    if spark is not None:
        from campaignrec.engines.spark.jobs import compute_profiles_spark

        with console.status("computing profiles on spark..."):
            return compute_profiles_spark(_open_store, _settings().home, profiles_dir(), spark)

    return ensure_profiles(
        _open_store,
        profiles_dir(),
        refresh=refresh,
        progress=lambda: console.status("computing profiles..."),
    )


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v) if v else "-"
    return str(v)


def _print_frame(df: pd.DataFrame, title: str, max_rows: int = 30) -> None:
    import pandas as pd

    t = Table(title=title, show_lines=False)
    for c in df.columns:
        t.add_column(str(c), overflow="fold", min_width=min(len(str(c)), 8))
    for _, row in df.head(max_rows).iterrows():
        t.add_row(*[_fmt(v if not (isinstance(v, float) and pd.isna(v)) else None) for v in row])
    console.print(t)
    if len(df) > max_rows:
        console.print(f"[dim]... {len(df) - max_rows} more rows[/]")


def profile_command(
    user_id: Annotated[str, typer.Argument(help="external user id")],
    refresh: RefreshOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the attributes as JSON")] = False,
) -> None:
    """Show one shopper's profile card."""
    from campaignrec.privacy import pseudonymise_user_id
    from campaignrec.profiles.pipeline import profile_attributes

    result = _profiles(refresh)
    attrs = profile_attributes(result.profiles, pseudonymise_user_id(_settings(), user_id))
    if as_json:
        console.print_json(json.dumps(attrs, ensure_ascii=False, default=str))
        return
    t = Table(title=f"profile of {user_id}", show_header=False, title_justify="left")
    t.add_column("attribute", style="bold")
    t.add_column("value", overflow="fold")
    sections = [
        (
            "segment",
            f"{attrs.get('segment')} / {attrs.get('segment_name_zh')} (#{attrs.get('segment_id')})",
        ),
        (
            "RFM",
            f"{attrs.get('rfm_segment')} (R{attrs.get('r_score')} F{attrs.get('f_score')} "
            f"M{attrs.get('m_score')})",
        ),
        ("lifecycle", attrs.get("lifecycle")),
        (
            "recency / frequency / monetary",
            f"{_fmt(attrs.get('recency_days'))} days / {attrs.get('frequency')} orders / "
            f"{_fmt(attrs.get('monetary'))}",
        ),
        ("average basket", attrs.get("avg_basket")),
        ("price band", attrs.get("price_band")),
        (
            "discount share / coupon redemption",
            f"{_fmt(attrs.get('discount_share'))} / {_fmt(attrs.get('coupon_redemption_rate'))}",
        ),
        ("P(purchase in 30 days)", attrs.get("p_purchase_30d")),
        ("expected spend in 30 days", attrs.get("expected_spend_30d")),
        (
            "P(still active) / lifetime value",
            f"{_fmt(attrs.get('p_alive'))} / {_fmt(attrs.get('clv'))} over the next "
            f"{result.meta.get('lifetime_value', {}).get('horizon_days', '?')} days "
            f"({_fmt(attrs.get('expected_purchases'))} orders x "
            f"{_fmt(attrs.get('expected_order_value'))})",
        ),
        ("interests: categories", attrs.get("top_categories")),
        ("interests: brands", attrs.get("top_brands")),
        ("bought categories", attrs.get("bought_categories")),
        ("search terms", attrs.get("top_search_terms")),
        (
            "demographics",
            f"{_fmt(attrs.get('gender'))}, age {_fmt(attrs.get('age'))}, "
            f"{_fmt(attrs.get('region'))} {_fmt(attrs.get('city'))}",
        ),
        ("membership tier", attrs.get("membership_tier")),
        ("sessions", attrs.get("n_sessions")),
    ]
    for k, v in sections:
        t.add_row(k, _fmt(v))
    console.print(t)


_EXPORT_LISTS = (
    "top_categories",
    "top_category_weights",
    "top_brands",
    "top_brand_weights",
    "bought_categories",
    "top_search_terms",
)


@profiles_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="output file: .csv or .parquet")],
    refresh: RefreshOpt = False,
    engine: context.EngineOpt = "local",
    spark_master: context.SparkMasterOpt = "local[*]",
    spark_conf: context.SparkConfOpt = None,
    spark_input: context.SparkInputOpt = None,
    mapping: context.SparkMappingOpt = None,
) -> None:
    """Write one row per user (user_id, recency_days, frequency, monetary, lifecycle, segment, ...).

    Shoppers who withheld personalisation consent are left out.
    """
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValidationError("--out", "the file must end in .csv or .parquet", value=str(out))
    from campaignrec.privacy.consent import exportable_profiles

    spark = context.spark_options(engine, spark_master, spark_conf, spark_input, mapping)
    result = _profiles(refresh, spark)
    store = _open_store()
    try:
        users = store.read_table("users", columns=["user_id", "consent_personalisation"])
    finally:
        store.close()
    df = exportable_profiles(result.profiles, users).copy()
    df = df.rename(columns={"segment": "segment_id", "segment_name": "segment"})
    first = ["user_id", "recency_days", "frequency", "monetary", "lifecycle", "segment"]
    df = df[first + [c for c in df.columns if c not in first]]
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        for c in _EXPORT_LISTS:
            if c in df.columns:
                df[c] = [json.dumps(list(v), ensure_ascii=False) for v in df[c]]
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    console.print(f"wrote {len(df):,} profiles to {out}")


def segments_command(
    refresh: RefreshOpt = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG of the segments")] = None,
    engine: context.EngineOpt = "local",
    spark_master: context.SparkMasterOpt = "local[*]",
    spark_conf: context.SparkConfOpt = None,
    spark_input: context.SparkInputOpt = None,
    mapping: context.SparkMappingOpt = None,
) -> None:
    """Show the behavioural segments (names in English and Chinese) and the RFM view."""
    import pandas as pd

    from campaignrec.profiles.plots import plot_segments, plot_silhouette
    from campaignrec.profiles.segments import silhouette_curve

    result = _profiles(
        refresh, context.spark_options(engine, spark_master, spark_conf, spark_input, mapping)
    )
    if result.segments is None:
        raise CampaignrecError("no segments were fitted", hint="need more users than k_min")
    model = result.segments
    prof = result.profiles
    table = model.table()
    sizes = prof["segment"].value_counts()
    view = pd.DataFrame(
        {
            "segment": table["segment"],
            "users": [int(sizes.get(s, 0)) for s in table["segment"]],
            "name": table["name_en"],
            "名称": table["name_zh"],
            "description": table["description_en"],
        }
    )
    _print_frame(view, f"segments (k={model.k_}: best silhouette among stable k)")
    rfm = prof.groupby("rfm_segment").agg(
        users=("user_id", "size"), monetary=("monetary", "mean"), frequency=("frequency", "mean")
    )
    _print_frame(rfm.reset_index().sort_values("users", ascending=False), "RFM segments")
    target = plot or _reports_dir() / "segments.png"
    plot_segments(prof, model, target)
    curve_png = target.with_name(target.stem + "_silhouette.png")
    plot_silhouette(model, curve_png)
    silhouette_curve(model).to_csv(target.with_name(target.stem + "_silhouette.csv"), index=False)
    console.print(f"plots: {target}, {curve_png}")


@analytics_app.command("funnel")
def funnel_command(
    by: Annotated[
        str, typer.Option("--by", help="none | segment | category | campaign | day")
    ] = "segment",
    segment_column: Annotated[
        str, typer.Option("--segment-column", help="segment_name | rfm_segment | lifecycle")
    ] = "segment_name",
    refresh: RefreshOpt = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG path")] = None,
) -> None:
    """Conversion funnel view -> click -> cart -> purchase."""
    from campaignrec.profiles.analytics import funnel
    from campaignrec.profiles.plots import plot_funnel

    key = None if by == "none" else by
    profiles = _profiles(refresh).profiles if key == "segment" else None
    store = _open_store()
    try:
        items = store.read_table("items") if key == "category" else None
        table = funnel(
            _events(store), by=key, items=items, profiles=profiles, segment_column=segment_column
        )
    finally:
        store.close()
    _print_frame(table, f"funnel by {by}")
    target = plot or _reports_dir() / f"funnel_{by}.png"
    plot_funnel(table, target)
    console.print(f"plot: {target}")


@analytics_app.command("heatmap")
def heatmap_command(
    segment_column: Annotated[
        str, typer.Option("--segment-column", help="segment_name | rfm_segment | lifecycle | none")
    ] = "segment_name",
    purchases: Annotated[bool, typer.Option("--purchases", help="count purchases only")] = False,
    refresh: RefreshOpt = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG path")] = None,
) -> None:
    """Weekday x hour activity per segment, with each segment's peak slots."""
    from campaignrec.profiles.analytics import activity_heatmap, peak_slots
    from campaignrec.profiles.plots import WEEKDAYS, plot_heatmaps

    col = None if segment_column == "none" else segment_column
    profiles = _profiles(refresh).profiles if col else None
    store = _open_store()
    try:
        hm = activity_heatmap(
            _events(store),
            profiles=profiles,
            segment_column=col,
            event_types=["purchase"] if purchases else None,
        )
    finally:
        store.close()
    peaks = peak_slots(hm, top=3)
    peaks = peaks.assign(weekday=[WEEKDAYS[d] for d in peaks["weekday"]])
    _print_frame(peaks, "peak activity slots (UTC)")
    target = plot or _reports_dir() / "heatmap.png"
    plot_heatmaps(hm, target)
    console.print(f"plot: {target}")


@analytics_app.command("rules")
def rules_command(
    min_count: Annotated[int, typer.Option("--min-count", help="baskets holding both")] = 5,
    top: Annotated[int, typer.Option("--top", help="pairs shown")] = 20,
    item: Annotated[str | None, typer.Option("--item", help="partners of one item")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG path")] = None,
) -> None:
    """Co-purchase association rules and "frequently bought together" pairs."""
    from campaignrec.profiles.analytics import association_rules, frequently_bought_together
    from campaignrec.profiles.plots import plot_rules

    store = _open_store()
    try:
        rules = association_rules(_events(store), min_count=min_count)
    finally:
        store.close()
    pairs = frequently_bought_together(rules, item_id=item, top=top)
    _print_frame(pairs, f"frequently bought together ({rules.attrs.get('n_baskets', 0):,} baskets)")
    target = plot or _reports_dir() / "rules.png"
    plot_rules(pairs, target)
    console.print(f"plot: {target}")


@analytics_app.command("cohorts")
def cohorts_command(
    activity: Annotated[str, typer.Option("--activity", help="any | purchase")] = "any",
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG path")] = None,
) -> None:
    """Retention of signup-month cohorts."""
    import pandas as pd

    from campaignrec.profiles.analytics import cohort_retention
    from campaignrec.profiles.plots import plot_cohorts

    store = _open_store()
    try:
        table = cohort_retention(_events(store), store.read_table("users"), activity=activity)
    finally:
        store.close()
    # the table can be wide (old signups, short event window): show active offsets and cohorts
    offsets = [c for c in table.columns[1:] if (table[c] > 0).any()][:8]
    shown = table.loc[
        (table[offsets] > 0).any(axis=1) if offsets else table.index, ["size", *offsets]
    ]
    shown = shown.tail(24)
    view = pd.DataFrame({"cohort": shown.index, "size": shown["size"].astype(int)})
    for c in offsets:
        view[f"m+{c}"] = [f"{v:.0%}" for v in shown[c]]
    _print_frame(view, f"cohort retention ({activity}), share active by month since signup")
    target = plot or _reports_dir() / "cohorts.png"
    plot_cohorts(table, target)
    console.print(f"plot: {target}")
