// DRF token authentication: token/login, token/logout and `Authorization: Token <key>`, with
// DRF's key format and header rules.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { keys, spawnApp, TestApp, unique } from "./helpers";

const INVALID_CREDENTIALS = { non_field_errors: ["Unable to log in with provided credentials."] };
const BLANK = "This field may not be blank.";
const NOCREDS = { detail: "Authentication credentials were not provided." };
const CHALLENGE = 'Bearer realm="api"';

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

describe("token/login", () => {
  test("login_without_credentials_is_400_invalid_credentials", async () => {
    const user = await app.createActiveUser();
    for (const body of [{}, { username: user.username }, { password: user.password }]) {
      const res = await app.post("/auth/token/login/", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual(INVALID_CREDENTIALS);
    }
  });

  test("login_with_blank_fields_is_400_blank_password_first", async () => {
    const res = await app.post("/auth/token/login/", { username: " ", password: "" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ password: [BLANK], username: [BLANK] });
    expect(Object.keys(res.body)).toEqual(["password", "username"]);
  });

  test("login_with_wrong_password_unknown_or_inactive_user_is_400", async () => {
    // Arrange
    const user = await app.createActiveUser();
    const inactive = unique();
    expect((await app.register(inactive, "Pw-inactive-123", `${inactive}@example.com`)).status).toBe(201);
    const cases: [string, string, string][] = [
      ["wrong password", user.username, `${user.password}x`],
      ["unknown user", unique(), user.password],
      ["inactive user", inactive, "Pw-inactive-123"],
    ];
    for (const [name, username, password] of cases) {
      // Act
      const res = await app.post("/auth/token/login/", { username, password });
      // Assert
      expect(res.status, name).toBe(400);
      expect(res.body, name).toEqual(INVALID_CREDENTIALS);
    }
    expect(await app.sql("SELECT key FROM auth_tokens WHERE user_id = ?", user.id)).toEqual([]);
  });

  test("login_returns_a_40_hex_key_and_the_same_key_while_it_exists", async () => {
    // Arrange
    const user = await app.createActiveUser();
    // Act
    const first = await app.post("/auth/token/login/", { username: ` ${user.username} `, password: user.password });
    const second = await app.post("/auth/token/login/", { username: user.username, password: user.password });
    // Assert
    expect(first.status).toBe(200);
    expect(keys(first.body)).toEqual(["auth_token"]);
    expect(first.body.auth_token).toMatch(/^[0-9a-f]{40}$/);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(await app.sql("SELECT key FROM auth_tokens WHERE user_id = ?", user.id)).toEqual([
      { key: first.body.auth_token },
    ]);
  });

  test("concurrent_first_logins_agree_on_one_key", async () => {
    const user = await app.createActiveUser();
    const replies = await Promise.all(
      Array.from({ length: 5 }, () =>
        app.post("/auth/token/login/", { username: user.username, password: user.password }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(replies.map((r) => r.body.auth_token)).size).toBe(1);
  });

  test("login_updates_last_login_so_an_outstanding_reset_link_stops_working", async () => {
    // Arrange
    const user = await app.createActiveUser();
    expect((await app.post("/auth/users/reset_password/", { email: user.email })).status).toBe(204);
    const { uid, token } = app.lastLink(user.email);
    // Act
    await app.loginToken(user.username, user.password);
    // Assert
    const rows = await app.sql("SELECT last_login FROM users WHERE id = ?", user.id);
    expect(rows[0].last_login).toBeGreaterThan(0);
    const confirm = await app.post("/auth/users/reset_password_confirm/", {
      uid,
      token,
      new_password: "Another-Pw-456",
    });
    expect(confirm.status).toBe(400);
    expect(confirm.body).toEqual({ token: ["Invalid token for given user."] });
  });

  test("login_with_a_bad_token_header_is_401_even_with_good_credentials", async () => {
    const user = await app.createActiveUser();
    const res = await app.post(
      "/auth/token/login/",
      { username: user.username, password: user.password },
      { auth: `Token ${"0".repeat(40)}` },
    );
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "Invalid token." });
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE);
  });
});

