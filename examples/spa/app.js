// A dependency-free frontend for djoser-edge in cookie mode (JWT_AUTH_COOKIE set). The tokens
// live in HttpOnly cookies this script cannot read; it only keeps the CSRF token, which proves
// that a state-changing request comes from this page and not from another site.
"use strict";

const API = (
  new URLSearchParams(location.search).get("api") ||
  document.querySelector('meta[name="api-base"]').content
).replace(/\/$/, "");

// The API sends its CSRF token in the X-CSRFToken response header at sign-in and refresh, and
// sets the readable `csrftoken` cookie. The cookie is readable here only when this page shares
// the API's host (or JWT_AUTH_COOKIE_DOMAIN covers both), so the header's copy is kept too.
// It is no credential on its own: without the HttpOnly cookies it opens nothing.
function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return (m && m[1]) || sessionStorage.getItem("csrftoken") || "";
}

/** Calls the API with the cookies (credentials: "include") and the CSRF token. */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken()) headers["X-CSRFToken"] = csrfToken();
  const res = await fetch(`${API}/${path}`, {
    method,
    headers,
    credentials: "include",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const token = res.headers.get("X-CSRFToken");
  if (token) sessionStorage.setItem("csrftoken", token);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { ok: res.ok, status: res.status, data };
}

const $ = (sel) => document.querySelector(sel);

function say(text, error = false) {
  $("#status").textContent = text;
  $("#status").className = error ? "error" : "";
}

/** djoser's error bodies: {"detail": "..."} or {"field": ["..."]}. */
function problem(res) {
  if (res.data && typeof res.data === "object") {
    if (res.data.detail) return res.data.detail;
    return Object.entries(res.data).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ");
  }
  return `HTTP ${res.status}`;
}

function fields(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function show(user) {
  $("#signed-out").hidden = !!user;
  $("#signed-in").hidden = !user;
  if (user) {
    $("#who").textContent = user.username;
    $("#email").textContent = user.email;
    $("#uid").textContent = user.id;
  }
}

/** users/me through the access cookie; on a 401 one refresh through the refresh cookie. */
async function loadUser() {
  let me = await api("users/me/");
  if (me.status === 401 && csrfToken()) {
    const refreshed = await api("jwt/refresh/", { method: "POST", body: {} });
    if (refreshed.ok) me = await api("users/me/");
  }
  show(me.ok ? me.data : null);
  return me;
}

$("#register").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await api("users/", { method: "POST", body: fields(e.target) });
  if (res.ok) {
    say(`Registered ${res.data.username}: open the activation link, or paste its uid and token below.`);
    $("#sign-in").username.value = res.data.username;
  } else say(problem(res), true);
});

$("#activate").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await api("users/activation/", { method: "POST", body: fields(e.target) });
  say(res.ok ? "Activated: you can sign in." : problem(res), !res.ok);
});

$("#sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await api("jwt/create/", { method: "POST", body: fields(e.target) });
  if (!res.ok) return say(problem(res), true);
  const me = await loadUser();
  say(me.ok ? "Signed in." : problem(me), !me.ok);
});

$("#refresh").addEventListener("click", async () => {
  const res = await api("jwt/refresh/", { method: "POST", body: {} });
  say(res.ok ? "Session refreshed." : problem(res), !res.ok);
});

$("#sign-out").addEventListener("click", async () => {
  const res = await api("jwt/logout/", { method: "POST", body: {} });
  sessionStorage.removeItem("csrftoken");
  show(null);
  say(res.ok ? "Signed out." : problem(res), !res.ok);
});

loadUser().then(() => say($("#signed-in").hidden ? "Not signed in." : "Signed in."));
