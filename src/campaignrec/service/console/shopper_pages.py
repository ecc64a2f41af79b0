"""Console: shopper lookup, the Shoppers analytics and the Models page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from campaignrec.errors import CampaignrecError, UnknownIdError
from campaignrec.pipeline.campaigns import check_eligibility
from campaignrec.pipeline.profiles import has_saved_profiles, profiles_dir
from campaignrec.pipeline.retrain import last_decision
from campaignrec.profiles.pipeline import load_profiles
from campaignrec.service.console.analytics import FLOW_DAYS, shop_analytics
from campaignrec.service.console.common import (
    PREFIX,
    PROFILE_CARD,
    _as_datetime,
    _bar,
    _chart,
    _checked_form,
    _finite,
    _guard,
    _lang,
    _message,
    _nan_to_none,
    _render,
    _state,
    router,
)
from campaignrec.service.console.i18n import Formatter, translate
from campaignrec.service.errors import ApiError
from campaignrec.service.routers import models as models_api
from campaignrec.service.routers import users as users_api
from campaignrec.service.schemas import ActivateIn
from campaignrec.service.state import ServiceState

# ---- shopper lookup -----------------------------------------------------------------------------


def _card_value(fmt: Formatter, key: str, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:8]) or "—"
    if key == "monetary":
        return fmt.money(value)
    if key == "p_purchase_30d":
        return fmt.percent(value)
    if isinstance(value, float):
        return fmt.number(value, 2)
    return str(value)


@router.get("/lookup")
def lookup(request: Request, user_id: str = "") -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    user_id = user_id.strip()[:256]
    context: dict[str, Any] = {"user_id": user_id}
    if user_id:
        state = _state(request)
        lang = _lang(request)
        fmt = Formatter(lang)
        prof = users_api.profile(user_id, state, key)
        attrs = prof.attributes
        context["known"] = prof.known
        context["recent"] = prof.recent_items
        context["profile"] = [
            (k, _card_value(fmt, k, attrs[k])) for k in PROFILE_CARD if attrs.get(k) is not None
        ]
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        context["eligibility_error"] = None
        for c in state.catalog.get():
            try:
                res = check_eligibility(
                    state.store, c.campaign_id, state.stored_id(user_id), now, lambda: state.online
                )
            except UnknownIdError as exc:
                context["eligibility_error"] = str(exc)
                rows = []
                break
            rows.append(
                {
                    "campaign_id": c.campaign_id,
                    "name": (c.title_zh if lang == "zh" else c.title_en) or c.name,
                    "eligible": res.eligible,
                    "text": res.text(lang),
                }
            )
        context["eligibility"] = sorted(rows, key=lambda r: (not r["eligible"], r["campaign_id"]))
        try:
            context["recs"] = users_api.recommendations(
                user_id,
                state,
                key,
                k=10,
                context=None,
                item_id=None,
                session_id=None,
                exclude=None,
                categories=None,
                brands=None,
                price_min=None,
                price_max=None,
                diversity=None,
                lang=lang,
                accept_language=None,
            )
            context["recs_error"] = None
        except (ApiError, CampaignrecError) as exc:
            context["recs"], context["recs_error"] = None, _message(exc)
    return _render(
        request, "lookup.html", session, title_key="lookup_title", active="nav_lookup", **context
    )


# ---- shoppers and models ------------------------------------------------------------------------


def _heatmap(
    z: list[list[float | None]], x: list[Any], y: list[str], fmt: str, **layout: Any
) -> str:
    return _chart(
        [
            {
                "type": "heatmap",
                "z": z,
                "x": x,
                "y": y,
                "colorscale": "Blues",
                "reversescale": True,
                "hoverongaps": False,
                "texttemplate": fmt if len(x) * len(y) <= 150 else "",
                "showscale": False,
            }
        ],
        **layout,
    )


STAGE_COLORS = {
    "joined": "#9e9e9e",
    "new": "#66a61e",
    "active": "#1b9e77",
    "at_risk": "#e6ab02",
    "dormant": "#d95f02",
    "churned": "#a6761d",
}


def _faded(color: str, alpha: float = 0.35) -> str:
    """``#rrggbb`` as a translucent ``rgba(...)`` (the flow's bands take their source's colour)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _flow_chart(flow: pd.DataFrame, lang: str) -> str:
    """The lifecycle flow as a Sankey: stages at the first cut-off on the left, at the second
    on the right, a band per (before, after) pair as wide as its shoppers."""
    left = list(dict.fromkeys(str(v) for v in flow["before"]))
    right = list(dict.fromkeys(str(v) for v in flow["after"]))
    nodes = [*left, *right]
    return _chart(
        [
            {
                "type": "sankey",
                "arrangement": "snap",
                "node": {
                    "label": [translate(lang, f"lc_{n}") for n in nodes],
                    "color": [STAGE_COLORS.get(n, "#7570b3") for n in nodes],
                    "pad": 14,
                },
                "link": {
                    "color": [_faded(STAGE_COLORS.get(str(v), "#7570b3")) for v in flow["before"]],
                    "source": [left.index(str(v)) for v in flow["before"]],
                    "target": [len(left) + right.index(str(v)) for v in flow["after"]],
                    "value": [int(v) for v in flow["shoppers"]],
                },
            }
        ],
        margin={"l": 16, "r": 16, "t": 16, "b": 16},
    )


