"""Login rate limit: 5 failures a minute per address or account -> 429 in both languages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from campaignrec.service.console.i18n import translate
from campaignrec.service.console.throttle import LoginThrottle, account_key
from tests.service.console.conftest import csrf_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttled_app(client: TestClient) -> Clock:
    clock = Clock()
    client.app.state.console_throttle = LoginThrottle(5, 60.0, clock=clock)  # type: ignore[attr-defined]
    return clock


def _try(client: TestClient, lang: str = "en", **form: str) -> object:
    token = csrf_of(client.get("/console/login").text)
    return client.post(f"/console/login?lang={lang}", data={**form, "csrf": token})


def test_five_wrong_keys_a_minute_lock_the_address_out(
    anon: TestClient, console_keys: dict[str, str]
) -> None:
    clock = _throttled_app(anon)
    for n in range(5):
        r = _try(anon, key=f"crk_guess{n}.secret")
        assert r.status_code == 401, n  # type: ignore[attr-defined]
        clock.now += 1
    refused = _try(anon, key="crk_guess9.secret")
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert refused.headers["retry-after"] == "55"  # type: ignore[attr-defined]  # first at 1000, now 1005
    assert translate("en", "login_throttled").format(seconds=55) in refused.text  # type: ignore[attr-defined]
    # even the right key is not checked while the address is locked out
    assert _try(anon, key=console_keys["admin"]).status_code == 429  # type: ignore[attr-defined]
    assert anon.get("/console/overview").status_code == 303
    zh = _try(anon, "zh", key="crk_guess9.secret")
    assert zh.status_code == 429  # type: ignore[attr-defined]
    assert translate("zh", "login_throttled").format(seconds=55) in zh.text  # type: ignore[attr-defined]
    clock.now = 1000.0 + 60  # the first failure has left the window
    r = _try(anon, key=console_keys["admin"])
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert anon.get("/console/overview").status_code == 200


def test_failures_for_one_user_lock_that_user_from_any_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(5, 60.0, clock=clock)
    user = account_key("Ana", "")
    for n in range(5):
        assert throttle.retry_after(f"ip:10.0.0.{n}", user) == 0
        throttle.failed(f"ip:10.0.0.{n}", user)  # a new address each time
    assert throttle.retry_after("ip:10.0.0.99", user) == 60
    assert throttle.retry_after("ip:10.0.0.99", account_key("bo", "")) == 0  # others may
    assert account_key(" ana ", "") == user  # the name as the login reads it
    clock.now += 30
    assert throttle.retry_after("ip:10.0.0.99", user) == 30
    throttle.succeeded(user)
    assert throttle.retry_after("ip:10.0.0.99", user) == 0


def test_a_wrong_password_counts_and_a_success_clears_the_account(anon: TestClient) -> None:
    from campaignrec.service.console.users import ConsoleUsers

    _throttled_app(anon)
    users = ConsoleUsers(anon.app.state.service.store)  # type: ignore[attr-defined]
    users.create("ana", "a long enough password")
    for _ in range(4):
        r = _try(anon, username="ana", password="wrong wrong wrong")
        assert r.status_code == 401  # type: ignore[attr-defined]
    throttle: LoginThrottle = anon.app.state.console_throttle  # type: ignore[attr-defined]
    assert throttle.retry_after("user:ana") == 0
    assert _try(anon, username="ana", password="a long enough password").status_code == 303  # type: ignore[attr-defined]
    assert throttle.retry_after("user:ana") == 0 and "user:ana" not in throttle._failures
    # the address keeps its four failures: one more locks it
    anon.cookies.clear()
    assert _try(anon, username="bo", password="x" * 12).status_code == 401  # type: ignore[attr-defined]
    assert _try(anon, username="bo", password="x" * 12).status_code == 429  # type: ignore[attr-defined]


def test_an_api_keys_account_is_its_lookup_part_never_its_secret() -> None:
    assert account_key("", "crk_abc123.topsecret") == "key:crk_abc123"
    assert "topsecret" not in account_key("", "crk_abc123.topsecret")


def test_a_csrf_refusal_is_no_failed_login(anon: TestClient) -> None:
    _throttled_app(anon)
    anon.get("/console/login")
    for _ in range(8):
        assert anon.post("/console/login", data={"key": "x", "csrf": "bad"}).status_code == 403
    assert _try(anon, key="crk_guess.secret").status_code == 401  # type: ignore[attr-defined]
