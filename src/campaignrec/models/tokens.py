"""Tokens of item text: lower-cased Latin words, and character bigrams (or jieba words) for CJK runs.

Shared by the content model's TF-IDF and the cold-item fallback (:mod:`campaignrec.models.cold`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_CJK_RE = re.compile(rf"[{_CJK}]")
_STOP = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of"}
    | {"on", "or", "the", "to", "with", "this", "that"}
)


def tokenize(text: str, *, cjk: str = "bigram") -> list[str]:
    """Word tokens for Latin text, character bigrams (or jieba words) for CJK runs.

    Examples
    --------
    >>> tokenize("Ceramic coffee mug 陶瓷咖啡杯")
    ['ceramic', 'coffee', 'mug', '陶瓷', '瓷咖', '咖啡', '啡杯']
    """
    out: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        tok = match.group(0)
        if _CJK_RE.match(tok):
            out.extend(_cjk_tokens(tok, cjk))
        else:
            low = tok.lower()
            if len(low) > 1 and low not in _STOP:
                out.append(low)
    return out


def _cjk_tokens(run: str, method: str) -> Iterator[str]:
    if method == "jieba":
        import jieba

        for word in jieba.lcut(run):
            if word.strip():
                yield word
        return
    if len(run) == 1:
        yield run
        return
    for i in range(len(run) - 1):
        yield run[i : i + 2]


__all__ = ["tokenize"]