def _behaviour_charts(state: ServiceState, lang: str, profiles: pd.DataFrame) -> dict[str, str]:
    """The funnel by segment, the weekday x hour heatmap, cohort retention and the RFM grid."""
    from babel.dates import get_day_names

    from campaignrec.profiles.analytics import FUNNEL_STAGES
    from campaignrec.service.console.i18n import LOCALES

    out: dict[str, str] = {}
    found = shop_analytics(state.store, profiles_dir(state.settings.home))
    if found.by_segment is not None and len(found.by_segment):
        seg = found.by_segment
        out["funnel_chart"] = _chart(
            [
                {
                    "type": "bar",
                    "name": translate(lang, f"stage_{stage}"),
                    "x": [str(v) for v in seg["segment"]],
                    "y": [int(v) for v in seg[stage]],
                }
                for stage in FUNNEL_STAGES
            ],
            barmode="group",
            yaxis={"type": "log"},
            legend={"orientation": "h", "y": -0.3},
        )
    if len(found.flow):
        out["flow_chart"] = _flow_chart(found.flow, lang)
    hm = found.heatmap
    if len(hm):
        names = get_day_names("abbreviated", locale=LOCALES[lang])
        grid = hm.pivot_table(index="weekday", columns="hour", values="events", aggfunc="sum")
        grid = grid.reindex(index=range(7), columns=range(24), fill_value=0)
        out["heatmap_chart"] = _heatmap(
            [[float(v) for v in row] for row in grid.to_numpy()],
            list(range(24)),
            [str(names[d]) for d in range(7)],
            "",
            yaxis={"autorange": "reversed"},
        )
    coh = found.cohorts
    if len(coh):
        coh = coh[coh["size"] > 0].tail(12)
        months = [c for c in coh.columns if c != "size"][:12]
        out["cohort_chart"] = _heatmap(
            [_nan_to_none(list(row)) for row in coh[months].to_numpy()],
            months,
            [str(i) for i in coh.index],
            "%{z:.0%}",
            xaxis={"title": {"text": translate(lang, "months_after")}},
            yaxis={"autorange": "reversed", "type": "category"},
        )
    if {"r_score", "f_score"} <= set(profiles.columns):
        rf = profiles.dropna(subset=["r_score", "f_score"])
        if len(rf):
            grid = pd.crosstab(rf["r_score"].astype(int), rf["f_score"].astype(int))
            out["rfm_grid_chart"] = _heatmap(
                [[float(v) for v in row] for row in grid.to_numpy()],
                [int(c) for c in grid.columns],
                [str(int(i)) for i in grid.index],
                "%{z}",
                xaxis={"title": {"text": translate(lang, "f_score")}, "type": "category"},
                yaxis={"title": {"text": translate(lang, "r_score")}, "type": "category"},
            )
    return out


