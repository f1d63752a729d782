"""Where staged files wait: a StagingArea protocol and its filesystem implementation.

Files arrive as a stream of chunks and leave as one; neither side ever holds a
whole file in memory. Each is hashed (SHA-256) as it is written, and measured
again before it is forwarded, so a file changed on disk while it waited is
caught. Keys are random and chosen here: an uploader's file name never becomes
a path.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from anyio import to_thread

CHUNK = 256 * 1024
KEY = re.compile(r"^[0-9a-f]{32}$")
# A write in progress (or abandoned by a process that died): see FileStagingArea.put.
PARTIAL = re.compile(r"^\.[0-9a-f]{32}\.partial$")


class StagedFileMissing(Exception):
    """The staging area has no file under this key (removed, or never written)."""


@dataclass(frozen=True, slots=True)
class Stored:
    key: str
    size: int
    sha256: str  # hex


class StagingArea(Protocol):
    async def put(self, chunks: AsyncIterable[bytes]) -> Stored:
        """Write the stream under a new key; the key, byte count and SHA-256."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes in chunks; raises StagedFileMissing when absent."""

    async def measure(self, key: str) -> Stored | None:
        """Size and SHA-256 of the file as it is now; None when absent."""

    async def remove(self, key: str) -> None:
        """Gone, whether or not it was there."""

    async def keys_before(self, cutoff: datetime) -> list[str]:
        """Keys of files (finished or partly written) last modified before `cutoff`.

        Each is accepted by `remove`; a partly written file never by `read`.
        """


class FileStagingArea:
    """One directory; each file written to a temporary name, synced, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        # Keys come back from the database: refuse anything that is not one of ours.
        if not KEY.match(key):
            raise StagedFileMissing(key)
        return self.root / key

    async def put(self, chunks: AsyncIterable[bytes]) -> Stored:
        await to_thread.run_sync(lambda: self.root.mkdir(parents=True, exist_ok=True))
        key = secrets.token_hex(16)
        partial = self.root / f".{key}.partial"
        digest, size = hashlib.sha256(), 0
        out = await to_thread.run_sync(_create, partial)
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await to_thread.run_sync(out.write, chunk)
            await to_thread.run_sync(_sync_close, out)
            await to_thread.run_sync(os.replace, partial, self._path(key))
        except BaseException:
            out.close()
            await to_thread.run_sync(lambda: partial.unlink(missing_ok=True))
            raise
        return Stored(key, size, digest.hexdigest())

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await to_thread.run_sync(path.open, "rb")
        except FileNotFoundError:
            raise StagedFileMissing(key) from None
        try:
            while chunk := await to_thread.run_sync(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def measure(self, key: str) -> Stored | None:
        digest, size = hashlib.sha256(), 0
        try:
            async for chunk in self.read(key):
                digest.update(chunk)
                size += len(chunk)
        except StagedFileMissing:
            return None
        return Stored(key, size, digest.hexdigest())

    async def remove(self, key: str) -> None:
        # A partial name only ever comes from keys_before, never from the database.
        if not (KEY.fullmatch(key) or PARTIAL.fullmatch(key)):
            return
        path = self.root / key
        await to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def keys_before(self, cutoff: datetime) -> list[str]:
        return await to_thread.run_sync(_names_before, self.root, cutoff.timestamp())


def _names_before(root: Path, cutoff: float) -> list[str]:
    # Only names put() makes, and only regular files: a symlink or directory planted in
    # the area is neither listed nor followed, so nothing outside it is ever removed.
    try:
        with os.scandir(root) as listing:
            entries = list(listing)
    except FileNotFoundError:
        return []
    names = []
    for entry in entries:
        if not (KEY.fullmatch(entry.name) or PARTIAL.fullmatch(entry.name)):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                names.append(entry.name)
        except FileNotFoundError:  # removed meanwhile (an approval, a rejection)
            continue
    return sorted(names)


def _create(path: Path) -> BinaryIO:
    # O_EXCL: a key is never reused; 0600: staged files are readable by the service only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _sync_close(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
