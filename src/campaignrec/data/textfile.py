"""Text files in the encodings shops really export, read as UTF-8 in a streamed way.

A byte-order mark decides the encoding (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE) whatever was asked;
without one the requested encoding is used (``gbk``, ``gb2312`` and ``cp936`` are read as
``gb18030``, their superset). UTF-8 files are handed to the CSV reader as they are; any other
encoding is transcoded chunk by chunk (bounded memory). Bytes that do not decode raise a
:class:`~campaignrec.errors.ValidationError` naming the file, the line, the byte offset and the
``--encoding`` option to use.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaignrec.errors import ConfigError, ValidationError

__all__ = ["TextSource", "TranscodingFile", "check_encoding", "detect_encoding", "open_source"]

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030"}
_BLOCK = 1 << 20
_MAX_CHAR = 4  # longest encoded character of the codecs above (a cut one waits for more bytes)


@dataclass(frozen=True)
class TextSource:
    """How a file is decoded: the codec (no BOM handling left to do) and the BOM length."""

    codec: str
    bom: int

    @property
    def is_utf8(self) -> bool:
        return self.codec == "utf-8"


def check_encoding(name: str) -> str:
    """The canonical codec name of ``name`` (GBK and GB2312 map to GB18030), else an error."""
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        raise ConfigError(
            f"unknown text encoding {name!r}",
            hint="use a codec name such as utf-8, utf-16, gb18030 or latin-1",
        ) from None
    return _SUPERSETS.get(canonical, canonical)


def detect_encoding(path: Path, requested: str = "utf-8") -> TextSource:
    """The BOM's encoding when the file starts with one, else ``requested``."""
    with open(path, "rb") as f:
        head = f.read(4)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return TextSource(codec, len(bom))
    codec = check_encoding(requested)
    if codec in ("utf-16", "utf-32"):  # asked for without a BOM: the platform order is a guess
        codec += "-le"
    if codec == "utf-8-sig":
        codec = "utf-8"
    return TextSource(codec, 0)


def _decode_error(path: Path, source: TextSource, offset: int, line: int, byte: bytes) -> Exception:
    other = "utf-8" if source.codec != "utf-8" else "gb18030"
    return ValidationError(
        "encoding",
        f"{path.name} line {line}, byte offset {offset}: bytes {byte.hex(' ')} are not valid "
        f"{source.codec}",
        hint=f"pass the file's encoding, e.g. --encoding {other} (or 'encoding' in the mapping)",
    )


def iter_text(path: Path, source: TextSource) -> Iterator[str]:
    """Decoded text of ``path`` in blocks; raises a :class:`ValidationError` on bad bytes."""
    with open(path, "rb") as f:
        f.seek(source.bom)
        consumed = source.bom  # file offset of the first byte of ``pending``
        newlines = 0
        pending = b""
        while True:
            block = f.read(_BLOCK)
            eof = not block
            data = pending + block
            if not data:
                return
            try:
                text = data.decode(source.codec)
                pending = b""
            except UnicodeDecodeError as err:
                if not eof and err.start >= len(data) - _MAX_CHAR:
                    text = data[: err.start].decode(source.codec)  # a character cut by the block
                    pending = data[err.start :]
                else:
                    good = data[: err.start].decode(source.codec, errors="replace")
                    line = newlines + good.count("\n") + 1
                    bad = data[err.start : max(err.end, err.start + 1)][:_MAX_CHAR]
                    raise _decode_error(path, source, consumed + err.start, line, bad) from None
            consumed += len(data) - len(pending)
            newlines += text.count("\n")
            if text:
                yield text
            if eof:
                return


def locate_decode_error(path: Path, source: TextSource) -> None:
    """Decode the whole file, raising the :class:`ValidationError` at the first bad byte."""
    for _ in iter_text(path, source):
        pass


class TranscodingFile(io.RawIOBase):
    """A read-only binary stream of ``path`` as UTF-8 (BOM dropped); ``done`` counts source bytes."""

    def __init__(self, path: Path, source: TextSource) -> None:
        self._path = path
        self._source = source
        self._raw: Any = None
        self._text: Iterator[str] | None = None
        self._buffer = b""
        self.done = 0
        if source.is_utf8:
            self._raw = open(path, "rb")  # noqa: SIM115 - closed by close()
            self._raw.seek(source.bom)
            self.done = source.bom
        else:
            self._text = iter_text(path, source)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._raw is not None:
            n = self._raw.readinto(b)
            self.done += n or 0
            return n or 0
        assert self._text is not None
        while not self._buffer:
            chunk = next(self._text, None)
            if chunk is None:
                return 0
            self._buffer = chunk.encode("utf-8")
            self.done += len(chunk.encode(self._source.codec))
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        self._text = None
        super().close()


def open_source(path: Path, requested: str = "utf-8") -> tuple[TranscodingFile, TextSource]:
    """A UTF-8 stream of ``path`` and how it was decoded."""
    source = detect_encoding(path, requested)
    return TranscodingFile(path, source), source


def first_line(path: Path, source: TextSource) -> str:
    """The first line of ``path`` (decoded, without the BOM)."""
    out: list[str] = []
    for text in iter_text(path, source):
        cut = text.find("\n")
        if cut >= 0:
            out.append(text[: cut + 1])
            break
        out.append(text)
    return "".join(out)
