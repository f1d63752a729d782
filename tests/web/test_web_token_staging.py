"""The project page (issue 21): no token for a trusted-publishing-only project, and the
staging form's choice for uploads made with API tokens (on unless switched off)."""

from __future__ import annotations

import pytest
from web_helpers import NEW_TOKEN, Page

pytestmark = pytest.mark.anyio
BASE = "/projects/sampleproject"
TOKEN = {"name": "laptop", "scope": "project", "expires_days": "30"}


async def test_a_token_for_a_trusted_only_project_is_refused_on_the_page(browser: Page) -> None:
    await browser.owner()
    await browser.get(BASE)
    await browser.post(f"{BASE}/trusted-publishing-only", {"enabled": "on"})
    assert 'id="tokens-trusted-only"' in browser.text

    refused = await browser.post(f"{BASE}/tokens", TOKEN)

    assert refused.status_code == 403
    assert "trusted-publishing-only" in browser.text
    assert NEW_TOKEN.search(refused.text) is None
    page = await browser.get(BASE)
    assert 'data-token-id="' not in page.text
    # All my projects: made, and refused at upload by the gateway (tests/apitokens).
    made = await browser.post(f"{BASE}/tokens", {**TOKEN, "scope": "all"})
    assert made.status_code == 200
    assert NEW_TOKEN.search(made.text) is not None


async def test_the_staging_form_stages_api_token_uploads_unless_switched_off(
    browser: Page,
) -> None:
    await browser.owner()
    await browser.get(BASE)
    await browser.post(f"{BASE}/staging", {"enabled": "on"})
    assert "Uploads made with API tokens wait too." in browser.text
    await browser.post(f"{BASE}/staging", {"enabled": "on", "stage_api_tokens": "off"})
    assert "Uploads made with API tokens publish at once, unreviewed." in browser.text
    assert "stage_api_tokens" in browser.text  # the audit line says what changed
    broken = await browser.post(f"{BASE}/staging", {"enabled": "on", "stage_api_tokens": "x"})
    assert broken.status_code == 400
    assert "stage_api_tokens: expected on or off" in browser.text
    await browser.get(BASE)
    assert "Uploads made with API tokens publish at once, unreviewed." in browser.text
    await browser.post(f"{BASE}/staging", {"enabled": "on", "stage_api_tokens": "on"})
    assert "Uploads made with API tokens wait too." in browser.text
