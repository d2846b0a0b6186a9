// simplejwt's views: jwt/create, jwt/refresh, jwt/verify, jwt/blacklist, and JWTs in the
// Authorization header of users/me, with simplejwt's token format and exact error bodies (the
// attack cases are in security-jwt.spec.ts).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  asymmetricOnly,
  b64url,
  claimsFor,
  hs256Only,
  TEST_ALGORITHM,
  TEST_KEY,
  thumbprint,
  decodeJwt,
  keys,
  mintJwt,
  nowSeconds,
  sessionIds,
  sessionRecord,
  spawnApp,
  TestApp,
  unique,
} from "./helpers";

const REQ = "This field is required.";
const BLANK = "This field may not be blank.";
const NO_ACCOUNT = { detail: "No active account found with the given credentials" };
const NO_ACCOUNT_FOR_TOKEN = { detail: "No active account found for the given token." };
const CHALLENGE = 'Bearer realm="api"';

/** simplejwt's 401 on jwt/refresh and jwt/verify. */
const notValid = (detail: string) => ({ detail, code: "token_not_valid" });
/** simplejwt's 401 for a bad access token in the Authorization header. */
const headerNotValid = (message: string) => ({
  detail: "Given token not valid for any token type",
  code: "token_not_valid",
  messages: [{ token_class: "AccessToken", token_type: "access", message }],
});

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

/** An active user and a fresh token pair of it. */
async function loggedIn() {
  const user = await app.createActiveUser();
  const pair = await app.jwtCreate(user.username, user.password);
  return { user, ...pair };
}

/** Tokens every refresh-type check rejects, with simplejwt's message, in simplejwt's order. */
function badRefreshTokens(userId: number): [string, string, string][] {
  const now = nowSeconds();
  const good = claimsFor(userId, "refresh");
  const signed = mintJwt(good);
  const [h, p, s] = signed.split(".");
  const flipped = s.slice(0, -2) + (s.at(-2) === "A" ? "B" : "A") + s.at(-1);
  const otherPayload = b64url(JSON.stringify({ ...good, user_id: "999" }));
  return [
    ["garbage", "not-a-jwt", "Token is invalid"],
    ["two parts", `${h}.${p}`, "Token is invalid"],
    ["empty signature", `${h}.${p}.`, "Token is invalid"],
    ["four parts", `${signed}.x`, "Token is invalid"],
    ["alg none", `${b64url('{"alg":"none","typ":"JWT"}')}.${p}.`, "Token is invalid"],
    ["alg None signed", mintJwt(good, { header: { alg: "None", typ: "JWT" } }), "Token is invalid"],
    ["alg hs256 lower case", mintJwt(good, { header: { alg: "hs256", typ: "JWT" } }), "Token is invalid"],
    ["alg HS512", mintJwt(good, { header: { alg: "HS512", typ: "JWT" } }), "Token is invalid"],
    ["wrong key", mintJwt(good, { key: "another-key-0123456789abcdef0123456789" }), "Token is invalid"],
    ["empty key", mintJwt(good, { key: "" }), "Token is invalid"],
    ["tampered payload", `${h}.${otherPayload}.${s}`, "Token is invalid"],
    ["flipped signature", `${h}.${p}.${flipped}`, "Token is invalid"],
    ["padded base64", `${h}.${p}=.${s}`, "Token is invalid"],
    ["standard base64 alphabet", `${h}.${p}.${s.replaceAll("-", "+").replaceAll("_", "/")}x`, "Token is invalid"],
    ["whitespace inside", `${h}.${p} .${s}`, "Token is invalid"],
    ["jku header, attacker key", mintJwt(good, { header: { alg: "HS256", jku: "https://evil.test/k" }, key: "evil" }), "Token is invalid"],
    ["kid header, attacker key", mintJwt(good, { header: { alg: "HS256", kid: "../../dev/null" }, key: "" }), "Token is invalid"],
    ["crit header", mintJwt(good, { header: { alg: "HS256", typ: "JWT", crit: ["exp"] } }), "Token is invalid"],
    ["duplicate header alg", mintJwt(good, { header: '{"alg":"none","alg":"HS256"}' }), "Token is invalid"],
    ["duplicate payload claim", mintJwt(JSON.stringify(good).replace("{", '{"token_type":"access",')), "Token is invalid"],
    ["oversized", mintJwt({ ...good, pad: "x".repeat(5000) }), "Token is invalid"],
    ["iat in the future", mintJwt({ ...good, iat: now + 60 }), "Token is invalid"],
    ["nbf in the future", mintJwt({ ...good, nbf: now + 60 }), "Token is invalid"],
    ["exp as string", mintJwt({ ...good, exp: String(now + 100) }), "Token is invalid"],
    ["exp as float", mintJwt({ ...good, exp: now + 100.5 }), "Token is invalid"],
    ["exp null", mintJwt({ ...good, exp: null }), "Token is invalid"],
    ["exp 1e20", mintJwt(`{"token_type":"refresh","exp":1e20,"jti":"${good.jti}"}`), "Token is invalid"],
    ["exp beyond i64", mintJwt(`{"token_type":"refresh","exp":99999999999999999999,"jti":"x"}`), "Token is invalid"],
    ["jti not a string", mintJwt({ ...good, jti: 7 }), "Token is invalid"],
    ["expired by 1 s", mintJwt({ ...good, exp: now - 1 }), "Token is expired"],
    ["expired by 10 min", mintJwt({ ...good, exp: now - 600, iat: now - 700 }), "Token is expired"],
    ["exp very negative", mintJwt({ ...good, exp: -9007199254740991 }), "Token is expired"],
    ["no exp", mintJwt(claimsFor(userId, "refresh", { exp: undefined })), "Token has no 'exp' claim"],
    ["no jti", mintJwt(claimsFor(userId, "refresh", { jti: undefined })), "Token has no id"],
    ["no token_type", mintJwt(claimsFor(userId, "refresh", { token_type: undefined })), "Token has no type"],
    ["access type", mintJwt(claimsFor(userId, "access")), "Token has wrong type"],
    ["look-alike type", mintJwt(claimsFor(userId, "refresh", { token_type: "rеfresh" })), "Token has wrong type"],
  ];
}

