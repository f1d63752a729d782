"""The signed body -> Report values: a JSON array of `{token, type, url, source}`.

Only `token` is required to be a string; GitHub documents `url` as possibly
empty, so the others default to "" but must be strings when present. A body
that is not this shape is refused whole: it is signed by GitHub, so a wrong
shape means a changed format we should notice, not guess at.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.publishers.base import INVALID_PAYLOAD, Refusal
from service.textjson import NotText, loads

MAX_REPORTS = 1000
OPTIONAL = ("type", "url", "source")


@dataclass(frozen=True, slots=True)
class Report:
    token: str
    type: str
    url: str
    source: str


def parse_reports(body: bytes, *, max_reports: int = MAX_REPORTS) -> list[Report] | Refusal:
    try:
        document = loads(body)
    except NotText as exc:
        return Refusal(INVALID_PAYLOAD, f"body is not UTF-8 text: {exc}")
    except (ValueError, RecursionError):
        return Refusal(INVALID_PAYLOAD, "body is not valid UTF-8 JSON")
    if not isinstance(document, list):
        return Refusal(INVALID_PAYLOAD, f"expected a JSON array, got {type(document).__name__}")
    if len(document) > max_reports:
        return Refusal(INVALID_PAYLOAD, f"{len(document)} matches, at most {max_reports} allowed")
    reports = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            return Refusal(INVALID_PAYLOAD, f"[{index}]: expected an object")
        if not isinstance(item.get("token"), str):
            return Refusal(INVALID_PAYLOAD, f"[{index}].token: expected a string")
        for name in OPTIONAL:
            if not isinstance(item.get(name, ""), str):
                return Refusal(INVALID_PAYLOAD, f"[{index}].{name}: expected a string")
        reports.append(Report(item["token"], *(item.get(name, "") for name in OPTIONAL)))
    return reports
