"""``campaignrec consume``: its option errors and an unreachable broker, as one line and an exit
code (the runs against real brokers are in ``test_brokers.py``)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from campaignrec.cli.main import main
from campaignrec.errors import EXIT_STORE, EXIT_USAGE


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0), capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "option", "wanted"),
    [
        ("redis://127.0.0.1:6379/0", "--queue", "--stream"),
        ("amqp://guest:guest@127.0.0.1:5672/%2F", "--stream", "--queue"),
        ("nats://127.0.0.1:4222", "--queue", "--subject"),
    ],
)
def test_the_name_option_must_match_the_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, option: str, wanted: str
) -> None:
    code, err = _run(capsys, "-d", str(tmp_path), "consume", "--from", url, option, "x")
    assert code == EXIT_USAGE and wanted in err and "hint:" in err


def test_an_unknown_scheme_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(
        capsys, "-d", str(tmp_path), "consume", "--from", "kafka://h:9092", "--stream", "x"
    )
    assert code == EXIT_USAGE and "kafka" in err


@pytest.mark.parametrize(
    ("scheme", "option"), [("redis", "--stream"), ("amqp", "--queue"), ("nats", "--subject")]
)
def test_an_unreachable_broker_is_exit_6_naming_it_with_the_password_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str, option: str
) -> None:
    pytest.importorskip({"redis": "redis", "amqp": "pika", "nats": "nats"}[scheme])
    port = _closed_port()
    url = f"{scheme}://user:secret@127.0.0.1:{port}/" + ("%2F" if scheme == "amqp" else "")
    if scheme == "redis":
        url = f"redis://:secret@127.0.0.1:{port}/0"
    code, err = _run(
        capsys, "-d", str(tmp_path), "consume", "--from", url, option, "crtest-consume-x"
    )
    assert code == EXIT_STORE, err
    assert str(port) in err and "secret" not in err and "hint:" in err
