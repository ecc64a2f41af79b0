"""The Models page shows the retrain gate's last decision, in the page's language."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from campaignrec.config import load_settings
from campaignrec.service.console.i18n import translate
from campaignrec.store.retrain import RetrainDecisionRepository
from campaignrec.store.sql import SQLStore


def test_models_page_shows_the_last_gate_decision(admin: TestClient, console_home: Path) -> None:
    assert 'id="retrain-gate"' not in admin.get("/console/models").text  # the gate never ran
    store = SQLStore(load_settings(console_home).resolved_database_url)
    repo = RetrainDecisionRepository(store)
    for outcome, en, zh in (
        ("activated", "activated the new version: first", "已启用新版本：第一次"),
        ("kept", "kept the active version: the new one is worse", "保留当前版本：新版本更差"),
    ):
        repo.insert({"outcome": outcome, "model": "item_knn", "candidate_version": f"v-{outcome}",
                     "active_version": "v0", "sentence": {"en": en, "zh": zh}})  # fmt: skip
    store.close()
    html = admin.get("/console/models").text
    card = html.split('id="retrain-gate"')[1].split("</section>")[0]
    assert translate("en", "retrain_gate") in card
    assert "kept the active version: the new one is worse" in card and "v-kept" in card
    assert "first" not in card  # only the last decision
    zh = admin.get("/console/models?lang=zh").text.split('id="retrain-gate"')[1]
    assert "保留当前版本：新版本更差" in zh.split("</section>")[0]