describe("jwt/create", () => {
  test("create_without_fields_returns_400_required_for_both", async () => {
    const res = await app.post("/auth/jwt/create/", {});
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ username: [REQ], password: [REQ] });
  });

  test("create_with_blank_fields_returns_400_blank_for_both", async () => {
    const res = await app.post("/auth/jwt/create/", { username: "  ", password: "" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ username: [BLANK], password: [BLANK] });
  });

  test("create_trims_username_and_password", async () => {
    const user = await app.createActiveUser();
    const res = await app.post("/auth/jwt/create/", {
      username: `  ${user.username} `,
      password: ` ${user.password}\t`,
    });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(["refresh", "access"]);
  });

  test("create_with_bad_credentials_or_inactive_user_returns_401_without_code", async () => {
    // Arrange
    const user = await app.createActiveUser();
    const inactive = unique();
    const reg = await app.register(inactive, "Pw-inactive-123", `${inactive}@example.com`);
    expect(reg.status).toBe(201);
    const cases: [string, string, string][] = [
      ["wrong password", user.username, `${user.password}x`],
      ["unknown user", unique(), user.password],
      ["username case differs", user.username.toUpperCase(), user.password],
      ["inactive user", inactive, "Pw-inactive-123"],
    ];
    for (const [name, username, password] of cases) {
      // Act
      const res = await app.post("/auth/jwt/create/", { username, password });
      // Assert
      expect(res.status, name).toBe(401);
      expect(res.body, name).toEqual(NO_ACCOUNT);
      expect(keys(res.body)).toEqual(["detail"]);
      expect(res.headers.get("www-authenticate"), name).toBe(CHALLENGE);
    }
  });

  test("create_returns_refresh_then_access_and_nothing_else", async () => {
    const user = await app.createActiveUser();
    const res = await app.post("/auth/jwt/create/", { username: user.username, password: user.password });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(Object.keys(res.body)).toEqual(["refresh", "access"]);
    expect(res.text.startsWith('{"refresh":"')).toBe(true);
  });

  test("created_tokens_have_simplejwt_header_and_claims", async () => {
    // Arrange
    const user = await app.createActiveUser();
    const before = nowSeconds();
    // Act
    const { refresh, access } = await app.jwtCreate(user.username, user.password);
    const after = nowSeconds();
    // Assert
    for (const [token, type, lifetime] of [
      [refresh, "refresh", 86400],
      [access, "access", 300],
    ] as const) {
      const jwt = decodeJwt(token);
      // HS256: PyJWT's header byte for byte; ES256/EdDSA add the signing key's thumbprint kid.
      const header = TEST_KEY
        ? `{"alg":"${TEST_ALGORITHM}","kid":"${thumbprint(TEST_KEY)}","typ":"JWT"}`
        : '{"alg":"HS256","typ":"JWT"}';
      expect(token.split(".")[0]).toBe(b64url(header));
      expect(jwt.header).toEqual(JSON.parse(header));
      // simplejwt's claims, in its order, then the session id (the login's family).
      expect(Object.keys(jwt.payload)).toEqual(["token_type", "exp", "iat", "jti", "user_id", "sid"]);
      expect(jwt.payload.sid).toBe(decodeJwt(refresh).payload.jti.slice(0, 16));
      expect(jwt.payload.token_type).toBe(type);
      expect(jwt.payload.exp - jwt.payload.iat).toBe(lifetime);
      expect(jwt.payload.iat).toBeGreaterThanOrEqual(before);
      expect(jwt.payload.iat).toBeLessThanOrEqual(after);
      expect(jwt.payload.jti).toMatch(/^[0-9a-f]{32}$/);
      expect(jwt.payload.user_id).toBe(String(user.id));
    }
    expect(decodeJwt(refresh).payload.jti).not.toBe(decodeJwt(access).payload.jti);
  });

  test("create_indexes_the_login_as_a_session_of_a_new_family", async () => {
    const { user, refresh } = await loggedIn();
    const claims = decodeJwt(refresh).payload;
    // The family id (the session id) is the first half of the (signed) jti.
    const family = claims.jti.slice(0, 16);
    const record = await sessionRecord(app, user.id, family);
    expect(record).toMatchObject({ id: family, kind: "jwt", user_id: String(user.id), expires: claims.exp });
    const other = decodeJwt((await app.jwtCreate(user.username, user.password)).refresh).payload;
    expect(other.jti.slice(0, 16)).not.toBe(family);
    expect(await sessionIds(app, user.id)).toEqual([family, other.jti.slice(0, 16)].sort());
  });

  test("create_does_not_update_last_login", async () => {
    const user = await app.createActiveUser();
    const before = await app.sql("SELECT last_login FROM users WHERE id = ?", user.id);
    await app.jwtCreate(user.username, user.password);
    const rows = await app.sql("SELECT last_login FROM users WHERE id = ?", user.id);
    expect(rows[0].last_login).toBe(before[0].last_login);
  });

  test("create_ignores_the_authorization_header", async () => {
    const user = await app.createActiveUser();
    const res = await app.post(
      "/auth/jwt/create/",
      { username: user.username, password: user.password },
      { auth: "Bearer garbage" },
    );
    expect(res.status).toBe(200);
  });
});

