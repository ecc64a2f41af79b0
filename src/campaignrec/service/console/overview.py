"""Console: the Overview page and its live events chart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from campaignrec.errors import CampaignrecError
from campaignrec.pipeline.profiles import profiles_dir
from campaignrec.pipeline.training import active_model_row
from campaignrec.service.console.analytics import shop_analytics
from campaignrec.service.console.common import (
    DAY_US,
    EVENT_DAYS,
    _admin_key,
    _as_datetime,
    _bar,
    _chart,
    _date_axis,
    _finite,
    _guard,
    _lang,
    _nan_to_none,
    _render,
    _session,
    _state,
    router,
)
from campaignrec.service.console.i18n import Formatter, translate
from campaignrec.service.state import ServiceState

# ---- overview ---------------------------------------------------------------------------------


def events_per_day(state: ServiceState) -> list[tuple[str, int]]:
    """Events per UTC day over the :data:`EVENT_DAYS` days up to the latest event (an imported
    history may end long before today): two SQL queries, a max and a grouped count."""
    events = state.store.tables.events
    with state.store.engine.connect() as conn:
        last = conn.execute(select(func.max(events.c.timestamp))).scalar_one()
        if last is None:
            return []
        since = (int(last) // DAY_US - EVENT_DAYS + 1) * DAY_US
        day = (events.c.timestamp // DAY_US).label("day")  # integer division on every backend
        query = (
            select(day, func.count()).where(events.c.timestamp >= since).group_by(day).order_by(day)
        )
        rows = conn.execute(query).all()
    return [
        (datetime.fromtimestamp(int(d) * 86400, UTC).date().isoformat(), int(n)) for d, n in rows
    ]


MINUTE_US = 60_000_000
LIVE_MINUTES = 60


def events_per_minute(state: ServiceState, now: datetime) -> tuple[list[str], list[int]]:
    """Events per minute over the :data:`LIVE_MINUTES` minutes up to ``now`` (zeros included)."""
    events = state.store.tables.events
    end = int(now.timestamp() * 1_000_000) // MINUTE_US
    start = end - LIVE_MINUTES + 1
    minute = (events.c.timestamp // MINUTE_US).label("minute")
    query = (
        select(minute, func.count()).where(events.c.timestamp >= start * MINUTE_US).group_by(minute)
    )
    with state.store.engine.connect() as conn:
        found = {int(m): int(n) for m, n in conn.execute(query).all()}
    minutes = list(range(start, end + 1))
    labels = [datetime.fromtimestamp(m * 60, UTC).isoformat() for m in minutes]
    return labels, [found.get(m, 0) for m in minutes]


def _live_chart(labels: list[str], counts: list[int]) -> str:
    return _chart(
        [{"type": "scatter", "mode": "lines", "fill": "tozeroy", "x": labels, "y": counts}],
        xaxis={"type": "date"},
        yaxis={"rangemode": "tozero"},
        height=220,
    )


@router.get("/api/live")
def live(request: Request) -> Response:
    """Events per minute for the Overview's live chart (polled by the page's script)."""
    if _admin_key(request, _session(request)) is None:
        return JSONResponse({"error": {"code": "unauthorized", "message": "log in"}}, 401)
    labels, counts = events_per_minute(_state(request), datetime.now(UTC))
    return JSONResponse({"x": labels, "y": counts}, headers={"Cache-Control": "no-store"})


def revenue_per_day(state: ServiceState) -> list[tuple[str, float]]:
    """Purchase revenue per UTC day over the :data:`EVENT_DAYS` days up to the latest event."""
    events = state.store.tables.events
    with state.store.engine.connect() as conn:
        last = conn.execute(select(func.max(events.c.timestamp))).scalar_one()
        if last is None:
            return []
        since = (int(last) // DAY_US - EVENT_DAYS + 1) * DAY_US
        day = (events.c.timestamp // DAY_US).label("day")
        query = (
            select(day, func.sum(events.c.revenue))
            .where(events.c.timestamp >= since, events.c.event_type == "purchase")
            .group_by(day)
            .order_by(day)
        )
        rows = conn.execute(query).all()
    return [
        (datetime.fromtimestamp(int(d) * 86400, UTC).date().isoformat(), float(v or 0.0))
        for d, v in rows
    ]


def _age(lang: str, then: datetime, now: datetime) -> str:
    from babel.dates import format_timedelta

    from campaignrec.service.console.i18n import LOCALES

    return str(
        format_timedelta(then - now, locale=LOCALES[lang], add_direction=True)
    )  # past: "ago"


def _roi(roi: pd.DataFrame, since: str, lang: str) -> dict[str, Any] | None:
    """Campaign ROI over time (:func:`campaignrec.campaigns.roi.roi_over_time`) from the day
    ``since``: cost of redeemed coupons and incremental revenue per day as bars, the cumulative
    ROI (over the whole log) as a line; the totals."""
    if roi.empty:
        return None
    roi = roi[roi["day"].astype(str) >= since]
    if roi.empty:
        return None
    days = list(roi["day"])
    chart = _chart(
        [
            {
                "type": "bar",
                "x": days,
                "y": _nan_to_none(roi["cost"]),
                "name": translate(lang, "roi_cost"),
                "marker": {"color": "#d95f02"},
            },
            {
                "type": "bar",
                "x": days,
                "y": _nan_to_none(roi["incremental_revenue"]),
                "name": translate(lang, "roi_incremental"),
                "marker": {"color": "#1b9e77"},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": days,
                "y": _nan_to_none(roi["cumulative_roi"]),
                "name": translate(lang, "roi_cumulative"),
                "yaxis": "y2",
                "line": {"color": "#2f6fde"},
                "connectgaps": True,
            },
        ],
        barmode="group",
        xaxis=_date_axis(days),
        yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "showgrid": False},
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 48, "r": 56, "t": 16, "b": 48},
    )
    last = roi.iloc[-1]
    fmt = Formatter(lang)
    return {
        "chart": chart,
        "cost": fmt.money(_finite(last["cumulative_cost"])),
        "incremental": fmt.money(_finite(last["cumulative_incremental"])),
        "roi": fmt.percent(_finite(last["cumulative_roi"])),
    }


@router.get("/overview")
def overview(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, _key = guard
    state = _state(request)
    now = datetime.now(UTC)
    live = [c for c in state.catalog.get().live(now) if c.status == "active"]
    counts = [
        ("count_users", state.store.count("users")),
        ("count_items", state.store.count("items")),
        ("count_events", state.store.count("events")),
        ("count_active_campaigns", len(live)),
    ]
    model = None
    try:
        row = active_model_row(state.store)
    except CampaignrecError:
        row = None
    if row is not None:
        created_dt = _as_datetime(row.get("created_at"))
        model = {
            "name": row["name"],
            "version": row["version"],
            "created": created_dt,
            "age": _age(_lang(request), created_dt, now) if created_dt else "",
        }
    lang = _lang(request)
    per_day = events_per_day(state)
    chart = rates_chart = revenue_chart = None
    roi: dict[str, Any] | None = None
    if per_day:
        chart = _bar(
            [d for d, _ in per_day],
            [n for _, n in per_day],
            "#2f6fde",
            name=translate(lang, "events_per_day"),
            dates=True,
        )
        found = shop_analytics(state.store, profiles_dir(state.settings.home))
        by_day = found.by_day[found.by_day["day"] >= per_day[0][0]]
        if len(by_day):
            rates_chart = _chart(
                [
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "x": list(by_day["day"]),
                        "y": _nan_to_none(by_day[column]),
                        "name": translate(lang, key),
                    }
                    for column, key in (("view_to_click", "ctr"), ("overall", "conversion"))
                ],
                xaxis={"type": "date"},
                yaxis={"tickformat": ".0%", "rangemode": "tozero"},
                legend={"orientation": "h", "y": -0.25},
            )
        revenue = revenue_per_day(state)
        if revenue:
            revenue_chart = _bar(
                [d for d, _ in revenue], [v for _, v in revenue], "#1b9e77", dates=True
            )
        roi = _roi(found.roi, per_day[0][0], lang)
    return _render(
        request,
        "overview.html",
        session,
        title_key="overview_title",
        active="nav_overview",
        counts=counts,
        model=model,
        events_chart=chart,
        live_chart=_live_chart(*events_per_minute(state, now)),
        rates_chart=rates_chart,
        revenue_chart=revenue_chart,
        roi=roi,
        charts=True,
    )
