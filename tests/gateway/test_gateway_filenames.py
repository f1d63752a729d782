"""The file must be the distribution the form names: same project, same version (issue 21).

pypiserver, devpi and their kin file an upload by its file name, not by the form, so
a form that says `version=2.0` around `sampleproject-6.6.6.tar.gz` publishes 6.6.6:
scope and staging would have been decided for a version that is not the one published.
Names compare under PEP 503, versions under PEP 440, file names by the wheel and sdist
rules (packaging.utils); anything the rules cannot read is refused.
"""

from __future__ import annotations

import pytest
from gatewaykit import PROJECT, Gateway, Registry, basic, form, mint, upload, wheel

from service.gateway.filenames import INVALID_FILENAME, INVALID_VERSION, distribution
from service.minting.keys import SigningKeys
from service.publishers.base import Refusal

pytestmark = pytest.mark.anyio
SDIST = b"not really a tarball: the gateway never opens it"


def _sdist(filename: str) -> tuple[str, bytes]:
    return filename, SDIST


# (form name, form version, file, code) -- code None: accepted and forwarded.
CASES = [
    pytest.param(PROJECT, "2.0", _sdist(f"{PROJECT}-2.0.tar.gz"), None, id="sdist-matches"),
    pytest.param(PROJECT, "2.0", wheel(PROJECT, "2.0"), None, id="wheel-matches"),
    pytest.param(PROJECT, "2.0", _sdist(f"{PROJECT}-2.0.0.tar.gz"), None, id="2.0-is-2.0.0"),
    pytest.param(PROJECT, "2.0.0", wheel(PROJECT, "2.0"), None, id="2.0.0-is-2.0"),
    pytest.param(PROJECT, "v2.0", _sdist(f"{PROJECT}-2.0.tar.gz"), None, id="v-prefix"),
    pytest.param(PROJECT, "2.0", _sdist("SampleProject-2.0.tar.gz"), None, id="name-case"),
    pytest.param("Foo.Bar", "2.0", wheel("foo_bar", "2.0"), None, id="Foo.Bar-is-foo_bar"),
    pytest.param("foo_bar", "2.0", _sdist("Foo.Bar-2.0.tar.gz"), None, id="foo_bar-is-Foo.Bar"),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-6.6.6.tar.gz"), INVALID_FILENAME, id="sdist-version"
    ),
    pytest.param(PROJECT, "2.0", wheel(PROJECT, "6.6.6"), INVALID_FILENAME, id="wheel-version"),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-2.0+evil.tar.gz"), INVALID_FILENAME, id="local-label"
    ),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-2.0.post1.tar.gz"), INVALID_FILENAME, id="post-release"
    ),
    pytest.param(PROJECT, "2.0", _sdist("otherproject-2.0.tar.gz"), INVALID_FILENAME, id="name"),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-evil-2.0.tar.gz"), INVALID_FILENAME, id="longer-name"
    ),
    pytest.param(PROJECT, "2.0", wheel("otherproject", "2.0"), INVALID_FILENAME, id="wheel-name"),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-2.0.win32.exe"), INVALID_FILENAME, id="exe-installer"
    ),
    pytest.param(PROJECT, "2.0", _sdist(f"{PROJECT}-2.0.zip"), INVALID_FILENAME, id="zip-sdist"),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-2.0.tar.bz2"), INVALID_FILENAME, id="tar-bz2-sdist"
    ),
    pytest.param(PROJECT, "2.0", _sdist(f"{PROJECT}-2.0.egg"), INVALID_FILENAME, id="egg"),
    pytest.param(
        PROJECT, "2.0", _sdist(f"../{PROJECT}-2.0.tar.gz"), INVALID_FILENAME, id="dot-dot-slash"
    ),
    pytest.param(
        PROJECT, "2.0", _sdist(f"dist/{PROJECT}-2.0.tar.gz"), INVALID_FILENAME, id="slash"
    ),
    pytest.param(
        PROJECT, "2.0", _sdist(f"dist\\{PROJECT}-2.0.tar.gz"), INVALID_FILENAME, id="backslash"
    ),
    pytest.param(PROJECT, "2.0", _sdist(f"{PROJECT}.tar.gz"), INVALID_FILENAME, id="no-version"),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-2.0-py3-none.whl"), INVALID_FILENAME, id="wheel-parts"
    ),
    pytest.param(
        PROJECT,
        "2.0",
        _sdist(f"{PROJECT}-2.0-x-py3-none-any.whl"),
        INVALID_FILENAME,
        id="wheel-build-tag",
    ),
    pytest.param(
        PROJECT, "2.0", _sdist(f"{PROJECT}-latest.tar.gz"), INVALID_FILENAME, id="not-pep-440"
    ),
    pytest.param(PROJECT, "2.0", _sdist("-2.0.tar.gz"), INVALID_FILENAME, id="no-name"),
    pytest.param(PROJECT, "latest", _sdist(f"{PROJECT}-2.0.tar.gz"), INVALID_VERSION, id="form"),
]


