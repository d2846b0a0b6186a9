// Browser cookie mode (JWT_AUTH_COOKIE, dj-rest-auth's settings): the cookies jwt/create and
// jwt/refresh set, the access cookie standing in for the Authorization header, the CSRF rules
// (origin check, double-submit token), credentialed CORS, and jwt/logout. The real-browser run of
// the same is browser.spec.ts.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Reply, signedIn, spawnApp, TestApp } from "./helpers";

const APP = "https://app.example.com";
const EVIL = "https://evil.example";
const ACCESS = "__Host-access";
const REFRESH = "__Secure-refresh";

interface Cookie {
  value: string;
  attrs: string[];
}

/** The response's Set-Cookie lines by cookie name. */
function setCookies(res: Reply): Record<string, Cookie> {
  const out: Record<string, Cookie> = {};
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(";").map((s) => s.trim());
    const i = pair.indexOf("=");
    out[pair.slice(0, i)] = { value: pair.slice(i + 1), attrs };
  }
  return out;
}

/** A browser session: the three cookies after a sign-in. */
interface Session {
  access: string;
  refresh: string;
  csrf: string;
  username: string;
  password: string;
}

function cookieHeader(s: Partial<Session>, names = { access: ACCESS, refresh: REFRESH }): string {
  const parts: string[] = [];
  if (s.access) parts.push(`${names.access}=${s.access}`);
  if (s.refresh) parts.push(`${names.refresh}=${s.refresh}`);
  if (s.csrf) parts.push(`csrftoken=${s.csrf}`);
  return parts.join("; ");
}

/** Headers of a cookie-authenticated request from the trusted frontend with the CSRF proof. */
function fromApp(s: Partial<Session>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    Cookie: cookieHeader(s),
    Origin: APP,
    "Sec-Fetch-Site": "cross-site",
    ...(s.csrf ? { "X-CSRFToken": s.csrf } : {}),
    ...extra,
  };
}

async function signIn(app: TestApp): Promise<Session & { res: Reply }> {
  const u = await app.createActiveUser();
  const res = await app.post("/auth/jwt/create/", { username: u.username, password: u.password });
  expect(res.status).toBe(200);
  const c = setCookies(res);
  return {
    res,
    access: c[ACCESS].value,
    refresh: c[REFRESH].value,
    csrf: c.csrftoken.value,
    username: u.username,
    password: u.password,
  };
}

