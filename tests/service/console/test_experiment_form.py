"""Creating an experiment from the console: saved through POST /v1/experiments' function,
listed by the console and the API, errors beside their fields in both languages, CSRF."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from campaignrec.service.console.experiment_pages import experiment_from_form
from campaignrec.service.console.i18n import translate
from tests.service.console.conftest import csrf_of

FORM = {
    "experiment_id": "ranker-test",
    "name": "Ranker test",
    "layer": "ranking",
    "traffic": "0.5",
    "holdout_share": "0.1",
    "primary_metric": "ctr",
    "start_time": "2026-12-01T00:00",
    "end_time": "2026-12-15T00:00",
    "variant_name_0": "control",
    "variant_share_0": "1",
    "variant_name_1": "diverse",
    "variant_share_1": "3",
    "variant_config_1": '{"diversity": 0.3}',
}


def _errors(html: str) -> dict[str, str]:
    import html as html_lib

    return {k: html_lib.unescape(v) for k, v in re.findall(r'id="err-(\w+)">([^<]+)<', html)}


def _post(client: TestClient, form: dict[str, str], lang: str = "en") -> object:
    token = csrf_of(client.get("/console/experiments/new").text)
    return client.post(f"/console/experiments?lang={lang}", data={**form, "csrf": token})


def test_the_form_needs_a_login(anon: TestClient) -> None:
    r = anon.get("/console/experiments/new")
    assert r.status_code == 303 and "/console/login" in r.headers["location"]


def test_an_experiment_made_in_the_form_is_listed_and_in_the_api(
    admin: TestClient, console_keys: dict[str, str]
) -> None:
    page = admin.get("/console/experiments/new")
    assert page.status_code == 200 and 'id="experiment-form"' in page.text
    r = _post(admin, FORM)
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    assert r.headers["location"] == "/console/experiments?done=experiment_created"  # type: ignore[attr-defined]
    listed = admin.get(
        "/v1/experiments", headers={"Authorization": f"Bearer {console_keys['read']}"}
    ).json()["experiments"]
    made = {x["experiment_id"]: x for x in listed}["ranker-test"]
    assert made["layer"] == "ranking" and made["primary_metric"] == "ctr"
    assert made["traffic"] == 0.5 and made["holdout_share"] == 0.1
    assert [(v["name"], v["share"], v["config"]) for v in made["variants"]] == [
        ("control", 1.0, {}),
        ("diverse", 3.0, {"diversity": 0.3}),
    ]
    assert made["start_time"] == "2026-12-01T00:00:00Z"  # the form's times are UTC
    assert (made["range_low"], made["range_high"]) == (0.0, 0.5)
    page = admin.get("/console/experiments?done=experiment_created").text
    assert 'data-experiment="ranker-test"' in page
    assert translate("en", "experiment_created") in page


def test_wrong_fields_are_said_beside_them_in_the_pages_language(admin: TestClient) -> None:
    bad = {
        **FORM,
        "experiment_id": "has space",
        "traffic": "2",
        "variant_share_1": "lots",
        "variant_config_0": "{",
    }
    seen = {}
    for lang in ("en", "zh"):
        r = _post(admin, bad, lang)
        assert r.status_code == 422  # type: ignore[attr-defined]
        seen[lang] = _errors(r.text)  # type: ignore[attr-defined]
        assert set(seen[lang]) == {
            "experiment_id",
            "traffic",
            "variant_share_1",
            "variant_config_0",
        }
        assert 'value="has space"' in r.text  # type: ignore[attr-defined]  # typed values kept
    assert seen["en"]["traffic"] == "must be at most 1"
    assert seen["zh"]["traffic"] == "不能大于 1"
    assert seen["en"]["variant_share_1"] == "must be a number"
    assert seen["zh"]["variant_share_1"] == "必须是数字"
    assert seen["zh"]["variant_config_0"] == "不是有效的 JSON（第 1 行）"
    assert "字母" in seen["zh"]["experiment_id"]
    assert "data-experiment=" not in admin.get("/console/experiments").text  # nothing saved


def test_the_models_own_checks_land_on_their_field(admin: TestClient) -> None:
    r = _post(admin, {**FORM, "variant_name_1": "control"}, "zh")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert _errors(r.text)["variants"] == "实验组名称不能重复"  # type: ignore[attr-defined]
    r = _post(admin, {**FORM, "end_time": "2026-11-01T00:00"})
    assert _errors(r.text)["end_time"] == "end_time must be after start_time"  # type: ignore[attr-defined]
    r = _post(admin, {**FORM, "variant_name_1": "", "variant_share_1": "", "variant_config_1": ""})
    assert _errors(r.text)["variants"] == "needs at least 2 entries"  # type: ignore[attr-defined]


def test_an_existing_id_and_a_full_layer_are_refused(admin: TestClient) -> None:
    assert _post(admin, FORM).status_code == 303  # type: ignore[attr-defined]
    again = _post(admin, FORM, "zh")
    assert again.status_code == 409  # type: ignore[attr-defined]
    assert _errors(again.text)["experiment_id"] == translate("zh", "experiment_exists")  # type: ignore[attr-defined]
    full = _post(admin, {**FORM, "experiment_id": "second", "traffic": "0.8"})
    assert full.status_code == 422  # type: ignore[attr-defined]
    assert "50%" in _errors(full.text)["traffic"]  # type: ignore[attr-defined]


def test_a_post_without_the_csrf_token_creates_nothing(admin: TestClient) -> None:
    r = admin.post("/console/experiments", data=FORM)
    assert r.status_code == 403
    r = admin.post("/console/experiments", data={**FORM, "csrf": "forged"})
    assert r.status_code == 403
    assert 'data-experiment="ranker-test"' not in admin.get("/console/experiments").text


def test_a_wrong_variant_configuration_is_said_beside_its_row() -> None:
    spec, errors = experiment_from_form(
        {
            "experiment_id": "e",
            "variant_name_0": "a",
            "variant_name_2": "b",
            "variant_config_2": '{"policy": "no-such-policy"}',
        }
    )
    assert spec is None and list(errors) == ["variant_config_2"]
    assert "policy" in errors["variant_config_2"]


def test_empty_variant_rows_are_left_out_and_a_share_defaults_to_one() -> None:
    spec, errors = experiment_from_form(
        {"experiment_id": "e", "variant_name_0": "a", "variant_name_3": "b"}
    )
    assert not errors and spec is not None
    assert [(v.name, v.share) for v in spec.variants] == [("a", 1.0), ("b", 1.0)]
    spec, errors = experiment_from_form(
        {"experiment_id": "e", "variant_name_0": "a", "variant_name_3": "holdout"}, "zh"
    )
    assert spec is None and errors == {"variant_name_3": "'holdout' 是留出组的保留名称"}