describe("jwt/refresh", () => {
  test("refresh_without_or_with_blank_field_returns_400", async () => {
    const missing = await app.post("/auth/jwt/refresh/", {});
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ refresh: [REQ] });
    const blank = await app.post("/auth/jwt/refresh/", { refresh: " " });
    expect(blank.status).toBe(400);
    expect(blank.body).toEqual({ refresh: [BLANK] });
  });

  test("refresh_rejects_each_bad_token_with_simplejwt_message", async () => {
    const { user } = await loggedIn();
    for (const [name, token, message] of badRefreshTokens(user.id)) {
      const res = await app.post("/auth/jwt/refresh/", { refresh: token });
      expect(res.status, name).toBe(401);
      expect(res.body, name).toEqual(notValid(message));
      expect(res.headers.get("www-authenticate"), name).toBe(CHALLENGE);
    }
  });

  test("access_token_used_as_refresh_has_wrong_type", async () => {
    const { access } = await loggedIn();
    const res = await app.post("/auth/jwt/refresh/", { refresh: access });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(notValid("Token has wrong type"));
  });

  test("refresh_returns_access_then_rotated_refresh", async () => {
    // Arrange
    const { user, refresh } = await loggedIn();
    const old = decodeJwt(refresh).payload;
    // Act
    const res = await app.post("/auth/jwt/refresh/", { refresh });
    // Assert
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(["access", "refresh"]);
    expect(res.body.refresh).not.toBe(refresh);
    const access = decodeJwt(res.body.access).payload;
    const rotated = decodeJwt(res.body.refresh).payload;
    expect(Object.keys(access)).toEqual(["token_type", "exp", "iat", "jti", "user_id", "sid"]);
    expect(access.token_type).toBe("access");
    expect(access.exp - access.iat).toBe(300);
    expect(rotated.token_type).toBe("refresh");
    // Absolute lifetime: the rotated token keeps the login's expiry (REFRESH_TOKEN_SLIDING off).
    expect(rotated.exp).toBe(old.exp);
    expect(rotated.user_id).toBe(String(user.id));
    expect(new Set([old.jti, access.jti, rotated.jti]).size).toBe(3);
    expect(rotated.jti).toMatch(/^[0-9a-f]{32}$/);
    const me = await app.call("/auth/users/me/", { auth: `Bearer ${res.body.access}` });
    expect(me.status).toBe(200);
  });

  test("rotated_refresh_is_blacklisted_and_recorded_as_spent_in_d1", async () => {
    // Arrange
    const { user, refresh } = await loggedIn();
    const old = decodeJwt(refresh).payload;
    const first = await app.post("/auth/jwt/refresh/", { refresh });
    expect(first.status).toBe(200);
    // Act: a retry inside the grace window gets the identical pair.
    const again = await app.post("/auth/jwt/refresh/", { refresh });
    // Assert
    expect(again.body).toEqual(first.body);
    const family = old.jti.slice(0, 16);
    const spent = await app.sql("SELECT jti, family, user_id FROM refresh_spent WHERE jti = ?", old.jti);
    expect(spent).toEqual([{ jti: old.jti, family, user_id: String(user.id) }]);
    const rotated = decodeJwt(first.body.refresh).payload;
    expect(rotated.jti.startsWith(family)).toBe(true);
    expect(await sessionRecord(app, user.id, family)).toMatchObject({ id: family, expires: rotated.exp });
    // Once the family ends, the spent token is simplejwt's "blacklisted".
    expect((await app.post("/auth/jwt/blacklist/", { refresh })).status).toBe(200);
    const ended = await app.post("/auth/jwt/refresh/", { refresh });
    expect(ended.status).toBe(401);
    expect(ended.body).toEqual(notValid("Token is blacklisted"));
  });

  test("refresh_keeps_custom_claims_of_a_validly_signed_token_unknown_to_kv", async () => {
    // Arrange: a token this Worker never issued, signed with its key (simplejwt accepts these).
    const user = await app.createActiveUser();
    const token = mintJwt(claimsFor(user.id, "refresh", { scope: "read", org: { id: 7 } }));
    // Act
    const res = await app.post("/auth/jwt/refresh/", { refresh: token });
    // Assert
    expect(res.status).toBe(200);
    for (const t of [res.body.access, res.body.refresh]) {
      const claims = decodeJwt(t).payload;
      expect(claims.scope).toBe("read");
      expect(claims.org).toEqual({ id: 7 });
      // A token minted elsewhere joins its family's session.
      expect(Object.keys(claims)).toEqual(["token_type", "exp", "iat", "jti", "user_id", "scope", "org", "sid"]);
    }
    // Spent once: a retry gets the same successor.
    const again = await app.post("/auth/jwt/refresh/", { refresh: token });
    expect(again.body).toEqual(res.body);
  });

  test("refresh_accepts_user_id_as_integer_and_token_without_iat", async () => {
    const user = await app.createActiveUser();
    for (const claims of [
      claimsFor(user.id, "refresh", { user_id: user.id }),
      claimsFor(user.id, "refresh", { iat: undefined }),
    ]) {
      const res = await app.post("/auth/jwt/refresh/", { refresh: mintJwt(claims) });
      expect(res.status, JSON.stringify(claims)).toBe(200);
      expect(decodeJwt(res.body.access).payload.user_id).toBe(String(user.id));
    }
  });

  test("refresh_of_a_signed_token_with_a_jti_too_long_for_kv_is_not_a_500", async () => {
    // KV keys stop at 512 bytes; such a jti simply has no record, and D1 still spends it.
    const user = await app.createActiveUser();
    const token = mintJwt(claimsFor(user.id, "refresh", { jti: "a".repeat(600) }));
    const verify = await app.post("/auth/jwt/verify/", { token });
    expect(verify.status).toBe(200);
    const res = await app.post("/auth/jwt/refresh/", { refresh: token });
    expect(res.status).toBe(200);
    expect(decodeJwt(res.body.refresh).payload.jti).toMatch(/^[0-9a-f]{32}$/);
    // Spent once: a retry inside the grace window gets the same successor, nothing new.
    const again = await app.post("/auth/jwt/refresh/", { refresh: token });
    expect(again.body).toEqual(res.body);
    const blacklist = await app.post("/auth/jwt/blacklist/", {
      refresh: mintJwt(claimsFor(user.id, "refresh", { jti: "b".repeat(600) })),
    });
    expect(blacklist.status).toBe(200);
  });

  test("refresh_of_inactive_user_is_401_and_does_not_spend_the_token", async () => {
    // Arrange
    const { user, refresh } = await loggedIn();
    await app.sql("UPDATE users SET is_active = 0 WHERE id = ?", user.id);
    // Act
    const res = await app.post("/auth/jwt/refresh/", { refresh });
    // Assert
    expect(res.status).toBe(401);
    expect(res.body).toEqual(NO_ACCOUNT_FOR_TOKEN);
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE);
    await app.sql("UPDATE users SET is_active = 1 WHERE id = ?", user.id);
    const after = await app.post("/auth/jwt/refresh/", { refresh });
    expect(after.status).toBe(200);
  });

  test("refresh_of_deleted_or_unknown_user_is_401_not_500", async () => {
    const { user, refresh } = await loggedIn();
    await app.sql("DELETE FROM users WHERE id = ?", user.id);
    const deleted = await app.post("/auth/jwt/refresh/", { refresh });
    expect(deleted.status).toBe(401);
    expect(deleted.body).toEqual(NO_ACCOUNT_FOR_TOKEN);
    const abc = await app.post("/auth/jwt/refresh/", {
      refresh: mintJwt(claimsFor("abc", "refresh")),
    });
    expect(abc.status).toBe(401);
    expect(abc.body).toEqual(NO_ACCOUNT_FOR_TOKEN);
  });

  test("refresh_token_without_user_id_rotates_but_its_access_names_no_user", async () => {
    const token = mintJwt(claimsFor(1, "refresh", { user_id: undefined }));
    const res = await app.post("/auth/jwt/refresh/", { refresh: token });
    expect(res.status).toBe(200);
    expect(decodeJwt(res.body.access).payload.user_id).toBeUndefined();
    const me = await app.call("/auth/users/me/", { auth: `Bearer ${res.body.access}` });
    expect(me.status).toBe(401);
    expect(me.body).toEqual(notValid("Token contained no recognizable user identification"));
  });

  test("refresh_with_rotation_off_returns_only_access_and_keeps_the_token_usable", async () => {
    const local = await spawnApp({ ROTATE_REFRESH_TOKENS: "false" });
    try {
      const user = await local.createActiveUser();
      const { refresh } = await local.jwtCreate(user.username, user.password);
      for (let i = 0; i < 2; i++) {
        const res = await local.post("/auth/jwt/refresh/", { refresh });
        expect(res.status).toBe(200);
        expect(Object.keys(res.body)).toEqual(["access"]);
        expect(decodeJwt(res.body.access).payload.token_type).toBe("access");
      }
      expect(await local.sql("SELECT jti FROM refresh_spent")).toEqual([]);
    } finally {
      await local.dispose();
    }
  });

  test("refresh_ignores_the_authorization_header", async () => {
    const { refresh } = await loggedIn();
    const res = await app.post("/auth/jwt/refresh/", { refresh }, { auth: "Token garbage" });
    expect(res.status).toBe(200);
  });
});

