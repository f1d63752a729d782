"""JSON from a request, refusing strings that are not text: the one loader every reader uses.

Python's json turns the escape `"\\ud800"` into a str holding a lone surrogate,
and reading bytes it decodes with surrogatepass, so the raw bytes of an encoded
surrogate (`\\xed\\xa0\\x80`) do the same. Such a str is no text: the first
`.encode()` (argon2, SQL drivers, a log line, a forwarded body) raises
UnicodeEncodeError, a 500 far from the reader. So the whole document is checked
where it is decoded, every string in it, object keys and nested values
included, rather than field by field. A surrogate *pair* escape is one code
point once decoded and passes.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_NAME = 60


class NotText(ValueError):
    """A string in the document holds a lone surrogate. The message names where, never what."""


def is_text(value: str) -> bool:
    """True when `value` can be encoded as UTF-8 (holds no lone surrogate)."""
    return _SURROGATE.search(value) is None


def loads(raw: bytes | bytearray | str) -> Any:
    """`json.loads`, raising NotText for a document holding any string that is not text.

    Everything json.loads raises (ValueError, RecursionError) passes through;
    NotText is a ValueError too, so a reader that catches only that still refuses.
    """
    document = json.loads(raw)
    where = _first_not_text(document)
    if where is not None:
        raise NotText(f"{where}: not UTF-8 text (a lone surrogate)")
    return document


def _first_not_text(document: Any) -> str | None:
    # Iterative: json.loads already bounds the depth, but this walk should not add a
    # recursion limit of its own.
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not is_text(value):
                return path or "the body"
        elif isinstance(value, dict):
            for key, item in value.items():
                if not is_text(key):
                    return f"a key in {path or 'the body'}"
                stack.append((_child(path, key), item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _child(path: str, key: str) -> str:
    name = key if len(key) <= _MAX_NAME else key[: _MAX_NAME - 3] + "..."
    return f"{path}.{name}" if path else name
