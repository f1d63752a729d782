"""What an uploaded file is, read from its name by the wheel and sdist rules; pure.

Registries such as pypiserver and devpi file an upload by its file name and never
read the form, so the name *is* the release: `version=2.0` around
`foo_bar-6.6.6.tar.gz` publishes 6.6.6. Scope and staging must therefore be decided
for the project and version the file name carries, and a form that disagrees with
it is refused. Names compare under PEP 503, versions under PEP 440 (`2.0` is
`2.0.0`), through `packaging`, the reference implementation of both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from service.publishers.base import Refusal
from service.trust import normalize_project

INVALID_FILENAME: Final = "invalid-filename"
INVALID_VERSION: Final = "invalid-version"

# The file name is written back into the multipart headers sent to the registry:
# nothing that could close a quoted string or a header line, no path separator.
SAFE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}$")
# PEP 625: an sdist is a .tar.gz. PyPI no longer takes new .zip sdists, .egg or
# installers (PEP 527, PEP 715); an index behind us must not be handed one either.
EXTENSIONS: Final = (".whl", ".tar.gz")

Kind = Literal["sdist", "wheel"]
SHAPES: Final[dict[Kind, str]] = {
    "wheel": "{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl",
    "sdist": "{name}-{version}.tar.gz",
}


@dataclass(frozen=True, slots=True)
class Distribution:
    project: str  # PEP 503 normalised
    version: Version
    kind: Kind


def distribution(filename: str) -> Distribution | Refusal:
    """The project and version a wheel or sdist file name carries, or why it carries none."""
    shown = repr(filename[:255])
    if not SAFE.match(filename):
        return Refusal(
            INVALID_FILENAME,
            f"file {shown} is not a distribution file name: letters, digits and ._+!- only,"
            " no path",
        )
    if not filename.endswith(EXTENSIONS):
        return Refusal(
            INVALID_FILENAME,
            f"file {shown}: expected a wheel (.whl) or an sdist (.tar.gz), PEP 625",
        )
    kind: Kind = "wheel" if filename.endswith(".whl") else "sdist"
    try:
        if kind == "wheel":
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
        # packaging canonicalises without checking PEP 508's rules ('foo-' passes).
        project = normalize_project(name)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, ValueError):
        return Refusal(
            INVALID_FILENAME,
            f"file {shown} is not a valid {kind} name: expected {SHAPES[kind]}",
        )
    return Distribution(project, version, kind)


def matching(filename: str, project: str, version: str) -> Distribution | Refusal:
    """The file, when it is a distribution of `project` (normalised) at `version` (as sent)."""
    try:
        wanted = Version(version)
    except InvalidVersion:
        return Refusal(INVALID_VERSION, f"version {version[:64]!r} is not a PEP 440 version")
    found = distribution(filename)
    if isinstance(found, Refusal):
        return found
    shown = repr(filename[:255])
    if found.project != project:
        return Refusal(
            INVALID_FILENAME,
            f"file {shown} is not a distribution of project {project!r}:"
            f" its name says {found.project!r}",
        )
    if found.version != wanted:
        return Refusal(
            INVALID_FILENAME,
            f"file {shown} is version {found.version}, but the form says version {version[:64]!r}:"
            " the registry would publish the file's",
        )
    return found