describe("cookie mode with the OWASP defaults", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ JWT_AUTH_COOKIE: ACCESS, CORS_ALLOWED_ORIGINS: APP });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("jwt_create_sets_the_three_cookies_with_secure_httponly_samesite_strict_and_max_age", async () => {
    const s = await signIn(app);
    const c = setCookies(s.res);
    expect(Object.keys(c).sort()).toEqual([REFRESH, ACCESS, "csrftoken"].sort());
    expect(c[ACCESS].attrs).toEqual(["Max-Age=300", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"]);
    expect(c[REFRESH].attrs).toEqual([
      "Max-Age=86400",
      "Path=/auth/jwt/",
      "Secure",
      "HttpOnly",
      "SameSite=Strict",
    ]);
    expect(c.csrftoken.attrs).toEqual(["Max-Age=86400", "Path=/", "Secure", "SameSite=Strict"]);
    expect(c.csrftoken.value).toMatch(/^[0-9a-f]{64}$/);
    expect(s.res.headers.get("x-csrftoken")).toBe(c.csrftoken.value);
    for (const line of s.res.headers.getSetCookie()) expect(line).not.toMatch(/expires/i);
  });

  test("with_jwt_auth_httponly_the_refresh_in_the_body_is_empty_and_the_access_token_is_the_cookies", async () => {
    const s = await signIn(app);
    expect(s.res.body).toEqual({ refresh: "", access: s.access });
  });

  test("users_me_accepts_the_access_cookie_when_there_is_no_authorization_header", async () => {
    const s = await signIn(app);
    const res = await app.call("/auth/users/me/", { headers: { Cookie: cookieHeader(s) } });
    expect(res.status).toBe(200);
    expect(res.body.username).toBe(s.username);
  });

  test("the_authorization_header_wins_when_both_are_present", async () => {
    const cookieUser = await signIn(app);
    const headerUser = await signedIn(app);
    const res = await app.call("/auth/users/me/", {
      headers: { Cookie: cookieHeader(cookieUser), Authorization: headerUser.auth },
    });
    expect(res.body.username).toBe(headerUser.username);
    const bad = await app.call("/auth/users/me/", {
      headers: { Cookie: cookieHeader(cookieUser), Authorization: "Bearer not-a-token" },
    });
    expect(bad.status).toBe(401);
    // A header of another scheme still wins: anonymous, as dj-rest-auth decides.
    const other = await app.call("/auth/users/me/", {
      headers: { Cookie: cookieHeader(cookieUser), Authorization: "Basic eDp5" },
    });
    expect(other.status).toBe(401);
  });

  test("an_expired_or_forged_access_cookie_is_a_401_like_the_header", async () => {
    const res = await app.call("/auth/users/me/", { headers: { Cookie: `${ACCESS}=forged` } });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("token_not_valid");
  });

  test("an_unsafe_request_authenticated_by_the_cookie_needs_the_matching_csrf_token", async () => {
    const s = await signIn(app);
    const patch = (headers: Record<string, string>) =>
      app.call("/auth/users/me/", { method: "PATCH", json: {}, headers });
    const missing = await patch(fromApp({ ...s, csrf: undefined }, { Cookie: cookieHeader(s) }));
    expect(missing.status).toBe(403);
    expect(missing.body).toEqual({ detail: "CSRF Failed: CSRF token missing." });
    const wrong = await patch(fromApp(s, { "X-CSRFToken": "0".repeat(64) }));
    expect(wrong.body).toEqual({ detail: "CSRF Failed: CSRF token incorrect." });
    const noCookie = await patch(fromApp({ access: s.access }, { "X-CSRFToken": s.csrf }));
    expect(noCookie.body).toEqual({ detail: "CSRF Failed: CSRF cookie not set." });
    const ok = await patch(fromApp(s));
    expect(ok.status).toBe(200);
    // Safe methods need no proof.
    const get = await app.call("/auth/users/me/", { headers: { Cookie: cookieHeader({ access: s.access }) } });
    expect(get.status).toBe(200);
  });

  test("a_disallowed_origin_is_refused_even_with_the_right_token", async () => {
    const s = await signIn(app);
    const res = await app.call("/auth/users/me/", {
      method: "PATCH",
      json: {},
      headers: fromApp(s, { Origin: EVIL }),
    });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({
      detail: `CSRF Failed: Origin checking failed - ${EVIL} does not match any trusted origins.`,
    });
    const noOrigin = await app.call("/auth/users/set_password/", {
      method: "POST",
      json: { current_password: s.password, new_password: "another-long-pass" },
      headers: { Cookie: cookieHeader(s), "X-CSRFToken": s.csrf, "Sec-Fetch-Site": "cross-site" },
    });
    expect(noOrigin.body).toEqual({ detail: "CSRF Failed: Referer checking failed - no Referer." });
    // The API's own origin is always trusted.
    const own = await app.call("/auth/users/me/", {
      method: "PATCH",
      json: {},
      headers: fromApp(s, { Origin: "http://localhost", "Sec-Fetch-Site": "same-origin" }),
    });
    expect(own.status).toBe(200);
  });

  test("requests_with_an_authorization_header_need_no_csrf_proof", async () => {
    const u = await signedIn(app);
    const res = await app.call("/auth/users/me/", {
      method: "PATCH",
      json: {},
      headers: { Authorization: u.auth, Origin: EVIL },
    });
    expect(res.status).toBe(200);
  });

  test("a_listed_origin_gets_credentialed_cors_with_vary_origin_others_get_no_grant", async () => {
    const s = await signIn(app);
    const res = await app.call("/auth/users/me/", { headers: { Cookie: cookieHeader(s), Origin: APP } });
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("access-control-expose-headers")).toContain("X-CSRFToken");
    expect(res.headers.get("vary")).toContain("Origin");
    const other = await app.call("/auth/users/me/", { headers: { Cookie: cookieHeader(s), Origin: EVIL } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect(other.headers.get("access-control-allow-credentials")).toBeNull();
  });

  test("a_credentials_preflight_from_a_listed_origin_allows_x_csrftoken_and_only_that_origin", async () => {
    const preflight = (origin: string) =>
      app.call("/auth/jwt/refresh/", {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "content-type,x-csrftoken",
        },
      });
    const res = await preflight(APP);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("access-control-allow-headers")).toContain("X-CSRFToken");
    expect(res.headers.get("access-control-allow-methods")).toBe("POST, OPTIONS");
    expect(res.headers.get("vary")).toContain("Origin");
    const evil = await preflight(EVIL);
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    expect(evil.headers.get("access-control-allow-credentials")).toBeNull();
  });

  test("jwt_refresh_takes_the_refresh_cookie_and_sets_the_rotated_cookies", async () => {
    const s = await signIn(app);
    const res = await app.call("/auth/jwt/refresh/", { method: "POST", json: {}, headers: fromApp(s) });
    expect(res.status).toBe(200);
    const c = setCookies(res);
    expect(c[REFRESH].value).not.toBe(s.refresh);
    expect(c[ACCESS].value).toBe(res.body.access);
    expect(res.body).toEqual({ access: c[ACCESS].value, refresh: "" });
    // The session keeps its CSRF token.
    expect(c.csrftoken.value).toBe(s.csrf);
    const me = await app.call("/auth/users/me/", { headers: { Cookie: `${ACCESS}=${c[ACCESS].value}` } });
    expect(me.status).toBe(200);
    // The old refresh cookie is spent: inside the grace window it only yields the same successor.
    const again = await app.call("/auth/jwt/refresh/", { method: "POST", json: {}, headers: fromApp(s) });
    expect(again.status).toBe(200);
    expect(setCookies(again)[REFRESH].value).toBe(c[REFRESH].value);
  });

  test("jwt_refresh_from_the_cookie_needs_the_csrf_proof_from_the_body_it_does_not", async () => {
    const s = await signIn(app);
    const noProof = await app.call("/auth/jwt/refresh/", {
      method: "POST",
      json: {},
      headers: { Cookie: cookieHeader(s), Origin: APP },
    });
    expect(noProof.status).toBe(403);
    expect(noProof.body).toEqual({ detail: "CSRF Failed: CSRF token missing." });
    expect(noProof.headers.getSetCookie()).toEqual([]);
    const evil = await app.call("/auth/jwt/refresh/", {
      method: "POST",
      json: {},
      headers: fromApp(s, { Origin: EVIL }),
    });
    expect(evil.status).toBe(403);
    const body = await app.post("/auth/jwt/refresh/", { refresh: s.refresh });
    expect(body.status).toBe(200);
    expect(setCookies(body)[REFRESH]).toBeDefined();
  });

  test("jwt_refresh_with_no_token_anywhere_is_dj_rest_auths_401", async () => {
    const res = await app.post("/auth/jwt/refresh/", {});
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "No valid refresh token found.", code: "token_not_valid" });
  });

  test("jwt_logout_reads_the_refresh_cookie_ends_its_family_and_clears_the_cookies", async () => {
    const s = await signIn(app);
    const res = await app.call("/auth/jwt/logout/", { method: "POST", json: {}, headers: fromApp(s) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ detail: "Successfully logged out." });
    const c = setCookies(res);
    for (const name of [ACCESS, REFRESH, "csrftoken"]) {
      expect(c[name].value).toBe("");
      expect(c[name].attrs).toContain("Max-Age=0");
    }
    expect(c[REFRESH].attrs).toContain("Path=/auth/jwt/");
    const reuse = await app.post("/auth/jwt/refresh/", { refresh: s.refresh });
    expect(reuse.status).toBe(401);
    expect(reuse.body.detail).toBe("Token is blacklisted");
  });

  test("jwt_logout_also_takes_a_body_refresh_and_a_refused_csrf_proof_clears_nothing", async () => {
    const s = await signIn(app);
    const refused = await app.call("/auth/jwt/logout/", {
      method: "POST",
      json: {},
      headers: fromApp(s, { Origin: EVIL }),
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.getSetCookie()).toEqual([]);
    const res = await app.post("/auth/jwt/logout/", { refresh: s.refresh });
    expect(res.status).toBe(200);
    expect(Object.keys(setCookies(res))).toHaveLength(3);
    const again = await app.post("/auth/jwt/logout/", { refresh: s.refresh });
    expect(again.status).toBe(401);
    // Even a failed logout clears the browser's cookies.
    expect(Object.keys(setCookies(again))).toHaveLength(3);
  });
});

