"""What the browser tests do on every page: a screenshot at a desktop and a phone size, and
the phone's check that nothing is wider than its screen; and the steps a person takes."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from playwright.sync_api import Page, expect

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "web"
PASSWORD = "correct horse battery staple"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12 to 15, in CSS pixels

# The elements wider than the window, named so a failure says which: a table or <pre>
# that scrolls inside itself is fine, the page scrolling sideways is not.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const element of document.querySelectorAll("body *")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    let clipped = false;
    for (let up = element.parentElement; up; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX !== "visible" && up.getBoundingClientRect().right <= width + 1) {
        clipped = true;
        break;
      }
    }
    if (!clipped) wide.push(element.tagName.toLowerCase() + (element.id ? "#" + element.id : ""));
  }
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""


def overflow(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(OVERFLOWING)
    return found


def shot(page: Page, name: str) -> None:
    """The page as it is now, at 1280x900 and 390x844 (ARTIFACTS/{name}-1280.png and
    -390.png); at 390 px nothing may make it scroll sideways."""
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=ARTIFACTS / f"{name}-1280.png", full_page=True)
    page.set_viewport_size(PHONE)
    found = overflow(page)
    page.screenshot(path=ARTIFACTS / f"{name}-390.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    assert found["scroll"] <= found["width"], (name, found)
    assert not found["wide"], (name, found)


def sign_up(page: Page, name: str) -> None:
    page.goto("/web/signup")
    shot(page, "signup")
    page.fill("input[name=username]", name)
    page.fill("input[name=email]", f"{name}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Create account')")
    expect(page).to_have_url("/web/account/two-factor?done=welcome")
    expect(page.locator("#two-factor-banner")).to_be_visible()


def totp_code(manual_key: str, *, later: int = 0) -> str:
    secret = base64.b32decode(manual_key + "=" * (-len(manual_key) % 8))
    totp = TOTP(secret, 6, SHA1(), 30, enforce_key_length=True)  # noqa: S303 (RFC 6238)
    return totp.generate(time.time() + later).decode()


def virtual_authenticator(page: Page) -> Any:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def beside(page: Page, selector: str) -> list[str]:
    """Labels whose radio button or check box is not right before their words: the box's
    right edge more than a few pixels from where the text starts, or on another line."""
    found: list[str] = page.evaluate(
        """(selector) => {
          const far = [];
          for (const label of document.querySelectorAll(selector + " label")) {
            const box = label.querySelector("input[type=radio], input[type=checkbox]");
            if (!box) continue;
            const range = document.createRange();
            range.setStartAfter(box);
            range.setEndAfter(label.lastChild);
            const text = range.getClientRects()[0];
            const b = box.getBoundingClientRect();
            const gap = text.left - b.right;
            const apart = Math.abs((b.top + b.bottom) / 2 - (text.top + text.bottom) / 2);
            if (gap < 0 || gap > 12 || apart > text.height) far.push(label.textContent.trim());
          }
          return far;
        }""",
        selector,
    )
    return found