describe("Token authentication", () => {
  test("token_key_authenticates_users_me_with_any_keyword_case", async () => {
    const user = await app.createActiveUser();
    const key = await app.loginToken(user.username, user.password);
    for (const word of ["Token", "token", "TOKEN"]) {
      const res = await app.call("/auth/users/me/", { auth: `${word} ${key}` });
      expect(res.status, word).toBe(200);
      expect(res.body).toEqual({ email: user.email, id: user.id, username: user.username });
    }
  });

  test("key_of_inactive_user_is_401_user_inactive_or_deleted", async () => {
    const user = await app.createActiveUser();
    const key = await app.loginToken(user.username, user.password);
    await app.sql("UPDATE users SET is_active = 0 WHERE id = ?", user.id);
    const res = await app.call("/auth/users/me/", { auth: `Token ${key}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "User inactive or deleted." });
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE);
  });

  test("key_of_deleted_user_is_401_invalid_token", async () => {
    const user = await app.createActiveUser();
    const key = await app.loginToken(user.username, user.password);
    await app.sql("DELETE FROM users WHERE id = ?", user.id);
    const res = await app.call("/auth/users/me/", { auth: `Token ${key}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "Invalid token." });
  });
});

describe("token/logout", () => {
  test("logout_with_token_is_204_and_the_key_stops_working", async () => {
    // Arrange
    const user = await app.createActiveUser();
    const key = await app.loginToken(user.username, user.password);
    // Act
    const res = await app.post("/auth/token/logout/", undefined, { auth: `Token ${key}` });
    // Assert
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
    expect(res.headers.get("content-type")).toBeNull();
    const me = await app.call("/auth/users/me/", { auth: `Token ${key}` });
    expect(me.status).toBe(401);
    expect(me.body).toEqual({ detail: "Invalid token." });
    const again = await app.post("/auth/token/logout/", undefined, { auth: `Token ${key}` });
    expect(again.status).toBe(401);
    expect(again.body).toEqual({ detail: "Invalid token." });
    expect(again.headers.get("www-authenticate")).toBe(CHALLENGE);
  });

  test("next_login_after_logout_makes_a_new_key", async () => {
    const user = await app.createActiveUser();
    const first = await app.loginToken(user.username, user.password);
    expect((await app.post("/auth/token/logout/", {}, { auth: `Token ${first}` })).status).toBe(204);
    const second = await app.loginToken(user.username, user.password);
    expect(second).toMatch(/^[0-9a-f]{40}$/);
    expect(second).not.toBe(first);
  });

  test("logout_with_jwt_deletes_the_drf_token_and_leaves_jwts_alone", async () => {
    // Arrange
    const user = await app.createActiveUser();
    const key = await app.loginToken(user.username, user.password);
    const { access, refresh } = await app.jwtCreate(user.username, user.password);
    // Act
    const res = await app.post("/auth/token/logout/", {}, { auth: `Bearer ${access}` });
    // Assert
    expect(res.status).toBe(204);
    expect(await app.sql("SELECT key FROM auth_tokens WHERE user_id = ?", user.id)).toEqual([]);
    const byKey = await app.call("/auth/users/me/", { auth: `Token ${key}` });
    expect(byKey.status).toBe(401);
    expect(byKey.body).toEqual({ detail: "Invalid token." });
    expect((await app.call("/auth/users/me/", { auth: `JWT ${access}` })).status).toBe(200);
    expect((await app.post("/auth/jwt/refresh/", { refresh })).status).toBe(200);
  });

  test("logout_without_a_key_is_still_204", async () => {
    const user = await app.createActiveUser();
    const { access } = await app.jwtCreate(user.username, user.password);
    const res = await app.post("/auth/token/logout/", {}, { auth: `Bearer ${access}` });
    expect(res.status).toBe(204);
  });

  test("anonymous_logout_is_401_not_authenticated", async () => {
    const res = await app.post("/auth/token/logout/", {});
    expect(res.status).toBe(401);
    expect(res.body).toEqual(NOCREDS);
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE);
  });

  test("get_logout_is_401_anonymous_and_405_authenticated", async () => {
    const anon = await app.call("/auth/token/logout/");
    expect(anon.status).toBe(401);
    expect(anon.body).toEqual(NOCREDS);
    const user = await app.createActiveUser();
    const key = await app.loginToken(user.username, user.password);
    const authed = await app.call("/auth/token/logout/", { auth: `Token ${key}` });
    expect(authed.status).toBe(405);
    expect(authed.body).toEqual({ detail: 'Method "GET" not allowed.' });
    expect(authed.headers.get("allow")).toBe("POST, OPTIONS");
    // The GET did not log out.
    expect((await app.call("/auth/users/me/", { auth: `Token ${key}` })).status).toBe(200);
  });
});
