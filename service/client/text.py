"""Text from the service or from a token, made safe to print on a CI log or a terminal."""

from __future__ import annotations


def printable(text: str, limit: int = 500) -> str:
    # A hostile service or a crafted token could carry terminal escapes or a fake
    # `::workflow-command::` line; repr() of anything unprintable defuses both.
    shown = text if text.isprintable() else repr(text)[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
