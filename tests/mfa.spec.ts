// Two-factor sign-in: TOTP enrolment, the two-step jwt/create and token/login, backup codes,
// deactivation, throttling; codes are computed here from the secret with Node's crypto (RFC 6238:
// HMAC-SHA-1, 6 digits, 30 s steps), independently of the Worker's implementation.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { base32Decode, expectNoContent, keys, signedIn, SignedInUser, spawnApp, TestApp, totp } from "./helpers";

interface Enrolled extends SignedInUser {
  secret: string;
  codes: string[];
}

/** A signed-in user with TOTP enabled (its confirming code used the current step). */
async function enrolled(app: TestApp): Promise<Enrolled> {
  const me = await signedIn(app);
  const started = await app.post("/auth/mfa/totp/activate/", { current_password: me.password }, { auth: me.auth });
  expect(started.status, started.text).toBe(200);
  const confirmed = await app.post("/auth/mfa/totp/activate/confirm/", { code: totp(started.body.secret) }, { auth: me.auth });
  expect(confirmed.status, confirmed.text).toBe(200);
  return { ...me, secret: started.body.secret, codes: confirmed.body.backup_codes };
}

/** jwt/create's challenge for `me`: its ephemeral token. */
async function challenge(
  app: TestApp,
  me: SignedInUser,
  path = "/auth/jwt/create/",
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await app.post(path, { username: me.username, password: me.password }, { headers });
  expect(res.status, res.text).toBe(200);
  expect(keys(res.body)).toEqual(["ephemeral_token", "methods", "mfa_required"]);
  expect(res.body.mfa_required).toBe(true);
  expect(res.body.methods).toEqual(["totp", "backup_code"]);
  return res.body.ephemeral_token;
}

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

describe("enrolment", () => {
  test("a_user_without_a_second_factor_sees_djosers_answers_unchanged", async () => {
    const me = await signedIn(app);
    const status = await app.call("/auth/mfa/", { auth: me.auth });
    expect(status.status).toBe(200);
    expect(status.body).toEqual({ totp: false, backup_codes_left: 0 });
    const pair = await app.post("/auth/jwt/create/", { username: me.username, password: me.password });
    expect(keys(pair.body)).toEqual(["access", "refresh"]);
    const token = await app.post("/auth/token/login/", { username: me.username, password: me.password });
    expect(keys(token.body)).toEqual(["auth_token"]);
    expect((await app.call("/auth/mfa/")).status).toBe(401);
  });

  test("activate_needs_the_password_and_confirm_the_first_code", async () => {
    const me = await signedIn(app);
    const wrong = await app.post("/auth/mfa/totp/activate/", { current_password: "nope" }, { auth: me.auth });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toEqual({ current_password: ["Invalid password."] });
    const missing = await app.post("/auth/mfa/totp/activate/", {}, { auth: me.auth });
    expect(missing.body).toEqual({ current_password: ["This field is required."] });
    const early = await app.post("/auth/mfa/totp/activate/confirm/", { code: "123456" }, { auth: me.auth });
    expect(early.status).toBe(400);
    expect(early.body).toEqual({ non_field_errors: ["Two-factor authentication has not been activated."] });

    const started = await app.post("/auth/mfa/totp/activate/", { current_password: me.password }, { auth: me.auth });
    expect(started.status).toBe(200);
    expect(keys(started.body)).toEqual(["otpauth_url", "secret"]);
    expect(started.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const url = new URL(started.body.otpauth_url);
    expect(url.protocol).toBe("otpauth:");
    expect(url.searchParams.get("secret")).toBe(started.body.secret);
    expect(url.searchParams.get("issuer")).toBe("Djoser Reference");
    expect(url.host).toBe("totp");
    expect(decodeURIComponent(url.pathname)).toBe(`/Djoser Reference:${me.username}`);
    // Stored sealed: neither the base32 nor the raw secret is in the row.
    const [row] = await app.sql("SELECT secret, enabled FROM mfa_totp WHERE user_id = ?", me.id);
    expect(row.enabled).toBe(0);
    expect(row.secret).not.toContain(started.body.secret);
    expect(row.secret).not.toContain(base32Decode(started.body.secret).toString("base64url"));

    const bad = await app.post("/auth/mfa/totp/activate/confirm/", { code: totp(started.body.secret, 5) }, { auth: me.auth });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ code: ["Invalid or expired code."] });
    const ok = await app.post("/auth/mfa/totp/activate/confirm/", { code: totp(started.body.secret) }, { auth: me.auth });
    expect(ok.status).toBe(200);
    expect(keys(ok.body)).toEqual(["backup_codes"]);
    expect(ok.body.backup_codes).toHaveLength(10);
    for (const code of ok.body.backup_codes) expect(code).toMatch(/^[0-9a-z]{5}-[0-9a-z]{5}$/);
    expect(new Set(ok.body.backup_codes).size).toBe(10);
    const stored = await app.sql("SELECT code_hash FROM mfa_backup_codes WHERE user_id = ?", me.id);
    expect(stored).toHaveLength(10);
    expect(JSON.stringify(stored)).not.toContain(ok.body.backup_codes[0].slice(0, 5));
    const status = await app.call("/auth/mfa/", { auth: me.auth });
    expect(status.body).toEqual({ totp: true, backup_codes_left: 10 });
    await app.settle();
    const notices = app.emailsTo(me.email).map((e) => e.subject);
    expect(notices).toContain("Djoser Reference - Two-factor authentication has been enabled!");
    const again = await app.post("/auth/mfa/totp/activate/", { current_password: me.password }, { auth: me.auth });
    expect(again.body).toEqual({ non_field_errors: ["Two-factor authentication is already enabled."] });
  });
});

