"""A garbage token given to `mintgate token inspect` is explained with both kinds of token."""

from __future__ import annotations

import io

import pytest

from service.cli import main

GARBAGE = [
    pytest.param("hello", id="word"),
    pytest.param("ghp_" + "a" * 36, id="github-token"),
    pytest.param("mintgat_abc.def.ghi_AbC123", id="misspelt-prefix"),
    pytest.param("mgapi-AbCdEf012345", id="dash-instead-of-underscore"),
    pytest.param("Bearer mintgate_", id="pasted-with-scheme"),
]


@pytest.mark.parametrize("garbage", GARBAGE)
@pytest.mark.parametrize("given", ["argument", "stdin"])
def test_garbage_names_minted_and_api_token_prefixes(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    garbage: str,
    given: str,
) -> None:
    if given == "stdin":
        monkeypatch.setattr("sys.stdin", io.StringIO(garbage + "\n"))
        code = main(["token", "inspect"])
    else:
        code = main(["token", "inspect", garbage])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert "'mintgate_'" in err
    assert "'mgapi_'" in err
    assert "minted tokens" in err
    assert "API tokens" in err
    assert garbage not in err
