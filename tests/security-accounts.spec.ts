// The second security round, account and session side: each weakness closed and proven from
// outside (docs/differences.md, "Security changes (second round)").
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectNoContent, nextSecond, signedIn, spawnApp, TestApp, unique } from "./helpers";

const INVALID_TOKEN = { token: ["Invalid token for given user."] };
const TAKEN = "A user with that username already exists.";

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

/** A link for `email` of the reset kind `what` ("password" or "username"). */
async function resetLink(email: string, what: "password" | "username") {
  expectNoContent(await app.post(`/auth/users/reset_${what}/`, { email }));
  return app.lastLink(email);
}

describe("a password reset ends every earlier session", () => {
  test("access_refresh_and_drf_tokens_of_earlier_sessions_die_with_the_default_settings", async () => {
    // Pre-account hijacking: whoever held the account keeps nothing once the owner resets.
    const held = await signedIn(app);
    await nextSecond();
    const drf = await app.loginToken(held.username, held.password);
    await nextSecond();
    const link = await resetLink(held.email, "password");
    expectNoContent(await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: "Fresh-pw-97531" }));
    expect((await app.call("/auth/users/me/", { auth: held.auth })).status).toBe(401);
    expect((await app.call("/auth/users/me/", { auth: `Token ${drf}` })).status).toBe(401);
    const refresh = await app.post("/auth/jwt/refresh/", { refresh: held.refresh });
    expect(refresh.status).toBe(401);
    // The owner's new login works at once.
    const pair = await app.jwtCreate(held.username, "Fresh-pw-97531");
    expect((await app.call("/auth/users/me/", { auth: `Bearer ${pair.access}` })).status).toBe(200);
  });

  test("set_password_still_keeps_sessions_without_logout_on_password_change", async () => {
    const me = await signedIn(app);
    const res = await app.post(
      "/auth/users/set_password/",
      { current_password: me.password, new_password: "Fresh-pw-86420" },
      { auth: me.auth },
    );
    expectNoContent(res);
    expect((await app.call("/auth/users/me/", { auth: me.auth })).status).toBe(200);
  });
});

describe("an operator-disabled account stays disabled", () => {
  test("resend_activation_and_an_old_activation_link_cannot_re_enable_it", async () => {
    const username = unique();
    const email = `${username}@example.com`;
    expect((await app.register(username, "Pw-disabled-1", email)).status).toBe(201);
    const activation = app.lastLink(email);
    expectNoContent(await app.post("/auth/users/activation/", activation));
    // The operator disables the account.
    await app.sql("UPDATE users SET is_active = 0 WHERE username = ?", username);
    const before = app.emailsTo(email).length;
    expectNoContent(await app.post("/auth/users/resend_activation/", { email }));
    expect(app.emailsTo(email).length).toBe(before);
    const again = await app.post("/auth/users/activation/", activation);
    expect(again.status).toBe(400);
    expect(again.body).toEqual(INVALID_TOKEN);
    expect((await app.sql("SELECT is_active FROM users WHERE username = ?", username))[0].is_active).toBe(0);
  });

  test("an_account_waiting_for_activation_still_gets_its_link_again", async () => {
    const username = unique();
    const email = `${username}@example.com`;
    await app.register(username, "Pw-waiting-1", email);
    expectNoContent(await app.post("/auth/users/resend_activation/", { email }));
    expect(app.emailsTo(email).map((e) => e.kind)).toEqual(["activation", "activation"]);
    expectNoContent(await app.post("/auth/users/activation/", app.lastLink(email)));
  });
});

/** The full-width twin of an ASCII name ("admin" → "ａｄｍｉｎ"), whose NFKC form is the name. */
function fullWidth(name: string): string {
  return [...name].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join("");
}

