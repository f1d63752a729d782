"""The legacy upload form, read under a size cap and checked before anything is forwarded.

Streaming: Starlette's MultiPartParser (python-multipart underneath) parses the
body as it arrives; the file part goes to a SpooledTemporaryFile that moves to
disk past 1 MiB, so memory holds at most that much of the file. The body is
counted as it is read and reading stops at the cap, whether or not the client
sent a Content-Length.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from service.gateway.errors import Denied, bad_request
from service.gateway.filenames import Kind, matching
from service.publishers.base import INVALID_PAYLOAD, Refusal
from service.trust import normalize_project

ACTION = "file_upload"
FILE_FIELD = "content"
SINGLE_FIELDS = (":action", "name", "version")
# twine sends about 30 fields, repeated ones included; metadata beyond this is not an upload.
MAX_FIELDS = 500
MAX_FIELD_BYTES = 1024 * 1024
# Field names (and the file name, in filenames.py) are written back into the multipart headers
# sent to the registry: anything that could close a quoted string or a header line is refused.
FIELD_NAME = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")


class TooLarge(Exception):
    pass


class NotText(MultiPartException):
    """A text field whose bytes are not UTF-8 (Starlette would read them as latin-1)."""


@dataclass(frozen=True, slots=True)
class Upload:
    project: str  # PEP 503 normalised
    version: str  # the file's, PEP 440 normalised; the form's field says the same (PEP 440)
    kind: Kind
    filename: str
    fields: tuple[tuple[str, str], ...]  # every text field, in the order sent
    content: UploadFile
    form: FormData

    async def close(self) -> None:
        await self.form.close()


def too_large(limit: int) -> Denied:
    return Denied(
        413, f"upload refused: the request is larger than this gateway's limit of {limit} bytes"
    )


async def read_upload(request: Request, limit: int) -> Upload | Denied:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return bad_request("expected a multipart/form-data upload (the legacy upload API)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return too_large(limit)  # before reading a byte of it
    parser = _Parser(
        request.headers,
        _capped(request.stream(), limit),
        max_files=1,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except TooLarge:
        return too_large(limit)
    except NotText as exc:
        return bad_request(exc.message, INVALID_PAYLOAD)
    except MultiPartException as exc:
        return bad_request(f"malformed upload form: {exc.message}")
    except ClientDisconnect:
        return bad_request("the client went away before the upload was complete")
    if not parser.complete:
        parser.discard()
        return bad_request("malformed upload form: the body ends before its closing boundary")
    checked = _check(form)
    if isinstance(checked, Denied):
        await form.close()
    return checked


class _Parser(MultiPartParser):
    """Starlette's parser, told apart from a body cut short.

    python-multipart reports the closing boundary through `on_end` but does not fail
    without it, so a truncated body would parse as a form missing its last parts.
    """

    complete = False

    def on_end(self) -> None:
        self.complete = True

    def on_part_end(self) -> None:
        # Starlette decodes a field that is not UTF-8 as latin-1 instead of failing, so
        # `\xed\xa0\x80` (a surrogate) or `\xff` would reach the registry as other text.
        part = self._current_part
        if part.file is None:
            try:
                part.data.decode("utf-8")
            except UnicodeDecodeError:
                name = part.field_name[:64]
                raise NotText(f"form field {name!r} is not UTF-8 text") from None
        super().on_part_end()

    def discard(self) -> None:
        # A part cut short never reaches the form, so FormData.close() would leave its
        # spool file open; Starlette keeps every file it opened in this list.
        for spool in self._files_to_close_on_error:
            spool.close()


async def _capped(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise TooLarge
        yield chunk


def _check(form: FormData) -> Upload | Denied:
    fields: list[tuple[str, str]] = []
    files: list[UploadFile] = []
    for key, value in form.multi_items():
        if isinstance(value, str):
            if not FIELD_NAME.match(key):
                return bad_request(f"unexpected form field {key[:64]!r}")
            fields.append((key, value))
        elif key != FILE_FIELD:
            return bad_request(f"unexpected file field {key[:64]!r}: only {FILE_FIELD!r}")
        else:
            files.append(value)
    single: dict[str, str] = {}
    for name in SINGLE_FIELDS:
        # Exactly once: with two `name` fields the gateway and the registry could each
        # pick a different one, and scope would be checked against the wrong project.
        values = [v for k, v in fields if k == name]
        if len(values) != 1 or not values[0].strip():
            return bad_request(f"form field {name!r} must be given exactly once")
        single[name] = values[0]
    if single[":action"] != ACTION:
        return bad_request(f":action {single[':action'][:64]!r} is not supported, only {ACTION!r}")
    if len(files) != 1:
        return bad_request(f"form field {FILE_FIELD!r} must be a file")
    try:
        project = normalize_project(single["name"])
    except ValueError:
        return bad_request(f"{single['name'][:100]!r} is not a valid project name")
    content = files[0]
    filename = content.filename or ""
    # The registry files the upload by its file name: scope and staging are decided for
    # the project and version that name carries, so the form must agree with it.
    found = matching(filename, project, single["version"])
    if isinstance(found, Refusal):
        return bad_request(found.description, found.code)
    return Upload(project, str(found.version), found.kind, filename, tuple(fields), content, form)
