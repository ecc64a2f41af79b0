"""The console's experiments pages: the list and one experiment's results, as the API gives them."""

from __future__ import annotations

import html as html_lib

from fastapi.testclient import TestClient

from campaignrec.data.importer import import_frame
from campaignrec.experiments.registry import Experiment
from campaignrec.experiments.simulation import ArmTruth, simulate_experiment_events
from campaignrec.service.console.i18n import translate
from tests.service.test_experiments_api import body


def test_experiment_list_and_results_match_the_api(admin: TestClient, console_keys: dict) -> None:
    headers = {"Authorization": f"Bearer {console_keys['admin']}"}
    assert translate("en", "experiment_none") in admin.get("/console/experiments").text
    made = admin.post("/v1/experiments", json=body(), headers=headers)
    assert made.status_code == 201, made.text
    exp = Experiment.model_validate(made.json())
    truths = {"v1": ArmTruth(0.04, mean_order_value=40), "v2": ArmTruth(0.08, mean_order_value=40)}
    ev = simulate_experiment_events(exp, truths, n_users=2000, days=12, seed=11)
    ev["item_id"] = ev["item_id"].map({"shelf": "i0", "i1": "i1"})
    state = admin.app.state.service  # type: ignore[attr-defined]
    import_frame(state.store, "events", ev)
    listed = admin.get("/console/experiments").text
    assert 'data-experiment="models-v1-v2"' in listed
    api = admin.get("/v1/experiments/models-v1-v2/results", headers=headers).json()
    for lang in ("en", "zh"):
        page = admin.get(f"/console/experiments/models-v1-v2?lang={lang}")
        assert page.status_code == 200
        text = html_lib.unescape(page.text)
        assert api["decision"][lang] in text
        assert f'data-verdict="{api["decision"]["verdict"]}"' in text
        assert text.count("<tr><td>") >= len(api["comparisons"]) + len(api["variants"])
        assert translate(lang, "x_peeking") in text
        assert ('id="srm-warning"' in text) == bool(api["srm"]["mismatch"])
    assert admin.get("/console/experiments/nope").status_code == 404