@pytest.mark.parametrize(("name", "version", "file", "code"), CASES)
async def test_the_file_must_carry_the_forms_name_and_version(
    gateway: Gateway,
    registry: Registry,
    signing: SigningKeys,
    name: str,
    version: str,
    file: tuple[str, bytes],
    code: str | None,
) -> None:
    token = mint(signing, projects=("sampleproject", "foo-bar"))
    async with gateway() as client:
        answer = await upload(
            client, token, project=name, fields=form(name=name, version=version), file=file
        )

    if code is None:
        assert answer.status_code == 200, answer.text
        assert registry.upload.call_count == 1
        return
    assert answer.status_code == 400, answer.text
    assert answer.text.startswith(f"{code}: ")
    assert registry.upload.call_count == 0
    assert token not in answer.text


async def test_an_empty_file_name_is_refused(
    gateway: Gateway, registry: Registry, signing: SigningKeys
) -> None:
    # httpx leaves out an empty filename, so the part is written by hand.
    boundary = "b0undary"
    parts = [(k, v) for k, v in form(version="2.0").items() if isinstance(v, str)]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in parts
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += SDIST + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", **basic(mint(signing))}
    async with gateway() as client:
        answer = await client.post("/", content=body, headers=headers)

    assert answer.status_code == 400, answer.text
    assert answer.text.startswith(f"{INVALID_FILENAME}: ")
    assert registry.upload.call_count == 0


@pytest.mark.parametrize(
    ("filename", "project", "version", "kind"),
    [
        pytest.param("foo_bar-6.6.6.tar.gz", "foo-bar", "6.6.6", "sdist", id="sdist"),
        pytest.param("Foo.Bar-2.0-py3-none-any.whl", "foo-bar", "2.0", "wheel", id="wheel"),
        pytest.param("foo-1.0-1-cp312-cp312-linux_x86_64.whl", "foo", "1.0", "wheel", id="build"),
        pytest.param("foo-V1.0.tar.gz", "foo", "1.0", "sdist", id="normalised-version"),
    ],
)
def test_distribution_reads_what_the_file_really_is(
    filename: str, project: str, version: str, kind: str
) -> None:
    found = distribution(filename)
    assert not isinstance(found, Refusal), found
    assert (found.project, str(found.version), found.kind) == (project, version, kind)


@pytest.mark.parametrize(
    "filename",
    [
        "",
        "foo-2.0.zip",
        "foo-2.0.exe",
        "foo--2.0.tar.gz",
        "foo.whl",
        "foo-2.0.TAR.GZ",
        "a/b-1.tar.gz",
    ],
)
def test_distribution_refuses_what_the_rules_cannot_read(filename: str) -> None:
    found = distribution(filename)
    assert isinstance(found, Refusal)
    assert found.code == INVALID_FILENAME
