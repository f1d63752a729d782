"""The documented examples load: config/issuers.toml's commented issuers, README's publishers."""

from __future__ import annotations

import re
from pathlib import Path

from service.issuers import load_issuers
from service.trust.toml import load_trust

ROOT = Path(__file__).resolve().parents[2]


def uncommented_issuers() -> str:
    """config/issuers.toml with every commented-out `[[issuer]]` example switched on."""
    lines = (ROOT / "config" / "issuers.toml").read_text(encoding="utf-8").splitlines()
    example = re.compile(r"# (\[\[issuer\]\]|[a-z_]+ = .*)")
    return "\n".join(m[1] if (m := example.fullmatch(line)) else line for line in lines)


def readme_providers_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Other providers", 1)[1]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def test_every_commented_issuer_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "issuers.toml"
    path.write_text(uncommented_issuers(), encoding="utf-8")
    issuers = load_issuers(path, audience="mintgate", leeway=30)
    assert {"google", "activestate", "circleci", "buildkite", "semaphore", "custom"} <= (
        issuers.providers()
    )
    assert issuers["https://accounts.google.com"].jwks_hosts == {"www.googleapis.com"}


def test_the_readme_publishers_load_against_those_issuers(tmp_path: Path) -> None:
    issuers_path, publishers_path = tmp_path / "issuers.toml", tmp_path / "publishers.toml"
    issuers_path.write_text(uncommented_issuers(), encoding="utf-8")
    publishers_path.write_text(readme_providers_block(), encoding="utf-8")
    trust = load_trust(publishers_path, load_issuers(issuers_path, audience="a", leeway=0))
    assert len(trust) == 6
