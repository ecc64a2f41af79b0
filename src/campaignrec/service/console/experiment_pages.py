"""Console: the Experiments list, one experiment's results, and creating an experiment.

The form is read into the canonical :class:`~campaignrec.experiments.registry.ExperimentSpec`
and saved through the API's own ``POST /v1/experiments`` function, so an experiment made here is
validated, given its range of the layer and listed by ``GET /v1/experiments`` like any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError as PydanticValidationError

from campaignrec.errors import CampaignrecError, UnknownIdError
from campaignrec.errors import ValidationError as CampaignrecValidationError
from campaignrec.experiments.registry import METRICS, ExperimentSpec
from campaignrec.service.console.common import (
    PREFIX,
    _checked_form,
    _guard,
    _lang,
    _message,
    _render,
    _state,
    router,
)
from campaignrec.service.console.forms import _local, _number, _time, filled
from campaignrec.service.console.i18n import translate
from campaignrec.service.console.session import Session
from campaignrec.service.console.validation import field_errors, sentence
from campaignrec.service.errors import ApiError
from campaignrec.service.routers import experiments as experiments_api

#: Variant rows the form offers (an experiment has 2 to 20; the API takes more than the form).
VARIANT_ROWS = 4
TEXT_FIELDS = ("experiment_id", "name", "layer", "control")
SHARE_FIELDS = ("traffic", "holdout_share")
VARIANT_FIELDS = tuple(
    f"variant_{part}_{n}" for n in range(VARIANT_ROWS) for part in ("name", "share", "config")
)
FORM_FIELDS = (
    *TEXT_FIELDS,
    *SHARE_FIELDS,
    "start_time",
    "end_time",
    "primary_metric",
    *VARIANT_FIELDS,
)


def _variants(
    form: Mapping[str, str], errors: dict[str, str], lang: str
) -> tuple[list[dict[str, Any]], list[int]]:
    """The filled variant rows (a row with neither name nor share is left out) and, per variant,
    the form row it came from (so an error lands beside its row)."""
    out: list[dict[str, Any]] = []
    rows: list[int] = []
    for n in range(VARIANT_ROWS):
        name = form.get(f"variant_name_{n}", "").strip()
        share = form.get(f"variant_share_{n}", "").strip()
        raw = form.get(f"variant_config_{n}", "").strip()
        if not name and not share and not raw:
            continue
        variant: dict[str, Any] = {"name": name, "share": _number(share) if share else 1.0}
        if raw:
            try:
                config = json.loads(raw)
            except json.JSONDecodeError as exc:
                msg = f"not valid JSON: {exc.msg} (line {exc.lineno})"
                errors[f"variant_config_{n}"] = sentence(msg, lang)
                config = {}
            if not isinstance(config, dict):
                errors[f"variant_config_{n}"] = sentence("not a JSON object", lang)
                config = {}
            variant["config"] = config
        out.append(variant)
        rows.append(n)
    return out, rows


def _locate(rows: list[int]) -> Any:
    def where(loc: tuple[Any, ...], message: str) -> str:
        if len(loc) >= 3 and loc[0] == "variants" and isinstance(loc[1], int):
            part = "config" if loc[2] == "config" else str(loc[2])
            return f"variant_{part}_{rows[loc[1]] if loc[1] < len(rows) else 0}"
        named = re.match(r"variants\.(\d+)\.(name|share|config)\b", message)
        if named and int(named.group(1)) < len(rows):  # a check of what a variant serves
            return f"variant_{named.group(2)}_{rows[int(named.group(1))]}"
        if loc:
            return str(loc[0])
        for key, field in (
            ("variant names", "variants"),
            ("control", "control"),
            ("end_time", "end_time"),
            ("primary metric", "primary_metric"),
        ):
            if key in message:
                return field
        return "_form"

    return where


def experiment_from_form(
    form: Mapping[str, str], lang: str = "en"
) -> tuple[ExperimentSpec | None, dict[str, str]]:
    """The experiment a form describes, or None and each wrong field's reason in ``lang``.

    Shares are fractions (traffic 0.5 is half the layer's shoppers); times are UTC; a variant
    row's configuration is a JSON object (``{"model_version": "v3"}``)."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        **filled(form, (*TEXT_FIELDS, "primary_metric")),
        **filled(form, SHARE_FIELDS, _number),
        **filled(form, ("start_time", "end_time"), _time),
    }
    body["variants"], rows = _variants(form, errors, lang)
    try:
        spec = ExperimentSpec.model_validate(body)
    except PydanticValidationError as exc:
        for where, msg in field_errors(exc, lang, _locate(rows)).items():
            errors.setdefault(where, msg)
        return None, errors
    if errors:
        return None, errors
    return spec, {}


def blank_experiment(now: datetime) -> dict[str, str]:
    """A new experiment's starting values: control and treatment, half each, for two weeks."""
    return {
        "layer": "default",
        "traffic": "1",
        "holdout_share": "0",
        "primary_metric": "conversion",
        "start_time": _local(now),
        "end_time": _local(now + timedelta(days=14)),
        "variant_name_0": "control",
        "variant_share_0": "1",
        "variant_name_1": "treatment",
        "variant_share_1": "1",
    }


@router.get("/experiments")
def experiments_page(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    found = experiments_api.list_all(_state(request), key, layer=None).experiments
    return _render(
        request,
        "experiments.html",
        session,
        title_key="experiments_title",
        active="nav_experiments",
        experiments=found,
    )


def _form_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    lang = _lang(request)
    return _render(
        request,
        "experiment_form.html",
        session,
        title_key="experiment_new",
        active="nav_experiments",
        status_code=status_code,
        values=values,
        errors=errors or {},
        metrics=[(m, translate(lang, f"metric_{m}")) for m in METRICS],
        variant_rows=range(VARIANT_ROWS),
    )


@router.get("/experiments/new")
def new_experiment(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    return _form_page(request, guard[0], blank_experiment(datetime.now(UTC)))


@router.post("/experiments")
async def create_experiment(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    session, key, form = checked
    lang = _lang(request)
    values = {k: form.get(k, "") for k in FORM_FIELDS}
    spec, errors = experiment_from_form(form, lang)
    if spec is None:
        return _form_page(request, session, values, errors, 422)
    try:
        experiments_api.create(spec, _state(request), key)
    except ApiError as exc:  # 409: the id exists
        msg = translate(lang, "experiment_exists") if exc.status == 409 else exc.message
        return _form_page(request, session, values, {exc.field or "_form": msg}, exc.status)
    except CampaignrecValidationError as exc:  # the layer has no room in the window
        field = exc.field if exc.field in FORM_FIELDS else "_form"
        return _form_page(request, session, values, {field: sentence(exc.reason, lang)}, 422)
    return RedirectResponse(f"{PREFIX}/experiments?done=experiment_created", status_code=303)


@router.get("/experiments/{experiment_id}")
def experiment_page(request: Request, experiment_id: str) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    state = _state(request)
    try:
        exp = experiments_api.read(experiment_id, state, key)
        result = experiments_api.results(experiment_id, state, key, at=None)
    except (CampaignrecError, ApiError) as exc:
        status = 404 if isinstance(exc, UnknownIdError) else 422
        return _render(
            request,
            "message.html",
            session,
            title_key="error",
            status_code=status,
            message=_message(exc),
        )
    return _render(
        request,
        "experiment.html",
        session,
        title_key="experiments_title",
        active="nav_experiments",
        exp=exp,
        result=result,
        variants=list(result.get("variants", {}).items()),
    )