describe("jwt/verify", () => {
  test("verify_without_or_with_blank_token_returns_400", async () => {
    const missing = await app.post("/auth/jwt/verify/", {});
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ token: [REQ] });
    const blank = await app.post("/auth/jwt/verify/", { token: "" });
    expect(blank.body).toEqual({ token: [BLANK] });
  });

  test("verify_accepts_access_and_refresh_tokens", async () => {
    const { access, refresh } = await loggedIn();
    for (const token of [access, refresh]) {
      const res = await app.post("/auth/jwt/verify/", { token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ token_status: "valid" });
    }
  });

  test("verify_rejects_invalid_and_expired_tokens_with_401", async () => {
    const { user } = await loggedIn();
    for (const [name, token, message] of badRefreshTokens(user.id)) {
      // Verify builds an untyped token: the type is never checked.
      if (message === "Token has no type" || message === "Token has wrong type") continue;
      const res = await app.post("/auth/jwt/verify/", { token });
      expect(res.status, name).toBe(401);
      expect(res.body, name).toEqual(notValid(message));
      expect(res.headers.get("www-authenticate"), name).toBe(CHALLENGE);
    }
  });

  test("verify_does_not_check_the_token_type", async () => {
    for (const claims of [
      claimsFor(1, "refresh", { token_type: undefined }),
      claimsFor(1, "refresh", { token_type: "other" }),
      claimsFor(1, "access", { user_id: undefined }),
    ]) {
      const res = await app.post("/auth/jwt/verify/", { token: mintJwt(claims) });
      expect(res.status, JSON.stringify(claims)).toBe(200);
      expect(res.body).toEqual({ token_status: "valid" });
    }
  });

  hs256Only("verify_accepts_a_kid_header_but_never_uses_it_to_pick_a_key", async () => {
    const token = mintJwt(claimsFor(1, "access"), { header: { alg: "HS256", typ: "JWT", kid: "other" } });
    const res = await app.post("/auth/jwt/verify/", { token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ token_status: "valid" });
  });

  asymmetricOnly("verify_refuses_a_kid_that_names_no_configured_key_even_with_the_right_signature", async () => {
    for (const kid of ["other", "", undefined]) {
      const token = mintJwt(claimsFor(1, "access"), { header: { alg: TEST_ALGORITHM, typ: "JWT", kid } });
      const res = await app.post("/auth/jwt/verify/", { token });
      expect(res.status, String(kid)).toBe(401);
      expect(res.body).toEqual(notValid("Token is invalid"));
    }
  });

  test("verify_of_rotated_refresh_is_400_blacklisted", async () => {
    const { refresh } = await loggedIn();
    expect((await app.post("/auth/jwt/refresh/", { refresh })).status).toBe(200);
    const res = await app.post("/auth/jwt/verify/", { token: refresh });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ non_field_errors: ["Token is blacklisted"] });
  });

  test("verify_of_deleted_or_inactive_users_tokens_is_still_200", async () => {
    const a = await loggedIn();
    const b = await loggedIn();
    await app.sql("DELETE FROM users WHERE id = ?", a.user.id);
    await app.sql("UPDATE users SET is_active = 0 WHERE id = ?", b.user.id);
    for (const token of [a.access, a.refresh, b.access, b.refresh]) {
      const res = await app.post("/auth/jwt/verify/", { token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ token_status: "valid" });
    }
  });

  test("verify_ignores_the_authorization_header", async () => {
    const { access } = await loggedIn();
    const res = await app.post("/auth/jwt/verify/", { token: access }, { auth: "Bearer garbage" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ token_status: "valid" });
  });
});