describe("cookie mode with relaxed settings", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({
      JWT_AUTH_COOKIE: "access",
      JWT_AUTH_REFRESH_COOKIE: "refresh",
      JWT_AUTH_SECURE: "false",
      JWT_AUTH_HTTPONLY: "false",
      JWT_AUTH_SAMESITE: "Lax",
      JWT_AUTH_COOKIE_USE_CSRF: "false",
      CORS_ALLOWED_ORIGINS: APP,
    });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("without_jwt_auth_httponly_the_body_keeps_the_refresh_token_and_the_cookies_are_readable", async () => {
    const u = await app.createActiveUser();
    const res = await app.post("/auth/jwt/create/", { username: u.username, password: u.password });
    const c = setCookies(res);
    expect(res.body.refresh).toBe(c.refresh.value);
    expect(res.body.refresh).not.toBe("");
    expect(c.access.attrs).toEqual(["Max-Age=300", "Path=/", "SameSite=Lax"]);
  });

  test("without_jwt_auth_cookie_use_csrf_only_the_origin_is_checked", async () => {
    const u = await app.createActiveUser();
    const res = await app.post("/auth/jwt/create/", { username: u.username, password: u.password });
    const access = setCookies(res).access.value;
    const patch = (origin: string) =>
      app.call("/auth/users/me/", { method: "PATCH", json: {}, headers: { Cookie: `access=${access}`, Origin: origin } });
    expect((await patch(APP)).status).toBe(200);
    expect((await patch(EVIL)).status).toBe(403);
  });
});

