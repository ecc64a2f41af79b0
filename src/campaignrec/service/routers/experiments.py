"""``/v1/experiments``: create, list, read, and the results of an experiment.

A body is :class:`campaignrec.experiments.registry.ExperimentSpec`; the stored experiment adds the
range of its layer it was given. Creating needs the ``admin`` scope; an existing id is 409 (a
definition is never overwritten: the decision log refers to it), a layer without room in the
window is 422 naming ``traffic``. A created experiment is served at once by this worker and by the
others at their next check (:class:`campaignrec.service.state.ServiceState`). Results are
computed from the store's events on each request
(:func:`campaignrec.experiments.results.experiment_results`; an interleaving experiment's
credits per ranker: :mod:`campaignrec.experiments.interleaved_results`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from campaignrec.experiments.registry import (
    Experiment,
    ExperimentSpec,
    create_experiment,
    get_experiment,
    list_experiments,
)
from campaignrec.experiments.results import experiment_results
from campaignrec.service.deps import AdminKey, ReadKey, State
from campaignrec.service.errors import ApiError

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])
ExperimentId = Annotated[str, Path(min_length=1, max_length=64)]


class ExperimentListOut(BaseModel):
    experiments: list[Experiment]


@router.post("", response_model=Experiment, status_code=201, responses={409: {}})
def create(spec: ExperimentSpec, state: State, _key: AdminKey) -> Experiment:
    from campaignrec.store.experiments import ExperimentRepository

    if ExperimentRepository(state.store).get(spec.experiment_id) is not None:
        raise ApiError(
            409,
            "conflict",
            f"experiment '{spec.experiment_id}' exists: definitions are never overwritten",
            field="experiment_id",
        )
    made = create_experiment(state.store, spec)
    state.experiments_changed()  # served by this worker at once, by the others at their check
    return made


@router.get("", response_model=ExperimentListOut)
def list_all(
    state: State,
    _key: ReadKey,
    layer: Annotated[str | None, Query(max_length=64, description="only this layer")] = None,
) -> ExperimentListOut:
    return ExperimentListOut(experiments=list_experiments(state.store, layer=layer))


@router.get("/{experiment_id}", response_model=Experiment)
def read(experiment_id: ExperimentId, state: State, _key: ReadKey) -> Experiment:
    return get_experiment(state.store, experiment_id)


@router.get("/{experiment_id}/results")
def results(
    experiment_id: ExperimentId,
    state: State,
    _key: ReadKey,
    at: Annotated[
        datetime | None, Query(description="the moment to analyse at (default now), with a zone")
    ] = None,
) -> dict[str, Any]:
    if at is not None and at.tzinfo is None:
        raise ApiError(422, "validation_error", "at: needs a timezone", field="at")
    state.exposures.flush()  # this worker's decision log is in the store before the analysis
    return experiment_results(state.store, experiment_id, at=at)
