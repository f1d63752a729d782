"""The files `mintgate serve` runs on when no MINTGATE_*_FILE names another.

They ship inside the package, so an install outside the checkout (the wheel, the
container image) starts as the checkout does. The repository's config/ keeps the
editable examples; tests/deploy/test_defaults.py holds config/issuers.toml's
issuers equal to ISSUERS.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["COMMON_PASSWORDS", "ISSUERS", "PUBLISHERS"]


def _packaged(name: str) -> Path:
    resource = files(__name__).joinpath(name)
    # Settings holds paths, and start-up errors name them: a zipped install has none.
    if not isinstance(resource, Path):
        raise RuntimeError(f"mintgate must be installed unpacked: {name} is not a file on disk")
    return resource


# GitHub Actions and gitlab.com; any other issuer is configured, not defaulted.
ISSUERS = _packaged("issuers.toml")
# None: a project is trusted only once an operator says so (fail closed).
PUBLISHERS = _packaged("publishers.toml")
COMMON_PASSWORDS = _packaged("common-passwords.txt")