describe("one normalisation for every way a username is set", () => {
  test("set_username_refuses_a_full_width_twin_and_stores_the_nfkc_form", async () => {
    const taken = unique("admin");
    await app.register(taken, "Pw-twin-12345", "");
    const me = await signedIn(app);
    const twin = fullWidth(taken);
    const res = await app.post(
      "/auth/users/set_username/",
      { current_password: me.password, new_username: twin },
      { auth: me.auth },
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_username: [TAKEN] });
    const fresh = unique("fresh");
    const wide = fullWidth(fresh);
    expectNoContent(
      await app.post("/auth/users/set_username/", { current_password: me.password, new_username: wide }, { auth: me.auth }),
    );
    expect((await app.call("/auth/users/me/", { auth: me.auth })).body.username).toBe(fresh);
  });

  test("reset_username_confirm_refuses_a_full_width_twin", async () => {
    const taken = unique("root");
    await app.register(taken, "Pw-twin-12345", "");
    const me = await signedIn(app);
    const link = await resetLink(me.email, "username");
    const twin = fullWidth(taken);
    const res = await app.post("/auth/users/reset_username_confirm/", { ...link, new_username: twin });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_username: [TAKEN] });
  });
});

describe("logout cannot fail open", () => {
  test("blacklisting_a_token_rotated_a_moment_ago_ends_the_family", async () => {
    const me = await signedIn(app);
    const rotated = await app.post("/auth/jwt/refresh/", { refresh: me.refresh });
    expect(rotated.status).toBe(200);
    // The client logs out with the token it still had (inside REFRESH_REUSE_GRACE).
    const logout = await app.post("/auth/jwt/blacklist/", { refresh: me.refresh });
    expect(logout.status).toBe(200);
    expect(logout.body).toEqual({});
    const next = await app.post("/auth/jwt/refresh/", { refresh: rotated.body.refresh });
    expect(next.status).toBe(401);
    expect(next.body).toEqual({ detail: "Token is blacklisted", code: "token_not_valid" });
  });
});

/** Django's pbkdf2_sha256 encoding of `password` (few iterations: the format is what matters). */
function djangoHash(password: string): string {
  const salt = randomBytes(9).toString("hex");
  const hash = pbkdf2Sync(password, salt, 1000, 32, "sha256").toString("base64");
  return `pbkdf2_sha256$1000$${salt}$${hash}`;
}

describe("re-hashing does not log anyone out", () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await spawnApp({ LOGOUT_ON_PASSWORD_CHANGE: "true" });
  });
  afterAll(async () => {
    await strict.dispose();
  });

  test("two_racing_logins_that_upgrade_a_django_hash_both_keep_their_sessions", async () => {
    const username = unique("migrated");
    await strict.sql(
      "INSERT INTO users (username, email, email_key, password, is_active, date_joined) VALUES (?, '', '', ?, 1, 0)",
      username,
      djangoHash("Pw-migrated-1"),
    );
    const logins = await Promise.all([0, 1].map(() => strict.jwtCreate(username, "Pw-migrated-1")));
    const [{ password }] = await strict.sql("SELECT password FROM users WHERE username = ?", username);
    expect(password.startsWith("$argon2id$")).toBe(true);
    for (const pair of logins) {
      expect((await strict.call("/auth/users/me/", { auth: `Bearer ${pair.access}` })).status).toBe(200);
      expect((await strict.post("/auth/jwt/refresh/", { refresh: pair.refresh })).status).toBe(200);
    }
  });
});

describe("e-mail is sent after the answer", () => {
  test("a_slow_mail_provider_does_not_hold_the_answer_back", async () => {
    const me = await signedIn(app);
    app.mailDelayMs = 1500;
    try {
      const before = app.emailsTo(me.email).length;
      const res = await app.mf.dispatchFetch("http://localhost/auth/users/reset_password/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: me.email }),
      });
      expect(res.status).toBe(204);
      // The answer is back while the provider is still working on the message...
      expect(app.emailsTo(me.email).length).toBe(before);
      await app.settle();
      // ...which still arrives.
      expect(app.emailsTo(me.email).at(-1)!.kind).toBe("password_reset");
    } finally {
      app.mailDelayMs = 0;
    }
  });
});
