// The pages' only script (the Content-Security-Policy allows no inline one):
// copy buttons, and security keys through the browser's WebAuthn API talking to
// /api/v1 with the session cookie (the API checks the Origin of such requests).
"use strict";

async function api(path, body) {
  const response = await fetch("/api/v1" + path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const data = response.status === 204 ? {} : await response.json();
  if (!response.ok) {
    const first = (data.errors || [])[0] || {};
    throw new Error(first.description || "the server refused (" + response.status + ")");
  }
  return data;
}

function showError(id, error) {
  const box = document.getElementById(id);
  if (box) {
    box.textContent = error.message || String(error);
    box.hidden = false;
  }
}

function supported() {
  return window.PublicKeyCredential &&
    PublicKeyCredential.parseCreationOptionsFromJSON &&
    PublicKeyCredential.parseRequestOptionsFromJSON;
}

function showCodes(codes) {
  const template = document.getElementById("recovery-codes-template");
  const slot = document.getElementById("recovery-codes-slot");
  if (!template || !slot || !codes.length) return;
  const block = template.content.cloneNode(true);
  const text = codes.join("\n");
  block.querySelector("pre").textContent = text;
  block.querySelector("a[download]").href =
    "data:text/plain;charset=utf-8," + encodeURIComponent(text + "\n");
  slot.replaceChildren(block);
  wireCopy(slot);
}

async function addKey(event) {
  event.preventDefault();
  const form = event.target;
  try {
    if (!supported()) throw new Error("this browser cannot use security keys (WebAuthn)");
    const options = await api("/me/two-factor/security-keys/options");
    const created = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.public_key),
    });
    const added = await api("/me/two-factor/security-keys", {
      name: form.elements.name.value,
      credential: created.toJSON(),
    });
    document.getElementById("security-key-added").hidden = false;
    twoFactorNowOn();
    document.getElementById("security-key-error").hidden = true;
    if (added.recovery_codes && added.recovery_codes.length) {
      showCodes(added.recovery_codes);
    } else {
      window.location.reload();
    }
  } catch (error) {
    showError("security-key-error", error);
  }
}

async function signInWithKey(event) {
  const button = event.target;
  try {
    if (!supported()) throw new Error("this browser cannot use security keys (WebAuthn)");
    const options = await api("/session/confirm/security-key/options");
    const asserted = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.public_key),
    });
    await api("/session/confirm/security-key", { credential: asserted.toJSON() });
    window.location.assign(button.dataset.next || "/web/");
  } catch (error) {
    showError("security-key-error", error);
  }
}

function wireCopy(root) {
  for (const button of root.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    });
  }
}

// WebAuthn binds a key to a host name: a browser refuses it on an IP address
// (127.0.0.1) or on a name other than the service's RP id. Only the browser knows
// the address it used, so the page's notice is shown from here, and the buttons
// that could only fail are disabled.
function keysRefusedHere(rpId) {
  const host = location.hostname;
  const ip = /^[0-9.]+$/.test(host) || host.includes(":") || host.startsWith("[");
  return ip || !(host === rpId || host.endsWith("." + rpId));
}

function markKeyPlace() {
  const notice = document.getElementById("security-key-unavailable");
  if (!notice) return;
  if (notice.dataset.rpId && !keysRefusedHere(notice.dataset.rpId)) return;
  notice.hidden = false;
  for (const id of ["security-key-add", "security-key-sign-in"]) {
    const element = document.getElementById(id);
    if (!element) continue;
    const controls = element.tagName === "BUTTON" ? [element] : element.querySelectorAll("button, input");
    for (const control of controls) control.disabled = true;
  }
}

// The banner asks for a second factor; once a security key added the first one,
// it would ask for what the page just announced.
function twoFactorNowOn() {
  const banner = document.getElementById("two-factor-banner");
  if (banner) banner.remove();
}

document.addEventListener("DOMContentLoaded", () => {
  markKeyPlace();
  wireCopy(document);
  const add = document.getElementById("security-key-add");
  if (add) add.addEventListener("submit", addKey);
  const signIn = document.getElementById("security-key-sign-in");
  if (signIn) signIn.addEventListener("click", signInWithKey);
});
