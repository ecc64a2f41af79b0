"""The forms' validation messages in both languages (schema errors by type, the models' own)."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError as PydanticValidationError

from campaignrec.data.schema import Campaign
from campaignrec.experiments.registry import ExperimentSpec
from campaignrec.service.console.validation import BY_TYPE, field_errors, message, sentence
from tests.service.console.conftest import csrf_of
from tests.service.console.test_pages import _form


def _errors_of(model: type, body: dict, lang: str) -> dict[str, str]:
    with pytest.raises(PydanticValidationError) as caught:
        model.model_validate(body)
    return field_errors(caught.value, lang)


def test_schema_errors_are_said_by_type_with_their_limits() -> None:
    body = {"campaign_id": "c", "name": "n", "type": "coupon", "budget": -1, "inventory": 1.5}
    assert _errors_of(Campaign, body, "en") == {
        "budget": "must be at least 0",
        "inventory": "must be a whole number",
    }
    assert _errors_of(Campaign, body, "zh") == {"budget": "不能小于 0", "inventory": "必须是整数"}
    spec = {"experiment_id": "e", "variants": [{"name": "a", "share": 1}], "primary_metric": "x"}
    zh = _errors_of(ExperimentSpec, spec, "zh")
    assert zh["variants"] == "至少需要 2 项"
    assert zh["primary_metric"].startswith("必须是以下之一：'conversion'")


def test_every_type_has_both_languages_and_unknown_sentences_keep_their_reason() -> None:
    for en, zh in BY_TYPE.values():
        assert en.strip() and zh.strip()
    assert message({"type": "less_than", "ctx": {"lt": 0.5}}, "zh") == "必须小于 0.5"
    assert sentence("end_time must be after start_time", "zh") == "结束时间必须晚于开始时间"
    assert (
        sentence("end_time must be after start_time", "en") == "end_time must be after start_time"
    )
    odd = sentence("something only the library says", "zh")
    assert odd == "取值无效：something only the library says"


@pytest.mark.parametrize(
    ("lang", "budget", "window", "cap"),
    [
        ("en", "must be at least 0", "end_time must be after start_time", "must be a whole number"),
        ("zh", "不能小于 0", "结束时间必须晚于开始时间", "必须是整数"),
    ],
)
def test_the_campaign_form_says_its_errors_in_the_pages_language(
    admin: TestClient, lang: str, budget: str, window: str, cap: str
) -> None:
    token = csrf_of(admin.get(f"/console/campaigns/new?lang={lang}").text)
    r = admin.post(
        f"/console/campaigns?lang={lang}",
        data=_form(token, campaign_id="c40", budget="-5", frequency_cap="1.5"),
    )
    assert r.status_code == 422
    found = {k: html_lib.unescape(v) for k, v in re.findall(r'id="err-(\w+)">([^<]+)<', r.text)}
    assert found == {"budget": budget, "frequency_cap": cap}
    start = _form(token)["start_time"]
    r = admin.post(f"/console/campaigns?lang={lang}", data=_form(token, end_time=start))
    assert re.search(rf'id="err-end_time">{window}<', r.text)
    r = admin.post(f"/console/campaigns?lang={lang}", data=_form(token, audience_json="{nope"))
    bad_json = html_lib.unescape(re.findall(r'id="err-audience">([^<]+)<', r.text)[0])
    assert bad_json.startswith("不是有效的 JSON" if lang == "zh" else "not valid JSON")


def test_the_preview_says_an_empty_audience_in_chinese(admin: TestClient) -> None:
    token = csrf_of(admin.get("/console/campaigns/new?lang=zh").text)
    form = _form(token, campaign_id="c41", audience_value="nobody at all")
    p = admin.post(
        "/console/api/campaigns/preview?lang=zh", data=form, headers={"X-CSRF-Token": token}
    )
    assert p.json()["ok"] is False
    assert "目标人群为空" in p.json()["error"]["message"]