describe("jwt/blacklist", () => {
  test("blacklist_without_field_returns_400", async () => {
    const res = await app.post("/auth/jwt/blacklist/", {});
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ refresh: [REQ] });
  });

  test("blacklist_returns_empty_object_and_the_token_stops_working", async () => {
    // Arrange
    const { refresh } = await loggedIn();
    const jti = decodeJwt(refresh).payload.jti;
    // Act
    const res = await app.post("/auth/jwt/blacklist/", { refresh });
    // Assert
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    expect(res.text).toBe("{}");
    const again = await app.post("/auth/jwt/refresh/", { refresh });
    expect(again.status).toBe(401);
    expect(again.body).toEqual(notValid("Token is blacklisted"));
    const verify = await app.post("/auth/jwt/verify/", { token: refresh });
    expect(verify.status).toBe(400);
    expect(verify.body).toEqual({ non_field_errors: ["Token is blacklisted"] });
    expect(await app.sql("SELECT jti FROM refresh_spent WHERE jti = ?", jti)).toEqual([{ jti }]);
    const twice = await app.post("/auth/jwt/blacklist/", { refresh });
    expect(twice.status).toBe(401);
    expect(twice.body).toEqual(notValid("Token is blacklisted"));
  });

  test("blacklist_revokes_the_family_but_not_other_logins", async () => {
    // Arrange: two logins of one user; the first one rotated once.
    const { user, refresh } = await loggedIn();
    const other = await app.jwtCreate(user.username, user.password);
    const rotated = await app.post("/auth/jwt/refresh/", { refresh });
    expect(rotated.status).toBe(200);
    // Act
    const res = await app.post("/auth/jwt/blacklist/", { refresh: rotated.body.refresh });
    // Assert
    expect(res.status).toBe(200);
    const family = await app.post("/auth/jwt/refresh/", { refresh: rotated.body.refresh });
    expect(family.body).toEqual(notValid("Token is blacklisted"));
    const otherLogin = await app.post("/auth/jwt/refresh/", { refresh: other.refresh });
    expect(otherLogin.status).toBe(200);
  });

  test("blacklist_without_rotation_blacklist_revokes_every_live_token_of_the_family", async () => {
    // Without BLACKLIST_AFTER_ROTATION every rotated token stays live, so a family has several.
    const local = await spawnApp({ BLACKLIST_AFTER_ROTATION: "false" });
    try {
      const user = await local.createActiveUser();
      const { refresh: r0 } = await local.jwtCreate(user.username, user.password);
      const r1 = (await local.post("/auth/jwt/refresh/", { refresh: r0 })).body.refresh;
      const r2 = (await local.post("/auth/jwt/refresh/", { refresh: r1 })).body.refresh;
      expect((await local.post("/auth/jwt/refresh/", { refresh: r0 })).status).toBe(200);

      const res = await local.post("/auth/jwt/blacklist/", { refresh: r1 });

      expect(res.status).toBe(200);
      for (const token of [r0, r1, r2]) {
        const again = await local.post("/auth/jwt/refresh/", { refresh: token });
        expect(again.status).toBe(401);
        expect(again.body).toEqual(notValid("Token is blacklisted"));
      }
    } finally {
      await local.dispose();
    }
  });

  test("blacklist_rejects_access_and_invalid_tokens", async () => {
    const { access } = await loggedIn();
    const wrong = await app.post("/auth/jwt/blacklist/", { refresh: access });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual(notValid("Token has wrong type"));
    const garbage = await app.post("/auth/jwt/blacklist/", { refresh: "x.y.z" });
    expect(garbage.status).toBe(401);
    expect(garbage.body).toEqual(notValid("Token is invalid"));
  });
});

