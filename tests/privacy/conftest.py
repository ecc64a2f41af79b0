"""A tiny shop whose shoppers have ids and personal fields no other byte sequence could match."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from campaignrec.cli.main import main

N_USERS = 24
N_ITEMS = 18
START = datetime(2024, 1, 1, tzinfo=UTC)


def raw_id(n: int) -> str:
    return f"shopper-qz{n:03d}x"


def email(n: int) -> str:
    return f"mail{n:03d}@example-private.test"


def phone(n: int) -> str:
    return f"+86-139-5550-{n:04d}"


def write_shop(folder: Path, seed: int = 7) -> dict[str, Path]:
    """users.csv (with name, e-mail, phone and an address in attributes), items.csv, events.csv
    (with one malformed line and one bad timestamp that quarantine a raw id)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    users = ["user_id,name,email,phone,gender,region,consent_marketing,attributes"]
    for n in range(N_USERS):
        attrs = f'"{{""street_address"": ""{100 + n} Secret Lane"", ""vip"": true}}"'
        users.append(
            f"{raw_id(n)},Name{n:03d} Surname,{email(n)},{phone(n)},"
            f"{'female' if n % 2 else 'male'},east,{'false' if n % 5 == 0 else 'true'},{attrs}"
        )
    items = ["item_id,title,category,brand,price"]
    for i in range(N_ITEMS):
        items.append(f"item{i:02d},Item {i},cat{i % 3},brand{i % 4},{10 + i}")
    events = ["user_id,event_type,timestamp,item_id,session_id,device"]
    for n in range(N_USERS):
        for k in range(12):
            item = rng.randrange(N_ITEMS) if rng.random() < 0.7 else (n % N_ITEMS)
            kind = rng.choice(["view", "view", "click", "add_to_cart", "purchase"])
            at = START + timedelta(days=(k * 7 + n) % 80, hours=(n + k) % 24)
            events.append(
                f"{raw_id(n)},{kind},{at:%Y-%m-%dT%H:%M:%SZ},"
                f"item{item:02d},s{n}-{k // 4},{'app' if k % 2 else 'web'}"
            )
    events.append(f"{raw_id(3)},view,not-a-time,item01,s3-x,app")  # quarantined, names the shopper
    events.append(f'{raw_id(4)},view,"2024-03-02T00:00:00Z,item02,s,app')  # malformed (open quote)
    paths = {}
    for name, lines in (("users", users), ("items", items), ("events", events)):
        path = folder / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths[name] = path
    return paths


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(list(args))
        out = capsys.readouterr()
        code = info.value.code
        return (0 if code is None else int(code)), out.out, out.err

    return run


def _views(path: Path) -> list[bytes]:
    """The file's bytes, plus what compression hides: each member of a zip (``.npz``) and the
    decoded values of a Parquet file."""
    data = path.read_bytes()
    views = [data]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            views += [z.read(name) for name in z.namelist()]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        views.append(frame.to_csv(index=False).encode("utf-8"))
        views.append(" ".join(map(str, frame.columns)).encode("utf-8"))
    return views


def files_containing(root: Path, needles: list[bytes]) -> dict[str, list[bytes]]:
    """Every file under ``root`` that holds one of ``needles`` byte for byte, as UTF-8 or as
    numpy's UTF-32 (inside zip members and decoded Parquet too)."""
    found: dict[str, list[bytes]] = {}
    # numpy keeps text arrays as UTF-32: search that spelling too
    forms = {n: [n, n.decode("utf-8").encode("utf-32-le")] for n in needles}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            views = _views(path)
            hits = [n for n in needles if any(f in v for f in forms[n] for v in views)]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found
