"""Console users: scrypt-hashed passwords, login with a name and password, the CLI."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from campaignrec.cli.main import main
from campaignrec.config import load_settings
from campaignrec.errors import ValidationError
from campaignrec.service.console.i18n import translate
from campaignrec.service.console.users import CONSOLE_USERS, ConsoleUsers
from campaignrec.store.sql import SQLStore
from tests.service.console.conftest import csrf_of

PASSWORD = "correct horse battery"


@pytest.fixture
def users(console_home: Path):
    store = SQLStore(load_settings(console_home).resolved_database_url)
    yield ConsoleUsers(store)
    store.close()


def test_passwords_are_stored_as_salted_scrypt_hashes(users: ConsoleUsers) -> None:
    a = users.create("ana", PASSWORD)
    b = users.create("bo", PASSWORD)
    with users.engine.connect() as conn:
        rows = {r.username: r for r in conn.execute(select(CONSOLE_USERS)).all()}
    assert PASSWORD not in rows["ana"].digest and rows["ana"].params.startswith("scrypt:")
    assert rows["ana"].digest != rows["bo"].digest  # a salt of its own
    assert users.verify("ana", PASSWORD) == a
    assert users.verify("bo", PASSWORD) == b
    assert users.verify("ana", PASSWORD + "!") is None
    assert users.verify("nobody", PASSWORD) is None
    users.disable("ana")
    assert users.verify("ana", PASSWORD) is None


def test_bad_names_and_short_passwords_are_refused(users: ConsoleUsers) -> None:
    with pytest.raises(ValidationError, match="password"):
        users.create("ana", "short")
    with pytest.raises(ValidationError, match="username"):
        users.create("ana smith", PASSWORD)
    users.create("ana", PASSWORD)
    with pytest.raises(ValidationError, match="exists"):
        users.create("ana", PASSWORD)


def test_login_as_a_console_user(anon: TestClient, users: ConsoleUsers) -> None:
    users.create("ana", PASSWORD)
    token = csrf_of(anon.get("/console/login").text)
    wrong = anon.post(
        "/console/login", data={"username": "ana", "password": "wrong password!", "csrf": token}
    )
    assert wrong.status_code == 401
    assert translate("en", "login_wrong_password") in wrong.text
    assert anon.get("/console/overview").status_code == 303
    forged = anon.post(
        "/console/login", data={"username": "ana", "password": PASSWORD, "csrf": "forged"}
    )
    assert forged.status_code == 403
    ok = anon.post("/console/login", data={"username": "ana", "password": PASSWORD, "csrf": token})
    assert ok.status_code == 303
    for page in ("/console/overview", "/console/campaigns", "/console/models"):
        assert anon.get(page).status_code == 200
    users.disable("ana")
    assert anon.get("/console/overview").status_code == 303  # the session ends


def test_cli_creates_lists_and_disables_console_users(
    console_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data-dir", str(console_home), "console-users"]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    with pytest.raises(SystemExit) as info:
        main([*base, "create", "ana", "--password-stdin"])
    assert info.value.code == 0
    with pytest.raises(SystemExit):
        main([*base, "list"])
    assert re.search(r"ana\s+active", capsys.readouterr().out)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit) as info:
        main([*base, "create", "bo", "--password-stdin"])
    assert info.value.code != 0
    said = capsys.readouterr()
    assert "password" in said.err + said.out
    with pytest.raises(SystemExit):
        main([*base, "disable", "ana"])
    with pytest.raises(SystemExit):
        main([*base, "list"])
    assert re.search(r"ana\s+disabled", capsys.readouterr().out)
    store = SQLStore(load_settings(console_home).resolved_database_url)
    assert ConsoleUsers(store).verify("ana", PASSWORD) is None
    store.close()
