"use strict";
// Shared by the student and instructor pages: calls to the API, with the key this tab was given when the
// server asks for one (401). The key lives in sessionStorage: this tab only, gone when it closes.
const MentorApi = (() => {
  let scope = "student";

  function storageKey() {
    return `mentor.key.${scope}`;
  }

  function headers(extra) {
    const result = Object.assign({}, extra || {});
    const key = sessionStorage.getItem(storageKey());
    if (key) result["X-API-Key"] = key;
    return result;
  }

  // One prompt at a time, shared by every call that needs it.
  let asking = null;
  function askKey() {
    if (asking) return asking;
    const dialog = document.getElementById("key-dialog");
    const input = document.getElementById("key-input");
    input.value = "";
    asking = new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        const key = input.value.trim();
        if (key) sessionStorage.setItem(storageKey(), key);
        asking = null;
        resolve(Boolean(key));
      }, { once: true });
      dialog.showModal();
      input.focus();
    });
    return asking;
  }

  // The server says whether it wants a key, so the page asks before its first call instead of after a 401.
  let config = null;
  async function keyRequired() {
    if (!config) config = fetch("/static/config.json").then((r) => r.json()).catch(() => ({}));
    const needs = await config;
    return Boolean(scope === "instructor" ? needs.instructor_key : needs.key);
  }

  async function request(path, options) {
    const init = Object.assign({}, options || {});
    if (!sessionStorage.getItem(storageKey()) && (await keyRequired())) await askKey();
    for (;;) {
      const response = await fetch(path, Object.assign({}, init, { headers: headers(init.headers) }));
      if (response.status !== 401) return response;
      sessionStorage.removeItem(storageKey());
      if (!(await askKey())) return response;
    }
  }

  async function detail(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      return JSON.stringify(body.detail);
    } catch (err) {
      return `${response.status} ${response.statusText}`;
    }
  }

  async function json(path, options) {
    const response = await request(path, options);
    if (!response.ok) throw new Error(await detail(response));
    return response.json();
  }

  function post(path, body) {
    return json(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  return {
    request, json, post, detail,
    setScope(name) { scope = name; },
  };
})();
