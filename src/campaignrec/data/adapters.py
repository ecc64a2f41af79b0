"""Dataset adapters: public data sets read into canonical tables.

Each reader returns a :class:`Dataset` of pandas frames in the canonical layout (users, items,
campaigns, events, as the data set has them) that :func:`import_dataset` sends through the usual
validation and quarantine. How each data set is encoded is documented in ``docs/datasets.md``;
the short version is in each reader's docstring.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from campaignrec.errors import ConfigError

ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
GENDER_CODES = {"M": "male", "F": "female"}


@dataclass
class Dataset:
    """Canonical frames of one data set; ``extras`` holds side tables that are not imported."""

    name: str
    users: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """(entity, frame) in import order: users, items, campaigns, events."""
        out = []
        for entity in ("users", "items", "campaigns", "events"):
            frame = getattr(self, entity)
            if frame is not None:
                out.append((entity, frame))
        return out


def _need(path: Path, *names: str) -> Path:
    for name in names:
        p = path / name
        if p.is_file():
            return p
    raise ConfigError(
        f"{path}: none of {', '.join(names)} found",
        hint="point the adapter at the data set's folder (see docs/datasets.md)",
    )


def _epoch_s(values: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(values).astype("int64"), unit="s", utc=True).astype(
        "datetime64[us, UTC]"
    )


# ---- MovieLens --------------------------------------------------------------------------------
def read_movielens(path: str | Path, *, favorite_threshold: float | None = None) -> Dataset:
    """MovieLens-100k, either RecBole atomic files (``ml-100k.inter/.user/.item``) or the
    original ``u.data`` / ``u.user`` / ``u.item``.

    Each rating becomes one ``rating`` event that keeps its value (1-5) in ``rating``, for rating
    models; implicit models see it with the ``rating`` event weight. With
    ``favorite_threshold`` (the behaviour before ratings were kept) the events are ``favorite``
    at or above it and ``view`` below, still carrying the value.
    Users get gender and age/occupation/zip code as attributes; items get the title, the genres
    as tags (first genre as category) and the release year.
    """
    p = Path(path)
    if p.is_file():
        p = p.parent
    inter = sorted(p.glob("*.inter"))
    if inter:
        return _movielens_atomic(p, inter[0], favorite_threshold)
    return _movielens_original(p, favorite_threshold)


def _read_atomic(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    df.columns = [c.split(":", 1)[0] for c in df.columns]
    return df


def _rating_events(
    user: Any, item: Any, rating: Any, ts: Any, threshold: float | None
) -> pd.DataFrame:
    r = pd.to_numeric(pd.Series(rating), errors="coerce").to_numpy(dtype=float)
    types = (
        np.full(len(r), "rating", dtype=object)
        if threshold is None
        else np.where(r >= threshold, "favorite", "view")
    )
    return pd.DataFrame(
        {
            "user_id": pd.Series(user, dtype=object).to_numpy(),
            "item_id": pd.Series(item, dtype=object).to_numpy(),
            "event_type": types,
            "timestamp": _epoch_s(pd.to_numeric(pd.Series(ts)).round().astype("int64")).to_numpy(),
            "rating": r,
        }
    )


def _ml_users(user_id: Any, age: Any, gender: Any, occupation: Any, zip_code: Any) -> pd.DataFrame:
    users = pd.DataFrame({"user_id": pd.Series(user_id, dtype=object)})
    users["gender"] = [GENDER_CODES.get(str(g), "unknown") for g in gender]
    attrs = [
        {"age": int(a), "occupation": o, "zip_code": z}
        for a, o, z in zip(age, occupation, zip_code, strict=True)
    ]
    users["attributes"] = pd.Series(attrs, dtype=object)
    return users


def _movielens_atomic(p: Path, inter: Path, threshold: float | None) -> Dataset:
    ev = _read_atomic(inter)
    events = _rating_events(ev["user_id"], ev["item_id"], ev["rating"], ev["timestamp"], threshold)
    stem = inter.with_suffix("")
    users = items = None
    if stem.with_suffix(".user").is_file():
        u = _read_atomic(stem.with_suffix(".user"))
        users = _ml_users(u["user_id"], u["age"], u["gender"], u["occupation"], u["zip_code"])
    if stem.with_suffix(".item").is_file():
        it = _read_atomic(stem.with_suffix(".item"))
        genres = [_split_genres(c) for c in it["class"]]
        items = pd.DataFrame(
            {
                "item_id": it["item_id"].astype(object),
                "title": it["movie_title"].astype(object),
                "category": [g[0] if g else None for g in genres],
                "tags": genres,
                "attributes": [
                    {"release_year": int(y)} if y.isdigit() else {} for y in it["release_year"]
                ],
            }
        )
    return Dataset("movielens", users=users, items=items, events=events)


def _split_genres(text: str) -> list[str]:
    """RecBole writes genres space-separated; keep the canonical ML-100k names whole."""
    out = []
    for token in text.split():
        if token in ML100K_GENRES:
            out.append(token)
    return out


def _movielens_original(p: Path, threshold: float | None) -> Dataset:
    data = _need(p, "u.data")
    ev = pd.read_csv(data, sep="\t", header=None, names=["u", "i", "r", "t"], dtype=str)
    events = _rating_events(ev["u"], ev["i"], ev["r"], ev["t"], threshold)
    users = items = None
    if (p / "u.user").is_file():
        u = pd.read_csv(p / "u.user", sep="|", header=None, dtype=str, keep_default_na=False)
        users = _ml_users(u[0], u[1], u[2], u[3], u[4])
    if (p / "u.item").is_file():
        it = pd.read_csv(
            p / "u.item", sep="|", header=None, dtype=str, encoding="latin-1", keep_default_na=False
        )
        flags = it.iloc[:, 5:24].to_numpy() == "1"
        genres = [[g for g, f in zip(ML100K_GENRES, row, strict=True) if f] for row in flags]
        years = [d[-4:] if len(d) >= 4 and d[-4:].isdigit() else "" for d in it[2]]
        items = pd.DataFrame(
            {
                "item_id": it[0].astype(object),
                "title": [re.sub(r"\s*\(\d{4}\)$", "", t) for t in it[1]],
                "category": [g[0] if g else None for g in genres],
                "tags": genres,
                "attributes": [{"release_year": int(y)} if y else {} for y in years],
            }
        )
    return Dataset("movielens", users=users, items=items, events=events)


# ---- Open Bandit Dataset ----------------------------------------------------------------------
def read_obd(path: str | Path) -> Dataset:
    """Open Bandit Dataset logs (``<campaign>.csv`` plus ``item_context.csv``).

    Each logged round becomes a ``campaign_impression`` of the shown item at its position, with
    ``policy`` = the logging policy (the folder name: ``random`` or ``bts``), ``propensity`` =
    ``propensity_score`` and ``session_id`` = ``obd-<campaign>-<round>``; a ``click`` event with
    the same fields follows when ``click`` = 1. The campaign is ``obd-<campaign>``. OBD has no
    user ids: the user is the hash of the four hashed user features, which become the user's
    attributes; the per-round features and user-item affinities are kept in ``extras["context"]``
    (keyed by session_id). Items carry ``item_feature_*`` as attributes.
    """
    p = Path(path)
    if p.is_dir():
        logs = sorted(f for f in p.glob("*.csv") if f.name != "item_context.csv")
        if not logs:
            raise ConfigError(f"{p}: no OBD log CSV found", hint="point at obd/random/all")
        log = logs[0]
    else:
        log = p
    name = log.stem
    policy = log.parent.parent.name if log.parent.parent.name in ("random", "bts") else "random"
    df = pl.read_csv(log, infer_schema_length=0)
    if "" in df.columns:
        df = df.drop("")
    n = df.height
    ufeat = [c for c in df.columns if c.startswith("user_feature_")]
    key = df.select(pl.concat_str([pl.col(c).fill_null("") for c in ufeat], separator="|"))
    user_ids = [
        "obd-u-" + hashlib.blake2b(k.encode(), digest_size=8).hexdigest()
        for k in key.to_series().to_list()
    ]
    ts = df["timestamp"].str.to_datetime(time_zone="UTC", time_unit="us")
    campaign_id = f"obd-{name}"
    session = [f"obd-{name}-{i}" for i in range(n)]
    base = pd.DataFrame(
        {
            "user_id": user_ids,
            "timestamp": ts.to_pandas(),
            "campaign_id": campaign_id,
            "item_id": df["item_id"].to_list(),
            "position": df["position"].cast(pl.Int64).to_list(),
            "policy": policy,
            "propensity": df["propensity_score"].cast(pl.Float64).to_list(),
            "session_id": session,
        }
    )
    impressions = base.assign(event_type="campaign_impression")
    clicked = (df["click"].cast(pl.Int64) == 1).to_numpy()
    clicks = base[clicked].assign(event_type="click")
    events = pd.concat([impressions, clicks], ignore_index=True)
    users = (
        pd.DataFrame({"user_id": user_ids, **{c: df[c].to_list() for c in ufeat}})
        .drop_duplicates("user_id")
        .reset_index(drop=True)
    )
    users = pd.DataFrame(
        {
            "user_id": users["user_id"],
            "attributes": users[ufeat].to_dict("records"),
        }
    )
    items = None
    ctx_path = log.parent / "item_context.csv"
    if ctx_path.is_file():
        ctx = pl.read_csv(ctx_path, infer_schema_length=0)
        if "" in ctx.columns:
            ctx = ctx.drop("")
        feats = [c for c in ctx.columns if c.startswith("item_feature_")]
        items = pd.DataFrame(
            {
                "item_id": ctx["item_id"].to_list(),
                "attributes": ctx.select(feats).to_dicts(),
            }
        )
    campaigns = pd.DataFrame(
        {
            "campaign_id": [campaign_id],
            "name": [f"Open Bandit Dataset ({policy}, {name})"],
            "type": ["custom"],
            "item_ids": [sorted(set(df["item_id"].to_list()), key=_natural)],
            "start_time": [ts.min()],
            "end_time": [_as_datetime(ts.max()) + timedelta(seconds=1)],
        }
    )
    context_cols = [c for c in df.columns if c.startswith(("user_feature_", "user-item_affinity_"))]
    context = pd.DataFrame({"session_id": session, **{c: df[c].to_list() for c in context_cols}})
    return Dataset(
        "obd",
        users=users,
        items=items,
        campaigns=campaigns,
        events=events,
        extras={"context": context},
    )


def _as_datetime(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise ConfigError(f"expected a timestamp, got {value!r}", hint="check the log's timestamps")
    return value


def _natural(x: str) -> tuple[int, str]:
    return (int(x), x) if x.isdigit() else (1 << 62, x)


# ---- Taobao UserBehavior ----------------------------------------------------------------------
TAOBAO_BEHAVIOURS = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}


def read_taobao(path: str | Path) -> Dataset:
    """Taobao UserBehavior CSV (no header): user_id, item_id, category_id, behaviour, epoch s.

    Behaviours map pv -> view, cart -> add_to_cart, fav -> favorite, buy -> purchase (others are
    kept as written and quarantined as unknown event types). Items carry their category id;
    users are the distinct user ids.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.csv"))
        if not files:
            raise ConfigError(f"{p}: no UserBehavior CSV found", hint="point at the CSV file")
        p = files[0]
    df = pl.read_csv(
        p,
        has_header=False,
        new_columns=["user_id", "item_id", "category_id", "behavior", "ts"],
        infer_schema_length=0,
    )
    events = pd.DataFrame(
        {
            "user_id": df["user_id"].to_list(),
            "item_id": df["item_id"].to_list(),
            "event_type": df["behavior"].replace(TAOBAO_BEHAVIOURS).to_list(),
            "timestamp": df["ts"].to_list(),  # epoch seconds as text: validation parses them
        }
    )
    items_pl = df.select("item_id", pl.col("category_id").alias("category")).unique(
        "item_id", keep="last", maintain_order=True
    )
    items = items_pl.to_pandas()
    users = pd.DataFrame({"user_id": df["user_id"].unique(maintain_order=True).to_list()})
    return Dataset("taobao", users=users, items=items, events=events)


