"""Pseudonymisation at the edge: no raw id, name, phone or e-mail reaches the store, the
quarantine, the logs, the profiles or a model artifact."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import inspect, text

from campaignrec.config import load_settings
from campaignrec.errors import ConfigError
from campaignrec.privacy import Pseudonymiser, pseudonymise_user_id
from campaignrec.privacy.fields import FieldPolicy, Sealer
from campaignrec.store.privacy import PrivacyRepository
from campaignrec.store.sql import SQLStore
from tests.privacy.conftest import N_USERS, email, files_containing, phone, raw_id, write_shop

KEY = "a-test-pseudonymisation-key-0123456789"
FERNET = Sealer.generate_key()


def _settings_file(home, *, encrypt: bool) -> None:
    home.mkdir(parents=True, exist_ok=True)
    lines = [f'pseudonymisation_key = "{KEY}"']
    if encrypt:
        lines += [
            f'field_encryption_key = "{FERNET}"',
            "[personal_fields]",
            'email = "encrypt"',
            'phone = "encrypt"',
        ]
    (home / "campaignrec.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _secrets() -> list[bytes]:
    out = []
    for n in range(N_USERS):
        out += [
            raw_id(n).encode(),
            email(n).encode(),
            phone(n).encode(),
            f"Name{n:03d}".encode(),
            f"{100 + n} Secret Lane".encode(),
        ]
    return out


def test_no_raw_id_or_personal_field_reaches_store_logs_or_artifacts(tmp_path, cli, caplog):
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "shop"
    _settings_file(home, encrypt=True)
    files = write_shop(tmp_path / "incoming")
    d = ["--data-dir", str(home)]
    printed = []
    for entity in ("users", "items", "events"):
        code, out, err = cli(*d, "import", entity, str(files[entity]), "--json")
        assert code == 0, err
        printed += [out, err]
    for args in (
        ("train", "--model", "most_popular"),
        ("train", "--model", "item_knn"),
        ("train", "--model", "als", "--param", "factors=4", "--param", "iterations=2"),
    ):
        code, out, err = cli(*d, *args)
        assert code == 0, err
        printed += [out, err]
    code, out, err = cli(
        *d, "profiles", "export", "--out", str(home / "exports" / "p.csv"), "--refresh"
    )
    assert code == 0, err
    code, out, err = cli(*d, "recommend", raw_id(2), "--model", "item_knn")
    assert code == 0 and "popular" not in out, err  # the raw id found the shopper's history
    printed += [out, err]
    code, out, err = cli(*d, "recommend", "--all", "--out", str(home / "exports" / "recs.csv"))
    assert code == 0, err
    printed += [out, err]

    needles = _secrets()
    assert files_containing(home, needles) == {}
    logged = caplog.text + "".join(printed)
    assert not [n for n in needles if n.decode() in logged]

    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    try:
        users = store.read_table("users")
        expected = {pseudonymise_user_id(settings, raw_id(n)) for n in range(N_USERS)}
        assert set(users["user_id"]) == expected
        events = store.read_table("events", columns=["user_id"])
        assert set(events["user_id"]) <= expected and len(events) > 0
        # every text column of every table: no raw id (a belt to the byte search's braces)
        with store.engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for col in inspect(conn).get_columns(table):
                    hits = conn.execute(
                        text(
                            f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{col["name"]}" AS TEXT)'
                            " LIKE :p"
                        ),
                        {"p": "%shopper-qz%"},
                    ).scalar_one()
                    assert hits == 0, (table, col["name"])
        # the quarantine holds the bad rows, under the pseudonym or withheld
        quarantine = store.read_table("quarantine")
        assert set(quarantine["reason"]) == {"malformed_row", "bad_timestamp"}
        bad = quarantine[quarantine["reason"] == "bad_timestamp"]
        assert list(bad["user_id"]) == [pseudonymise_user_id(settings, raw_id(3))]
        # the personal fields kept as 'encrypt' open with the key, and only there
        token = PrivacyRepository(store).get_sealed(pseudonymise_user_id(settings, raw_id(5)))
        assert token is not None
        assert Sealer(FERNET).open(token) == {"email": email(5), "phone": phone(5)}
        attrs = users.set_index("user_id").loc[
            pseudonymise_user_id(settings, raw_id(5)), "attributes"
        ]
        assert attrs == {"vip": True}  # the street address was dropped, 'vip' kept
    finally:
        store.close()


def test_the_api_function_gives_the_id_the_importer_stored(tmp_path):
    with_key = load_settings(tmp_path, pseudonymisation_key=KEY)
    without = load_settings(tmp_path)
    p = Pseudonymiser(KEY)
    assert pseudonymise_user_id(with_key, " alice ") == p.user_id("alice")
    assert pseudonymise_user_id(with_key, "alice") != pseudonymise_user_id(with_key, "alicf")
    assert pseudonymise_user_id(without, " alice ") == "alice"
    other = Pseudonymiser(KEY + "-other")
    assert other.user_id("alice") != p.user_id("alice")  # the key matters
    assert p.audit_name("alice") != p.user_id("alice")  # audit names are a different hash
    assert KEY not in repr(p)


def test_short_key_and_missing_encryption_key_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="pseudonymisation_key"):
        Pseudonymiser("short")
    from campaignrec.privacy.edge import privacy_edge

    settings = load_settings(tmp_path, personal_fields={"email": "encrypt"})
    with pytest.raises(ConfigError, match="field_encryption_key"):
        privacy_edge(settings)
    with pytest.raises(ConfigError, match="Fernet"):
        Sealer("not-a-key")


def test_policy_names_match_loosely_and_the_shop_setting_wins(tmp_path):
    policy = FieldPolicy.from_settings(load_settings(tmp_path, personal_fields={"E-Mail": "keep"}))
    assert policy.action("Phone") == "drop"
    assert policy.action("e_mail") == "keep" and policy.action("E.Mail") == "keep"
    assert policy.action("region") == "keep"
