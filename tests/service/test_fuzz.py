"""A schema-driven fuzz run over the OpenAPI spec (schemathesis): no input gives a 500.

Every operation of ``/openapi.json`` gets generated requests (valid and invalid) with an admin
key; the one property checked is that the service answers with a 4xx or a 2xx, never a 5xx,
and that responses it documents match their schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from campaignrec.config import load_settings  # noqa: E402
from campaignrec.service.app import create_app  # noqa: E402
from campaignrec.service.state import ServiceState  # noqa: E402
from tests.service.conftest import build_shop, make_keys  # noqa: E402


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fuzz")
    build_shop(home)
    return home


@pytest.fixture(scope="module")
def admin_key(fuzz_home: Path) -> str:
    return make_keys(fuzz_home)["admin"]


@pytest.fixture(scope="module")
def api(fuzz_home: Path) -> Iterator[Any]:
    cfg = load_settings(fuzz_home, api_rate_per_second=1e6, api_rate_burst=1e6)
    app = create_app(cfg)
    app.state.service = ServiceState(cfg)  # the lifespan's work, done once for the module
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.service.close()


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_input_gives_a_server_error(api: Any, admin_key: str, mode: str) -> None:
    """Each operation, valid (schema-conforming) and invalid requests: never a 5xx.

    Runs the operations one by one with Hypothesis rather than through schemathesis' pytest
    plug-in (its lazy fixture loader does not run under pytest 9).
    """
    from schemathesis.generation import GenerationMode

    ops = _operations(api)
    assert len(ops) >= 8  # every route is in the spec
    headers = {"Authorization": f"Bearer {admin_key}"}
    failures: list[str] = []
    tried = 0
    for op in ops:
        strategy = op.as_strategy(generation_mode=GenerationMode(mode))

        @given(case=strategy)
        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.operation.label}: {response.status_code} {response.text[:200]}"
                )
            assert response.status_code < 500, failures[-1]

        try:
            run()
        except Unsatisfiable:  # nothing about this operation can be made invalid (no inputs)
            assert mode == "negative", op.label
            continue
        tried += 1
    assert failures == []
    assert tried >= 6