@router.get("/shoppers")
def shoppers(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, _key = guard
    state = _state(request)
    lang = _lang(request)
    directory = profiles_dir(state.settings.home)
    context: dict[str, Any] = {"segments": []}
    if has_saved_profiles(directory):
        result = load_profiles(directory)
        profiles = result.profiles
        sizes = (
            profiles["segment"].value_counts().to_dict() if "segment" in profiles.columns else {}
        )
        segments = []
        if result.segments is not None:
            table = result.segments.table()
            for row in table.to_dict("records"):
                sid = row["segment"]
                segments.append(
                    {
                        "name": row["name_zh" if lang == "zh" else "name_en"],
                        "size": int(sizes.get(sid, 0)),
                        "description": row["description_zh" if lang == "zh" else "description_en"],
                    }
                )
        context["segments"] = segments
        context["segments_chart"] = _bar(
            [s["name"] for s in segments], [s["size"] for s in segments], "#2f6fde"
        )
        for column, name, color in (
            ("rfm_segment", "rfm_chart", "#1b9e77"),
            ("lifecycle", "lifecycle_chart", "#d95f02"),
        ):
            if column in profiles.columns:
                counts = profiles[column].dropna().astype(str).value_counts()
                labels = list(counts.index)
                if column == "lifecycle":  # the stages have names in both languages
                    labels = [translate(lang, f"lc_{v}") for v in labels]
                context[name] = _bar(labels, [int(v) for v in counts], color)
        context.update(_behaviour_charts(state, lang, profiles), flow_days=FLOW_DAYS)
        context["charts"] = bool(segments)
    return _render(
        request,
        "shoppers.html",
        session,
        title_key="shoppers_title",
        active="nav_shoppers",
        **context,
    )


@router.get("/models")
def models_page(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    state = _state(request)
    listed = models_api.list_models(state, key).models
    registry = state.store.list_models()
    extra = {(str(r["name"]), str(r["version"])): r for r in registry.to_dict("records")}
    rows = []
    for m in listed:
        r: dict[Any, Any] = extra.get((m.name, m.version)) or {}
        meta = r.get("meta")
        metrics = meta.get("metrics") if isinstance(meta, dict) else None
        metrics = metrics if isinstance(metrics, dict) else {}
        rows.append(
            {
                "name": m.name,
                "version": m.version,
                "active": m.active,
                "created": _as_datetime(r.get("created_at")),
                "metrics": [
                    (k, v) for k, v in sorted(metrics.items()) if isinstance(v, int | float)
                ][:6],
            }
        )
    rows.sort(key=lambda r: (r["name"], r["version"]), reverse=True)
    board, board_metric, board_version = _last_leaderboard(registry)
    gate = _last_gate_decision(state)
    return _render(
        request,
        "models.html",
        session,
        title_key="models_title",
        active="nav_models",
        models=rows,
        board=board,
        board_metric=board_metric,
        board_version=board_version,
        gate=gate,
    )


def _last_gate_decision(state: ServiceState) -> dict[str, Any] | None:
    """The retrain gate's last decision (:func:`campaignrec.pipeline.retrain.last_decision`):
    outcome, the sentence in both languages, versions, when, and the paired test's figures."""
    found = last_decision(state.store)
    if found is None:
        return None
    judgement = found.get("judgement")
    at = found.get("created_at")
    return {
        **found,
        "when": datetime.fromtimestamp(int(at) / 1e6, UTC) if at else None,
        "judgement": judgement if isinstance(judgement, dict) else {},
        "sentence": found.get("sentence") or {},
    }


def _last_leaderboard(registry: pd.DataFrame) -> tuple[list[dict[str, Any]], str, str]:
    """The validation leaderboard the newest ``campaignrec train`` chose its default from (kept
    in the trained version's ``meta.metrics.selection``): rows, metric name, version."""
    if registry.empty or "meta" not in registry.columns:
        return [], "", ""
    ordered = registry.sort_values("created_at") if "created_at" in registry else registry
    for record in reversed(ordered.to_dict("records")):
        meta = record.get("meta")
        metrics = meta.get("metrics") if isinstance(meta, dict) else None
        selection = metrics.get("selection") if isinstance(metrics, dict) else None
        board = selection.get("leaderboard") if isinstance(selection, dict) else None
        if isinstance(selection, dict) and isinstance(board, list) and board:
            validation = selection.get("validation") or {}
            rows = [
                {"rank": n, "name": str(r.get("name")), "score": _finite(r.get("score"))}
                for n, r in enumerate(board, 1)
                if isinstance(r, dict)
            ]
            return rows, str(validation.get("metric", "")), str(record.get("version"))
    return [], "", ""


@router.post("/models/activate")
async def activate_model(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    session, key, form = checked
    try:
        models_api.activate(
            form.get("name", ""), ActivateIn(version=form.get("version", "")), _state(request), key
        )
    except (CampaignrecError, ValueError) as exc:
        return _render(
            request,
            "message.html",
            session,
            title_key="error",
            status_code=404,
            message=_message(exc),
        )
    return RedirectResponse(f"{PREFIX}/models?done=model_activated", status_code=303)