describe("JWT in the Authorization header", () => {
  test("bearer_and_jwt_words_authenticate_users_me", async () => {
    const { user, access } = await loggedIn();
    for (const word of ["Bearer", "JWT"]) {
      const res = await app.call("/auth/users/me/", { auth: `${word} ${access}` });
      expect(res.status, word).toBe(200);
      expect(res.body).toEqual({ email: user.email, id: user.id, username: user.username });
    }
  });

  test("refresh_token_used_as_access_is_401_with_messages", async () => {
    const { refresh } = await loggedIn();
    const res = await app.call("/auth/users/me/", { auth: `Bearer ${refresh}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(headerNotValid("Token has wrong type"));
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE);
  });

  test("bad_access_tokens_are_401_with_the_message_in_messages", async () => {
    const user = await app.createActiveUser();
    const now = nowSeconds();
    const cases: [string, string, string][] = [
      ["expired by 1 s", mintJwt(claimsFor(user.id, "access", { exp: now - 1 })), "Token is expired"],
      ["alg none", `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(claimsFor(user.id, "access")))}.`, "Token is invalid"],
      ["wrong key", mintJwt(claimsFor(user.id, "access"), { key: "k".repeat(40) }), "Token is invalid"],
      ["future iat", mintJwt(claimsFor(user.id, "access", { iat: now + 30 })), "Token is invalid"],
      ["no exp", mintJwt(claimsFor(user.id, "access", { exp: undefined })), "Token has no 'exp' claim"],
      ["no jti", mintJwt(claimsFor(user.id, "access", { jti: undefined })), "Token has no id"],
      ["no type", mintJwt(claimsFor(user.id, "access", { token_type: undefined })), "Token has no type"],
    ];
    for (const [name, token, message] of cases) {
      const res = await app.call("/auth/users/me/", { auth: `Bearer ${token}` });
      expect(res.status, name).toBe(401);
      expect(res.body, name).toEqual(headerNotValid(message));
    }
  });

  test("minted_access_with_integer_user_id_and_no_iat_authenticates", async () => {
    const user = await app.createActiveUser();
    for (const claims of [
      claimsFor(user.id, "access", { user_id: user.id }),
      claimsFor(user.id, "access", { iat: undefined }),
    ]) {
      const res = await app.call("/auth/users/me/", { auth: `JWT ${mintJwt(claims)}` });
      expect(res.status, JSON.stringify(claims)).toBe(200);
      expect(res.body.id).toBe(user.id);
    }
  });

  test("access_of_inactive_user_is_401_user_inactive", async () => {
    const { user, access } = await loggedIn();
    await app.sql("UPDATE users SET is_active = 0 WHERE id = ?", user.id);
    const res = await app.call("/auth/users/me/", { auth: `Bearer ${access}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "User is inactive", code: "user_inactive" });
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE);
  });

  test("access_of_deleted_user_is_401_user_not_found", async () => {
    const { user, access } = await loggedIn();
    await app.sql("DELETE FROM users WHERE id = ?", user.id);
    const res = await app.call("/auth/users/me/", { auth: `Bearer ${access}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "User not found", code: "user_not_found" });
  });

  test("access_with_non_numeric_user_id_is_401_user_not_found_not_500", async () => {
    const res = await app.call("/auth/users/me/", { auth: `Bearer ${mintJwt(claimsFor("abc", "access"))}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "User not found", code: "user_not_found" });
  });

  test("access_without_user_id_is_401_no_recognizable_identification", async () => {
    const token = mintJwt(claimsFor(1, "access", { user_id: undefined }));
    const res = await app.call("/auth/users/me/", { auth: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(notValid("Token contained no recognizable user identification"));
  });

  test("access_token_dies_with_the_blacklisting_of_its_session", async () => {
    // Deliberate difference from simplejwt, whose access tokens live until exp: a logout ends
    // the session, and the session id in the access token is checked with the user look-up.
    const { access, refresh } = await loggedIn();
    expect((await app.post("/auth/jwt/blacklist/", { refresh })).status).toBe(200);
    const res = await app.call("/auth/users/me/", { auth: `Bearer ${access}` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "Token is blacklisted", code: "token_not_valid" });
  });
});