describe("sign-in with a second factor", () => {
  test("jwt_create_answers_a_challenge_and_mfa_login_the_pair", async () => {
    const me = await enrolled(app);
    const token = await challenge(app, me);
    // One code for the whole test: computed again later, it could belong to the next step.
    const code = totp(me.secret, 1);
    const res = await app.post("/auth/mfa/login/", { ephemeral_token: token, code });
    expect(res.status, res.text).toBe(200);
    expect(keys(res.body)).toEqual(["access", "refresh"]);
    const who = await app.call("/auth/users/me/", { auth: `Bearer ${res.body.access}` });
    expect(who.status).toBe(200);
    expect(who.body.username).toBe(me.username);
    const refreshed = await app.post("/auth/jwt/refresh/", { refresh: res.body.refresh });
    expect(refreshed.status).toBe(200);
    // Single use, and the step is spent: the same code on a new challenge is refused.
    const reused = await app.post("/auth/mfa/login/", { ephemeral_token: token, code });
    expect(reused.status).toBe(400);
    expect(reused.body).toEqual({ ephemeral_token: ["Invalid or expired token."] });
    const fresh = await challenge(app, me);
    const replay = await app.post("/auth/mfa/login/", { ephemeral_token: fresh, code });
    expect(replay.body).toEqual({ code: ["Invalid or expired code."] });
  });

  test("token_login_answers_a_challenge_and_mfa_login_the_drf_token", async () => {
    const me = await enrolled(app);
    const token = await challenge(app, me, "/auth/token/login/");
    const res = await app.post("/auth/mfa/login/", { ephemeral_token: token, code: totp(me.secret, 1) });
    expect(res.status).toBe(200);
    expect(keys(res.body)).toEqual(["auth_token"]);
    const who = await app.call("/auth/users/me/", { auth: `Token ${res.body.auth_token}` });
    expect(who.status).toBe(200);
  });

  test("a_backup_code_signs_in_once_and_the_log_shows_it", async () => {
    const me = await enrolled(app);
    const code = me.codes[2].toUpperCase().replace("-", " ");
    const res = await app.post("/auth/mfa/login/", { ephemeral_token: await challenge(app, me), code });
    expect(res.status, res.text).toBe(200);
    const again = await app.post("/auth/mfa/login/", { ephemeral_token: await challenge(app, me), code: me.codes[2] });
    expect(again.status).toBe(400);
    expect((await app.call("/auth/mfa/", { auth: me.auth })).body.backup_codes_left).toBe(9);
    await app.settle();
    const subjects = app.emailsTo(me.email).map((e) => e.subject);
    expect(subjects).toContain("Djoser Reference - A backup code has been used!");
    await new Promise((r) => setTimeout(r, 100));
    const log = await app.call("/auth/users/me/events/", { auth: `Bearer ${res.body.access}` });
    const kinds = log.body.results.map((e: any) => e.kind);
    expect(kinds).toContain("mfa_enabled");
    expect(kinds).toContain("backup_code_used");
    expect(kinds).toContain("mfa_failed");
  });

  test("five_wrong_codes_end_the_challenge", async () => {
    const me = await enrolled(app);
    const token = await challenge(app, me);
    for (let i = 0; i < 5; i++) {
      const res = await app.post("/auth/mfa/login/", { ephemeral_token: token, code: "000000" });
      expect(res.body).toEqual({ code: ["Invalid or expired code."] });
    }
    const right = await app.post("/auth/mfa/login/", { ephemeral_token: token, code: totp(me.secret, 1) });
    expect(right.body).toEqual({ ephemeral_token: ["Invalid or expired token."] });
  });

  test("bad_bodies_are_drf_field_errors_and_forged_tokens_are_refused", async () => {
    const missing = await app.post("/auth/mfa/login/", {});
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ ephemeral_token: ["This field is required."], code: ["This field is required."] });
    const forged = await app.post("/auth/mfa/login/", { ephemeral_token: "AAAA.BBBB", code: "123456" });
    expect(forged.body).toEqual({ ephemeral_token: ["Invalid or expired token."] });
  });

  test("deactivation_needs_password_and_code_then_the_password_alone_signs_in", async () => {
    const me = await enrolled(app);
    const wrong = await app.post("/auth/mfa/totp/deactivate/", { current_password: me.password, code: "000000" }, { auth: me.auth });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toEqual({ code: ["Invalid or expired code."] });
    expectNoContent(
      await app.post("/auth/mfa/totp/deactivate/", { current_password: me.password, code: totp(me.secret, 1) }, { auth: me.auth }),
    );
    const pair = await app.post("/auth/jwt/create/", { username: me.username, password: me.password });
    expect(keys(pair.body)).toEqual(["access", "refresh"]);
    await app.settle();
    expect(app.emailsTo(me.email).map((e) => e.subject)).toContain(
      "Djoser Reference - Two-factor authentication has been disabled!",
    );
    expect(await app.sql("SELECT 1 FROM mfa_totp WHERE user_id = ?", me.id)).toEqual([]);
    expect(await app.sql("SELECT 1 FROM mfa_backup_codes WHERE user_id = ?", me.id)).toEqual([]);
  });

  test("regenerated_backup_codes_replace_the_old_set", async () => {
    const me = await enrolled(app);
    const res = await app.post("/auth/mfa/backup_codes/regenerate/", { current_password: me.password, code: me.codes[0] }, { auth: me.auth });
    expect(res.status, res.text).toBe(200);
    expect(res.body.backup_codes).toHaveLength(10);
    const old = await app.post("/auth/mfa/login/", { ephemeral_token: await challenge(app, me), code: me.codes[1] });
    expect(old.status).toBe(400);
    const fresh = await app.post("/auth/mfa/login/", { ephemeral_token: await challenge(app, me), code: res.body.backup_codes[1] });
    expect(fresh.status).toBe(200);
  });
});