describe("cookie mode off (the default)", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ CORS_ALLOWED_ORIGINS: APP });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("no_cookie_is_set_none_is_read_and_cors_grants_carry_no_credentials", async () => {
    const u = await signedIn(app);
    const created = await app.post("/auth/jwt/create/", { username: u.username, password: u.password });
    expect(created.headers.getSetCookie()).toEqual([]);
    expect(created.body.refresh).not.toBe("");
    const me = await app.call("/auth/users/me/", { headers: { Cookie: `${ACCESS}=${u.access}`, Origin: APP } });
    expect(me.status).toBe(401);
    expect(me.headers.get("access-control-allow-origin")).toBe(APP);
    expect(me.headers.get("access-control-allow-credentials")).toBeNull();
  });

  test("jwt_logout_ends_the_family_of_a_body_refresh_like_jwt_blacklist", async () => {
    const u = await signedIn(app);
    const missing = await app.post("/auth/jwt/logout/", {});
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ refresh: ["This field is required."] });
    const res = await app.post("/auth/jwt/logout/", { refresh: u.refresh });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ detail: "Successfully logged out." });
    expect(res.headers.getSetCookie()).toEqual([]);
    const reuse = await app.post("/auth/jwt/refresh/", { refresh: u.refresh });
    expect(reuse.body.detail).toBe("Token is blacklisted");
  });
});
