"""The Models page shows the retrain gate's last decision (``pipeline.retrain.last_decision``)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from campaignrec.pipeline.retrain import last_decision, retrain
from campaignrec.service.console.i18n import translate
from campaignrec.store.retrain import RetrainDecisionRepository


def test_no_decision_yet_says_how_to_make_one(admin: TestClient) -> None:
    for lang in ("en", "zh"):
        html = admin.get(f"/console/models?lang={lang}").text
        assert translate(lang, "gate_none") in html and 'id="retrain-gate-none"' in html


def test_the_last_stored_decision_is_shown_with_its_figures(admin: TestClient) -> None:
    store = admin.app.state.service.store  # type: ignore[attr-defined]
    repo = RetrainDecisionRepository(store)
    repo.insert({"outcome": "activated", "model": "old", "sentence": {"en": "x", "zh": "x"}})
    judgement = {
        "n_users": 1234,
        "mean_candidate": 0.2101,
        "mean_active": 0.2,
        "diff": 0.0101,
        "ci_low": -0.0012,
        "ci_high": 0.0214,
        "p_worse_beyond_margin": 0.0031,
    }
    repo.insert(
        {
            "outcome": "kept",
            "model": "item_knn",
            "candidate_version": "v-new",
            "active_version": "v-old",
            "judgement": judgement,
            "sentence": {"en": "kept: the new one is worse", "zh": "保留当前版本：新版本更差"},
        }
    )
    for lang, sentence in (
        ("en", "kept: the new one is worse"),
        ("zh", "保留当前版本：新版本更差"),
    ):
        html = admin.get(f"/console/models?lang={lang}").text
        assert re.search(rf'id="gate-sentence">{sentence}<', html)
        assert 'data-outcome="kept"' in html and translate(lang, "gate_kept") in html
        assert "<code>v-new</code>" in html and "<code>v-old</code>" in html
        assert re.search(r'data-gate="ndcg">0.2101 / 0.2000<', html)
        assert re.search(r'data-gate="ci">0.0101 \[-0.0012, 0.0214\]<', html)
        assert "1,234" in html


def test_a_real_retrain_run_is_what_the_page_shows(admin: TestClient) -> None:
    state = admin.app.state.service  # type: ignore[attr-defined]
    report = retrain(state.store, state.settings, force=True, profiles=False, campaign_models=False)
    stored = last_decision(state.store)
    assert stored is not None and stored["outcome"] == report.outcome
    for lang in ("en", "zh"):
        html = admin.get(f"/console/models?lang={lang}").text
        found = re.search(r'id="gate-sentence">([^<]+)<', html)
        assert found and found.group(1).replace("&#39;", "'") == report.sentence[lang]