describe("configuration", () => {
  test("missing_signing_key_answers_a_clear_500_on_token_endpoints_without_crashing", async () => {
    const local = await spawnApp({ SIGNING_KEY: "" });
    try {
      const token = mintJwt(claimsFor(1, "refresh"));
      const calls = [
        () => local.post("/auth/jwt/create/", { username: "a", password: "b" }),
        () => local.post("/auth/jwt/refresh/", { refresh: token }),
        () => local.post("/auth/jwt/verify/", { token }),
        () => local.post("/auth/jwt/blacklist/", { refresh: token }),
        () => local.call("/auth/users/me/", { auth: `Bearer ${token}` }),
      ];
      for (const call of calls) {
        const res = await call();
        expect(res.status).toBe(500);
        expect(keys(res.body)).toEqual(["detail"]);
        expect(res.body.detail).toMatch(/SIGNING_KEY/);
        expect(res.body.detail).not.toMatch(/panicked|RuntimeError|unreachable/);
      }
      // The instance survived: unrelated requests still work.
      const root = await local.call("/auth/");
      expect(root.status).toBe(200);
    } finally {
      await local.dispose();
    }
  });

  test("short_signing_key_is_refused_with_a_message_naming_it", async () => {
    const local = await spawnApp({ SIGNING_KEY: "too-short" });
    try {
      const res = await local.post("/auth/jwt/create/", { username: "a", password: "b" });
      expect(res.status).toBe(500);
      expect(res.body.detail).toMatch(/SIGNING_KEY: must be at least 32 bytes/);
      expect(res.body.detail).not.toMatch(/too-short/);
    } finally {
      await local.dispose();
    }
  });
});

describe("setting REFRESH_TOKEN_SLIDING=true", () => {
  let sliding: TestApp;
  beforeAll(async () => {
    sliding = await spawnApp({ REFRESH_TOKEN_SLIDING: "true" });
  });
  afterAll(async () => {
    await sliding.dispose();
  });

  test("rotation_gives_a_full_new_lifetime_as_simplejwt", async () => {
    // Arrange
    const u = await sliding.createActiveUser();
    const pair = await sliding.jwtCreate(u.username, u.password);
    await new Promise((r) => setTimeout(r, 1100));
    // Act
    const res = await sliding.post("/auth/jwt/refresh/", { refresh: pair.refresh });
    // Assert
    expect(res.status).toBe(200);
    const before = decodeJwt(pair.refresh).payload;
    const after = decodeJwt(res.body.refresh).payload;
    expect(after.exp - after.iat).toBe(86400);
    expect(after.exp).toBeGreaterThan(before.exp);
  });
});
