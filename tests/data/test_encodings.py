"""Files in the encodings shops really export: BOMs detected, GB18030 on request, clear errors."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from campaignrec.data.importer import import_file, iter_source
from campaignrec.data.mapping import Mapping, load_mapping
from campaignrec.data.textfile import detect_encoding
from campaignrec.errors import EXIT_USAGE, EXIT_VALIDATION, ConfigError, ValidationError

cli_main = importlib.import_module("campaignrec.cli.main")

ROWS = [
    ("i1", "纯棉T恤 白色", "apparel/tops"),
    ("i2", "不锈钢保温杯", "home/kitchen"),
    ("i3", "跑步鞋 男款", "sports/shoes"),
]


def _text(sep: str = ",") -> str:
    lines = [sep.join(("item_id", "title", "category"))]
    lines += [sep.join(r) for r in ROWS]
    return "\r\n".join(lines) + "\r\n"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "utf-8": _write(tmp_path / "utf8.csv", _text().encode("utf-8")),
        "utf-8-bom": _write(tmp_path / "utf8bom.csv", _text().encode("utf-8-sig")),
        "utf-16-le": _write(tmp_path / "unicode.tsv", _text("\t").encode("utf-16")),
        "utf-16-be": _write(tmp_path / "be.tsv", b"\xfe\xff" + _text("\t").encode("utf-16-be")),
        "utf-32": _write(tmp_path / "u32.csv", _text().encode("utf-32")),
        "gb18030": _write(tmp_path / "gb.csv", _text().encode("gb18030")),
    }


def _titles(path: Path, mapping: Mapping) -> list[str]:
    rows = []
    for frame, _lines in iter_source(path, mapping, chunk_rows=2):
        rows += frame["title"].to_list()
    return rows


@pytest.mark.parametrize("name", ["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf_files_and_byte_order_marks_read_without_options(files, name):
    mapping = Mapping(format="tsv") if files[name].suffix == ".tsv" else Mapping()
    assert _titles(files[name], mapping) == [r[1] for r in ROWS]


def test_bom_decides_the_encoding(files):
    assert detect_encoding(files["utf-16-le"]).codec == "utf-16-le"
    assert detect_encoding(files["utf-16-be"]).codec == "utf-16-be"
    assert detect_encoding(files["utf-32"]).codec == "utf-32-le"
    assert detect_encoding(files["utf-8-bom"]).bom == 3
    assert detect_encoding(files["gb18030"], "gbk").codec == "gb18030"


def test_gb18030_on_request_and_gbk_as_its_superset(files):
    assert _titles(files["gb18030"], Mapping(encoding="gb18030")) == [r[1] for r in ROWS]
    assert _titles(files["gb18030"], Mapping(encoding="gbk")) == [r[1] for r in ROWS]


def test_wrong_encoding_names_file_line_offset_and_option(files):
    data = _text().encode("gb18030")
    with pytest.raises(ValidationError) as err:
        list(iter_source(files["gb18030"], Mapping()))
    msg = str(err.value)
    header_len = len(b"item_id,title,category\r\n")
    assert "gb.csv" in msg and "line 2" in msg and f"byte offset {header_len + 3}" in msg
    assert data[header_len + 3] >= 0x80
    assert "--encoding gb18030" in (err.value.hint or "")


def test_bad_byte_later_in_a_utf8_file_is_located(tmp_path):
    body = _text().encode("utf-8") + b"i4,bad \xff title,home/kitchen\r\n"
    path = _write(tmp_path / "late.csv", body)
    with pytest.raises(ValidationError) as err:
        list(iter_source(path, Mapping()))
    offset = body.index(b"\xff")
    assert "line 5" in str(err.value) and f"byte offset {offset}" in str(err.value)


def test_large_gb18030_file_streams_across_blocks(tmp_path):
    rows = [f"i{i},标题{i} 夏季新款,home/kitchen" for i in range(60_000)]
    path = _write(
        tmp_path / "big.csv", ("item_id,title,category\n" + "\n".join(rows)).encode("gb18030")
    )
    titles = _titles(path, Mapping(encoding="gb18030"))
    assert len(titles) == 60_000 and titles[-1] == "标题59999 夏季新款"


def test_unknown_encoding_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        Mapping(encoding="no-such-codec")
    toml = tmp_path / "m.toml"
    toml.write_text('encoding = "gb18030"\n', encoding="utf-8")
    assert load_mapping(toml).encoding == "gb18030"


def test_import_keeps_chinese_titles(ingest_store, files):
    summary = import_file(ingest_store, "items", files["utf-16-le"], mapping=Mapping(format="tsv"))
    assert summary.accepted == 3
    stored = ingest_store.read_table("items")
    assert sorted(stored["title"]) == sorted(r[1] for r in ROWS)
    gb = import_file(ingest_store, "items", files["gb18030"], mapping=Mapping(encoding="gb18030"))
    assert gb.accepted + gb.duplicates == 3


# ---- the CLI ------------------------------------------------------------------------------------
@pytest.fixture
def cli_home(tmp_path, monkeypatch):
    home = tmp_path / "shop"
    monkeypatch.setattr(cli_main.STATE, "data_dir", home)
    monkeypatch.setattr(cli_main.STATE, "_settings", None)
    monkeypatch.delenv("CAMPAIGNREC_DATABASE_URL", raising=False)
    return home


def _run(args: list[str], home: Path, capsys) -> tuple[int, str]:
    """Run the real entry point (our errors become one line and an exit code)."""
    code = 0
    try:
        cli_main.main(["--data-dir", str(home), *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_utf16_and_gb18030_import(files, cli_home, capsys):
    code, out = _run(
        ["import", "items", str(files["utf-16-le"]), "--format", "tsv"], cli_home, capsys
    )
    assert code == 0, out
    code, out = _run(
        ["import", "items", str(files["gb18030"]), "--encoding", "gb18030"], cli_home, capsys
    )
    assert code == 0, out


def test_cli_wrong_encoding_is_a_validation_exit_not_a_traceback(files, cli_home, capsys):
    code, out = _run(["import", "items", str(files["gb18030"])], cli_home, capsys)
    assert code == EXIT_VALIDATION, out
    flat = " ".join(out.split())
    assert "Traceback" not in out and "--encoding gb18030" in flat and "line 2" in flat
    code, out = _run(
        ["import", "items", str(files["gb18030"]), "--encoding", "nope"], cli_home, capsys
    )
    assert code == EXIT_USAGE, out