# ---- CDNOW --------------------------------------------------------------------------------------
CDNOW_ITEM = "cdnow-cd"


def read_cdnow(path: str | Path) -> Dataset:
    """CDNOW master file: whitespace-separated ``customer date(YYYYMMDD) n_cds dollars``.

    Each line becomes a ``purchase`` of the one placeholder item ``cdnow-cd`` (CDNOW does not
    name the CDs) with ``quantity`` = number of CDs, ``revenue`` = dollar value and a timestamp at
    midnight UTC of the date. CDNOW has no order id, so none is made up: an order is a distinct
    purchase timestamp, i.e. a customer's purchase day (the definition of frequency in
    docs/profiles.md, and the day-level count of Fader and Hardie's papers). Each line keeps its
    own ``event_id`` = ``cdnow:<customer>:<date>:<k>`` (k counts the customer's lines that day),
    so that two lines of one day stay two events and re-importing the file stores them once.
    """
    p = Path(path)
    if p.is_dir():
        p = _need(p, "CDNOW_master.txt", "CDNOW_sample.txt")
    rows = []
    with open(p, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4 and parts[1].isdigit():
                rows.append(parts[-4:] if len(parts) == 4 else [parts[0], *parts[-3:]])
    df = pd.DataFrame(rows, columns=["customer", "date", "n", "dollars"])
    k = df.groupby(["customer", "date"]).cumcount()
    events = pd.DataFrame(
        {
            "user_id": df["customer"],
            "event_type": "purchase",
            "timestamp": pd.to_datetime(df["date"], format="%Y%m%d", utc=True, errors="coerce"),
            "item_id": CDNOW_ITEM,
            "quantity": df["n"],
            "revenue": df["dollars"],
            "event_id": "cdnow:" + df["customer"] + ":" + df["date"] + ":" + k.astype(str),
        }
    )
    users = pd.DataFrame({"user_id": df["customer"].drop_duplicates().reset_index(drop=True)})
    items = pd.DataFrame(
        {
            "item_id": [CDNOW_ITEM],
            "title": ["CD (CDNOW does not name the title)"],
            "category": ["music/cd"],
        }
    )
    return Dataset("cdnow", users=users, items=items, events=events)


# ---- Hillstrom --------------------------------------------------------------------------------
HILLSTROM_START = datetime(2008, 3, 3, tzinfo=UTC)  # nominal: the data carries no dates
HILLSTROM_ITEM = "hillstrom-site"
HILLSTROM_ARMS = {"Mens E-Mail": "hillstrom-mens", "Womens E-Mail": "hillstrom-womens"}


def read_hillstrom(path: str | Path) -> Dataset:
    """Kevin Hillstrom's MineThatData e-mail test (64,000 customers, randomised).

    Users ``h00001`` ... carry the pre-period features (recency, history, mens, womens, zip code,
    newbie, channel) and the assignment ``hillstrom_segment`` as attributes. There is one
    campaign per e-mail arm (``hillstrom-mens``, ``hillstrom-womens``). A treated customer gets a
    ``campaign_impression`` of their arm at the nominal send time (2008-03-03, the data has no
    dates) with ``policy`` = ``hillstrom-random``, ``variant`` = the arm and ``propensity`` = 1/3
    (the test split customers evenly into men's, women's and no e-mail). A visit becomes a
    ``click`` on the placeholder item ``hillstrom-site`` and a conversion a ``purchase`` with the
    spend as revenue, both timed one week after the send (inside the two-week outcome window).
    Control customers have no impression; their segment attribute says so.
    """
    p = Path(path)
    if p.is_dir():
        p = _need(p, "hillstrom.csv")
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    n = len(df)
    user_ids = pd.Series([f"h{i + 1:05d}" for i in range(n)], dtype=object)
    features = [
        "recency",
        "history_segment",
        "history",
        "mens",
        "womens",
        "zip_code",
        "newbie",
        "channel",
    ]
    numeric = {"recency", "history", "mens", "womens", "newbie"}
    attrs = []
    for rec in df[[*features, "segment"]].to_dict("records"):
        a: dict[str, Any] = {}
        for k in features:
            v = rec[k]
            a[k] = float(v) if k in numeric and v != "" else v
        a["hillstrom_segment"] = rec["segment"]
        attrs.append(a)
    users = pd.DataFrame({"user_id": user_ids, "attributes": attrs})
    campaigns = pd.DataFrame(
        {
            "campaign_id": list(HILLSTROM_ARMS.values()),
            "name": ["Hillstrom men's merchandise e-mail", "Hillstrom women's merchandise e-mail"],
            "type": ["custom", "custom"],
            "start_time": [HILLSTROM_START, HILLSTROM_START],
            "end_time": [HILLSTROM_START + timedelta(days=14)] * 2,
        }
    )
    seg = df["segment"]
    treated = seg.isin(list(HILLSTROM_ARMS)).to_numpy()
    arm = seg.map(HILLSTROM_ARMS)
    impressions = pd.DataFrame(
        {
            "user_id": user_ids[treated].to_numpy(),
            "event_type": "campaign_impression",
            "timestamp": HILLSTROM_START,
            "campaign_id": arm[treated].to_numpy(),
            "policy": "hillstrom-random",
            "variant": arm[treated].str.replace("hillstrom-", "", regex=False).to_numpy(),
            "propensity": 1.0 / 3.0,
        }
    )
    outcome_time = HILLSTROM_START + timedelta(days=7)
    visit = (df["visit"] == "1").to_numpy()
    conv = (df["conversion"] == "1").to_numpy()
    clicks = pd.DataFrame(
        {
            "user_id": user_ids[visit].to_numpy(),
            "event_type": "click",
            "timestamp": outcome_time,
            "item_id": HILLSTROM_ITEM,
        }
    )
    purchases = pd.DataFrame(
        {
            "user_id": user_ids[conv].to_numpy(),
            "event_type": "purchase",
            "timestamp": outcome_time,
            "item_id": HILLSTROM_ITEM,
            "revenue": df["spend"][conv].to_numpy(),
            "order_id": (user_ids[conv] + "-conversion").to_numpy(),
        }
    )
    events = pd.concat([impressions, clicks, purchases], ignore_index=True)
    items = pd.DataFrame(
        {"item_id": [HILLSTROM_ITEM], "title": ["Hillstrom web site (any purchase)"]}
    )
    return Dataset("hillstrom", users=users, items=items, campaigns=campaigns, events=events)


# ---- The Complete Journey ---------------------------------------------------------------------
def read_completejourney(path: str | Path) -> Dataset:
    """The Complete Journey (84.51°) Parquet tables.

    households -> users (demographics as ``age_band`` and attributes); products -> items
    (category ``department/product_category/product_type``, brand, manufacturer and package size
    as attributes); transactions -> ``purchase`` events (``order_id`` = basket_id, quantity,
    revenue = sales_value, price = sales_value / quantity); campaign_descriptions -> campaigns
    (type ``coupon``, the products of their coupons as ``item_ids``); the campaigns table (who was
    targeted) -> ``campaign_impression`` at the campaign's start; coupon_redemptions ->
    ``coupon_redeem`` with ``order_id`` = ``coupon:<upc>``. Promotions (display and mailer
    placement per store and week) are not imported.
    """
    p = Path(path)

    def read(name: str) -> pl.DataFrame:
        return pl.read_parquet(_need(p, f"{name}.parquet"))

    tx = read("transactions")
    demo = read("demographics") if (p / "demographics.parquet").is_file() else None
    households = tx["household_id"].unique().cast(pl.String)
    if demo is not None:
        households = pl.concat([households, demo["household_id"].cast(pl.String)]).unique()
    users = pd.DataFrame({"user_id": sorted(households.to_list(), key=_natural)})
    if demo is not None:
        d = demo.with_columns(pl.col("household_id").cast(pl.String)).to_pandas()
        d = d.set_index("household_id")
        attr_cols = [c for c in d.columns if c != "age"]
        recs = d[attr_cols].astype(object).where(d[attr_cols].notna(), None).to_dict("index")
        users["age_band"] = users["user_id"].map(d["age"]).astype(object)
        attrs = [
            {k: v for k, v in recs.get(u, {}).items() if v is not None} for u in users["user_id"]
        ]
        users["attributes"] = pd.Series(attrs, dtype=object)
        users["age_band"] = users["age_band"].where(users["age_band"].notna(), None)
    items = None
    if (p / "products.parquet").is_file():
        prod = read("products")

        def level(c: str) -> pl.Expr:
            return pl.col(c).fill_null("").str.replace_all("/", ", ")

        cat = pl.concat_str(
            [level("department"), level("product_category"), level("product_type")],
            separator="/",
        ).str.strip_chars_end("/")
        prod = prod.with_columns(cat.alias("category"))
        items = pd.DataFrame(
            {
                "item_id": prod["product_id"].cast(pl.String).to_list(),
                "category": prod["category"].to_list(),
                "brand": prod["brand"].to_list(),
                "attributes": [
                    {k: v for k, v in r.items() if v is not None}
                    for r in prod.select(
                        pl.col("manufacturer_id").cast(pl.String), "package_size"
                    ).to_dicts()
                ],
            }
        )
    qty = tx["quantity"].cast(pl.Float64)
    sales = tx["sales_value"].cast(pl.Float64)
    price = pl.Series(
        np.where(qty.to_numpy() > 0, sales.to_numpy() / np.maximum(qty.to_numpy(), 1e-12), np.nan)
    )
    ts = tx["transaction_timestamp"]
    if getattr(ts.dtype, "time_zone", None) is None:
        ts = ts.dt.replace_time_zone("UTC")
    purchases = pl.DataFrame(
        {
            "user_id": tx["household_id"].cast(pl.String),
            "event_type": pl.Series(["purchase"] * tx.height),
            "timestamp": ts.cast(pl.Datetime("us", "UTC")),
            "item_id": tx["product_id"].cast(pl.String),
            "quantity": qty,
            "price": price.fill_nan(None),
            "revenue": sales,
            "order_id": tx["basket_id"].cast(pl.String),
        }
    )
    frames = [purchases]
    campaigns = None
    if (p / "campaign_descriptions.parquet").is_file():
        desc = read("campaign_descriptions").with_columns(pl.col("campaign_id").cast(pl.String))
        covered: dict[str, list[str]] = {}
        if (p / "coupons.parquet").is_file():
            cp = (
                read("coupons")
                .select(pl.col("campaign_id").cast(pl.String), pl.col("product_id").cast(pl.String))
                .unique()
                .group_by("campaign_id")
                .agg(pl.col("product_id").sort())
            )
            covered = dict(
                zip(cp["campaign_id"].to_list(), cp["product_id"].to_list(), strict=True)
            )
        start = desc["start_date"].dt.replace_time_zone("UTC")
        end = desc["end_date"].dt.replace_time_zone("UTC")
        campaigns = pd.DataFrame(
            {
                "campaign_id": desc["campaign_id"].to_list(),
                "name": [
                    f"Campaign {c} ({t})"
                    for c, t in zip(desc["campaign_id"], desc["campaign_type"], strict=True)
                ],
                "type": "coupon",
                "start_time": start.to_pandas(),
                "end_time": end.to_pandas(),
                "item_ids": [covered.get(c, []) for c in desc["campaign_id"].to_list()],
            }
        )
        if (p / "campaigns.parquet").is_file():
            targ = read("campaigns").with_columns(pl.col("campaign_id").cast(pl.String))
            targ = targ.join(
                desc.select("campaign_id", pl.col("start_date").alias("start")),
                on="campaign_id",
                how="left",
            )
            frames.append(
                pl.DataFrame(
                    {
                        "user_id": targ["household_id"].cast(pl.String),
                        "event_type": pl.Series(["campaign_impression"] * targ.height),
                        "timestamp": targ["start"]
                        .dt.replace_time_zone("UTC")
                        .cast(pl.Datetime("us", "UTC")),
                        "campaign_id": targ["campaign_id"],
                    }
                )
            )
    if (p / "coupon_redemptions.parquet").is_file():
        red = read("coupon_redemptions")
        frames.append(
            pl.DataFrame(
                {
                    "user_id": red["household_id"].cast(pl.String),
                    "event_type": pl.Series(["coupon_redeem"] * red.height),
                    "timestamp": red["redemption_date"]
                    .dt.replace_time_zone("UTC")
                    .cast(pl.Datetime("us", "UTC")),
                    "campaign_id": red["campaign_id"].cast(pl.String),
                    "order_id": "coupon:" + red["coupon_upc"].cast(pl.String),
                }
            )
        )
    events = pl.concat(frames, how="diagonal").to_pandas()
    return Dataset("completejourney", users=users, items=items, campaigns=campaigns, events=events)


ADAPTERS: dict[str, Callable[[Path], Dataset]] = {
    "movielens": read_movielens,
    "obd": read_obd,
    "taobao": read_taobao,
    "cdnow": read_cdnow,
    "hillstrom": read_hillstrom,
    "completejourney": read_completejourney,
}


def read_dataset(name: str, path: str | Path) -> Dataset:
    """Read a data set with the adapter ``name`` (one of :data:`ADAPTERS`)."""
    if name not in ADAPTERS:
        raise ConfigError(
            f"no dataset adapter named {name!r}", hint=f"use one of {', '.join(sorted(ADAPTERS))}"
        )
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"path {str(p)!r} does not exist", hint="check the data set path")
    return ADAPTERS[name](p)