describe("throttling", () => {
  let limited: TestApp;
  beforeAll(async () => {
    // Hour-long windows, so no window ends mid-test; a roomy per-client limit, so only the
    // account's failure counter can refuse.
    limited = await spawnApp({ RATE_LIMITS: "on", RATE_LIMIT_LOGIN: "50/3600", RATE_LIMIT_LOGIN_ACCOUNT: "3/3600" });
  });
  afterAll(async () => {
    await limited.dispose();
  });

  test("wrong_codes_count_against_the_account_like_wrong_passwords", async () => {
    const me = await enrolled(limited);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      // Each attempt from another address: the account's counter is what adds up.
      const from = { "CF-Connecting-IP": `198.51.100.${i + 1}` };
      const token = await challenge(limited, me, "/auth/jwt/create/", from);
      const res = await limited.post("/auth/mfa/login/", { ephemeral_token: token, code: "000000" }, { headers: from });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([400, 400, 400, 429]);
  });
});

describe("cookie mode", () => {
  let browser: TestApp;
  beforeAll(async () => {
    browser = await spawnApp({ JWT_AUTH_COOKIE: "__Host-access", JWT_AUTH_REFRESH_COOKIE: "__Secure-refresh" });
  });
  afterAll(async () => {
    await browser.dispose();
  });

  test("the_password_step_sets_no_cookie_and_the_second_step_sets_them", async () => {
    const me = await enrolled(browser);
    const first = await browser.post("/auth/jwt/create/", { username: me.username, password: me.password });
    expect(first.body.mfa_required).toBe(true);
    expect(first.headers.getSetCookie()).toEqual([]);
    const res = await browser.post("/auth/mfa/login/", { ephemeral_token: first.body.ephemeral_token, code: totp(me.secret, 1) });
    expect(res.status, res.text).toBe(200);
    const names = res.headers.getSetCookie().map((line) => line.split("=")[0]);
    expect(names).toEqual(expect.arrayContaining(["__Host-access", "__Secure-refresh", "csrftoken"]));
  });
});

describe("MFA_CHANGE_ENDS_OTHER_SESSIONS", () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await spawnApp({ MFA_CHANGE_ENDS_OTHER_SESSIONS: "true" });
  });
  afterAll(async () => {
    await strict.dispose();
  });

  test("enrolling_ends_every_other_session_and_keeps_this_one", async () => {
    const me = await signedIn(strict);
    const other = await strict.jwtCreate(me.username, me.password);
    const token = await strict.loginToken(me.username, me.password);
    const started = await strict.post("/auth/mfa/totp/activate/", { current_password: me.password }, { auth: me.auth });
    const confirmed = await strict.post("/auth/mfa/totp/activate/confirm/", { code: totp(started.body.secret) }, { auth: me.auth });
    expect(confirmed.status).toBe(200);
    expect((await strict.call("/auth/users/me/", { auth: me.auth })).status).toBe(200);
    expect((await strict.call("/auth/users/me/", { auth: `Bearer ${other.access}` })).status).toBe(401);
    expect((await strict.call("/auth/users/me/", { auth: `Token ${token}` })).status).toBe(401);
    expect((await strict.post("/auth/jwt/refresh/", { refresh: other.refresh })).status).toBe(401);
  });
});
