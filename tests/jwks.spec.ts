// ES256 and EdDSA: the JWK Set endpoints, tokens verified by an independent library (jose) from
// the published set alone, the attacks a key set invites (foreign key, wrong kid, alg confusion,
// unknown kid), ISSUER/AUDIENCE, configuration errors, and the rotation procedure of the README.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createLocalJWKSet, errors, jwtVerify } from "jose";
import {
  b64url,
  claimsFor,
  decodeJwt,
  jwksSecret,
  mintJwt,
  newPrivateJwk,
  PrivateJwk,
  signWithJwk,
  spawnApp,
  TestApp,
  thumbprint,
} from "./helpers";
import { createHmac } from "node:crypto";

const INVALID = { detail: "Token is invalid", code: "token_not_valid" };
const ALGORITHMS = ["ES256", "EdDSA"] as const;
type Alg = (typeof ALGORITHMS)[number];

/** A Worker signing with `alg` and the key set `keys`. */
function spawnWith(alg: Alg, keys: [PrivateJwk, "active" | "standby" | "previous"][], vars = {}) {
  return spawnApp({ ALGORITHM: alg, JWT_PRIVATE_JWKS: jwksSecret(keys), ...vars });
}

async function loggedIn(app: TestApp) {
  const user = await app.createActiveUser();
  return { user, ...(await app.jwtCreate(user.username, user.password)) };
}

/** `token` with its header replaced and re-signed by `sign`. */
function resign(token: string, header: object, sign: (input: string) => string): string {
  const [, payload] = token.split(".");
  const input = `${b64url(JSON.stringify(header))}.${payload}`;
  return `${input}.${sign(input)}`;
}

describe("the JWK Set with HS256", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ ALGORITHM: "HS256", JWT_PRIVATE_JWKS: "" });
  });
  afterAll(() => app.dispose());

  test("both_paths_answer_an_empty_public_set_cacheable_for_ten_minutes_from_any_origin", async () => {
    for (const path of ["/auth/jwks/", "/auth/jwks", "/.well-known/jwks.json"]) {
      const res = await app.call(path, { headers: { Origin: "https://elsewhere.example" } });
      expect(res.status, path).toBe(200);
      expect(res.text).toBe('{"keys":[]}');
      expect(res.headers.get("cache-control")).toBe("public, max-age=600");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });

  test("other_methods_and_every_other_answer_stay_private_and_uncached", async () => {
    const post = await app.post("/.well-known/jwks.json", {});
    expect(post.status).toBe(405);
    expect(post.headers.get("cache-control")).toBe("no-store");
    expect(post.headers.get("access-control-allow-origin")).toBeNull();
    const root = await app.call("/auth/", { headers: { Origin: "https://elsewhere.example" } });
    expect(root.headers.get("cache-control")).toBe("no-store");
    expect(root.headers.get("access-control-allow-origin")).toBeNull();
    expect((await app.call("/.well-known/other.json")).status).toBe(404);
    expect((await app.call("/auth/.well-known/jwks.json")).status).toBe(404);
  });

  test("the_set_is_served_even_without_a_signing_key", async () => {
    const bare = await spawnApp({ SIGNING_KEY: "" });
    try {
      const res = await bare.call("/.well-known/jwks.json");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ keys: [] });
    } finally {
      await bare.dispose();
    }
  });
});

for (const alg of ALGORITHMS) {
  describe(`${alg} tokens`, () => {
    let app: TestApp;
    const active = newPrivateJwk(alg);
    const standby = newPrivateJwk(alg);
    const previous = newPrivateJwk(alg);
    beforeAll(async () => {
      app = await spawnWith(alg, [
        [active, "active"],
        [standby, "standby"],
        [previous, "previous"],
      ]);
    });
    afterAll(() => app.dispose());

    test("the_set_publishes_every_key_with_kid_alg_and_use_and_nothing_private", async () => {
      const res = await app.call("/auth/jwks/");
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("public, max-age=600");
      const kids = res.body.keys.map((k: any) => k.kid);
      expect(kids).toEqual([active, standby, previous].map(thumbprint));
      for (const key of res.body.keys) {
        expect(key.alg).toBe(alg);
        expect(key.use).toBe("sig");
        expect(key.d).toBeUndefined();
        expect(key.state).toBeUndefined();
      }
      expect(res.text).not.toContain(active.d);
      expect((await app.call("/.well-known/jwks.json")).text).toBe(res.text);
    });

    test("jose_verifies_access_and_refresh_tokens_from_the_published_set_alone", async () => {
      const { user, access, refresh } = await loggedIn(app);
      const set = createLocalJWKSet((await app.call("/.well-known/jwks.json")).body);
      for (const token of [access, refresh]) {
        const { payload, protectedHeader } = await jwtVerify(token, set, { algorithms: [alg] });
        expect(protectedHeader).toEqual({ alg, kid: thumbprint(active), typ: "JWT" });
        expect(payload.user_id).toBe(String(user.id));
      }
      const rotated = await app.post("/auth/jwt/refresh/", { refresh });
      for (const token of [rotated.body.access, rotated.body.refresh]) {
        await jwtVerify(token, set, { algorithms: [alg] });
      }
    });

    test("tokens_signed_by_the_standby_or_previous_key_verify", async () => {
      const { user } = await loggedIn(app);
      for (const key of [standby, previous]) {
        const token = mintJwt(claimsFor(user.id, "access"), {
          header: { alg, typ: "JWT", kid: thumbprint(key) },
          jwk: key,
        });
        const res = await app.call("/auth/users/me/", { auth: `Bearer ${token}` });
        expect(res.status).toBe(200);
      }
    });

    test("a_token_re_signed_with_a_foreign_key_is_invalid_under_any_kid", async () => {
      const { access } = await loggedIn(app);
      const foreign = newPrivateJwk(alg);
      for (const kid of [thumbprint(active), thumbprint(foreign)]) {
        const forged = resign(access, { alg, typ: "JWT", kid }, (i) => signWithJwk(foreign, i));
        const res = await app.post("/auth/jwt/verify/", { token: forged });
        expect(res.status).toBe(401);
        expect(res.body).toEqual(INVALID);
        const me = await app.call("/auth/users/me/", { auth: `Bearer ${forged}` });
        expect(me.status).toBe(401);
      }
    });

    test("a_key_of_the_set_under_another_keys_kid_is_invalid", async () => {
      const { access } = await loggedIn(app);
      const forged = resign(access, { alg, typ: "JWT", kid: thumbprint(active) }, (i) =>
        signWithJwk(standby, i),
      );
      const res = await app.post("/auth/jwt/verify/", { token: forged });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(INVALID);
    });

    test("an_unknown_or_missing_kid_is_the_generic_invalid_token", async () => {
      const { access } = await loggedIn(app);
      for (const header of [
        { alg, typ: "JWT", kid: "unknown" },
        { alg, typ: "JWT" },
        { alg, typ: "JWT", kid: thumbprint(active), jku: "https://evil.example/jwks.json" },
      ]) {
        const signer = "jku" in header ? newPrivateJwk(alg) : active;
        const forged = resign(access, header, (i) => signWithJwk(signer, i));
        const res = await app.post("/auth/jwt/verify/", { token: forged });
        expect(res.status, JSON.stringify(header)).toBe(401);
        expect(res.body).toEqual(INVALID);
      }
    });

    test("hs256_keyed_with_the_public_key_is_refused_the_classic_confusion_attack", async () => {
      const { access } = await loggedIn(app);
      const published = (await app.call("/auth/jwks/")).body.keys[0];
      const secrets = [
        JSON.stringify(published),
        Buffer.from(published.x, "base64url"),
        published.x,
        thumbprint(active),
      ];
      for (const secret of secrets) {
        for (const header of [
          { alg: "HS256", typ: "JWT", kid: thumbprint(active) },
          { alg: "HS256", typ: "JWT" },
        ]) {
          const forged = resign(access, header, (i) =>
            createHmac("sha256", secret).update(i).digest("base64url"),
          );
          const res = await app.post("/auth/jwt/verify/", { token: forged });
          expect(res.status).toBe(401);
          expect(res.body).toEqual(INVALID);
        }
      }
      // And jose, given the set, refuses the same token (it never treats a public key as HMAC).
      const set = createLocalJWKSet({ keys: [published] });
      const forged = resign(access, { alg: "HS256", typ: "JWT", kid: published.kid }, (i) =>
        createHmac("sha256", JSON.stringify(published)).update(i).digest("base64url"),
      );
      await expect(jwtVerify(forged, set)).rejects.toBeInstanceOf(errors.JOSEError);
    });

    test("an_hs256_token_of_the_signing_key_is_refused", async () => {
      const token = mintJwt(claimsFor(1, "access"), { key: "test-signing-key-0123456789abcdef0123456789abcdef" });
      const res = await app.post("/auth/jwt/verify/", { token });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(INVALID);
    });
  });
}

describe("ISSUER and AUDIENCE", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ ISSUER: "https://auth.example", AUDIENCE: "web" });
  });
  afterAll(() => app.dispose());

  test("every_token_carries_aud_then_iss_and_tokens_without_them_are_invalid", async () => {
    const { user, access, refresh } = await loggedIn(app);
    for (const token of [access, refresh]) {
      const { payload } = decodeJwt(token);
      expect(Object.keys(payload).slice(-2)).toEqual(["aud", "iss"]);
      expect([payload.aud, payload.iss]).toEqual(["web", "https://auth.example"]);
    }
    expect((await app.call("/auth/users/me/", { auth: `Bearer ${access}` })).status).toBe(200);
    const rotated = await app.post("/auth/jwt/refresh/", { refresh });
    expect(rotated.status).toBe(200);
    expect(Object.keys(decodeJwt(rotated.body.access).payload).filter((k) => k === "aud")).toHaveLength(1);
    for (const extra of [
      {},
      { iss: "https://auth.example" },
      { aud: "web" },
      { aud: "web", iss: "https://other.example" },
      { aud: "app", iss: "https://auth.example" },
    ]) {
      const token = mintJwt(claimsFor(user.id, "access", extra));
      const res = await app.post("/auth/jwt/verify/", { token });
      expect(res.status, JSON.stringify(extra)).toBe(401);
      expect(res.body).toEqual(INVALID);
    }
    const good = mintJwt(claimsFor(user.id, "access", { aud: ["app", "web"], iss: "https://auth.example" }));
    expect((await app.post("/auth/jwt/verify/", { token: good })).status).toBe(200);
  });
});

describe("configuration errors", () => {
  test("a_bad_key_set_answers_the_clear_500_naming_the_key", async () => {
    const a = newPrivateJwk("ES256");
    const b = newPrivateJwk("ES256");
    const cases: [Record<string, string>, RegExp][] = [
      [{ ALGORITHM: "ES256" }, /JWT_PRIVATE_JWKS: required when ALGORITHM is ES256/],
      [{ ALGORITHM: "ES256", JWT_PRIVATE_JWKS: jwksSecret([[a, "standby"]]) }, /no active key/],
      [
        { ALGORITHM: "ES256", JWT_PRIVATE_JWKS: jwksSecret([[a, "active"], [b, "active"]]) },
        new RegExp(`2 active keys \\(kids ${thumbprint(a)}, ${thumbprint(b)}\\)`),
      ],
      [{ ALGORITHM: "EdDSA", JWT_PRIVATE_JWKS: jwksSecret([[a, "active"]]) }, /key #1 \(kid .*does not fit ALGORITHM EdDSA/],
      [{ ALGORITHM: "ES256", JWT_PRIVATE_JWKS: '{"keys":[{"kty":"EC","state":"active"}]}' }, /key #1: not a valid JWK/],
      [{ ALGORITHM: "RS256" }, /ALGORITHM: expected HS256, ES256 or EdDSA/],
    ];
    for (const [vars, message] of cases) {
      const app = await spawnApp(vars);
      try {
        const res = await app.post("/auth/jwt/create/", { username: "a", password: "b" });
        expect(res.status).toBe(500);
        expect(res.body.detail).toMatch(/^Service misconfigured: /);
        expect(res.body.detail).toMatch(message);
        expect(res.body.detail).not.toContain(a.d);
        expect(res.body.detail).not.toContain(b.d);
      } finally {
        await app.dispose();
      }
    }
  });
});

for (const alg of ALGORITHMS) {
  describe(`rotating ${alg} keys without logging anyone out`, () => {
    test("standby_then_promote_then_remove_keeps_old_tokens_valid_until_the_old_key_goes", async () => {
      const oldKey = newPrivateJwk(alg);
      const newKey = newPrivateJwk(alg);
      const verify = (app: TestApp, token: string) => app.post("/auth/jwt/verify/", { token });

      // 1. Only the old key.
      const before = await spawnWith(alg, [[oldKey, "active"]]);
      let oldTokens: { access: string; refresh: string };
      try {
        oldTokens = await loggedIn(before);
      } finally {
        await before.dispose();
      }
      expect(decodeJwt(oldTokens.access).header.kid).toBe(thumbprint(oldKey));

      // 2. The new key as standby: published, not signing; old tokens verify.
      const staged = await spawnWith(alg, [[oldKey, "active"], [newKey, "standby"]]);
      try {
        const kids = (await staged.call("/.well-known/jwks.json")).body.keys.map((k: any) => k.kid);
        expect(kids).toEqual([thumbprint(oldKey), thumbprint(newKey)]);
        const fresh = await loggedIn(staged);
        expect(decodeJwt(fresh.access).header.kid).toBe(thumbprint(oldKey));
        for (const token of [oldTokens.access, oldTokens.refresh]) {
          expect((await verify(staged, token)).status).toBe(200);
        }
      } finally {
        await staged.dispose();
      }

      // 3. Promoted: the new key signs, the old one is previous and still verifies.
      const promoted = await spawnWith(alg, [[newKey, "active"], [oldKey, "previous"]], {
        ACCESS_TOKEN_LIFETIME: "1",
      });
      let newTokens: { access: string; refresh: string };
      try {
        for (const token of [oldTokens.access, oldTokens.refresh]) {
          expect((await verify(promoted, token)).status).toBe(200);
        }
        newTokens = await loggedIn(promoted);
        expect(decodeJwt(newTokens.access).header.kid).toBe(thumbprint(newKey));
        const set = createLocalJWKSet((await promoted.call("/auth/jwks/")).body);
        await jwtVerify(oldTokens.refresh, set);
        await jwtVerify(newTokens.refresh, set);
        // An old-key token still works until it expires, and not after.
        const shortLived = mintJwt(claimsFor(1, "access", { exp: Math.floor(Date.now() / 1000) + 1 }), {
          header: { alg, typ: "JWT", kid: thumbprint(oldKey) },
          jwk: oldKey,
        });
        expect((await verify(promoted, shortLived)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 2100));
        const expired = await verify(promoted, shortLived);
        expect(expired.status).toBe(401);
        expect(expired.body.detail).toBe("Token is expired");
      } finally {
        await promoted.dispose();
      }

      // 4. The old key removed: its tokens are refused, the new key's still work.
      const after = await spawnWith(alg, [[newKey, "active"]]);
      try {
        for (const token of [oldTokens.access, oldTokens.refresh]) {
          const res = await verify(after, token);
          expect(res.status).toBe(401);
          expect(res.body).toEqual(INVALID);
        }
        expect((await verify(after, newTokens.refresh)).status).toBe(200);
        const set = createLocalJWKSet((await after.call("/auth/jwks/")).body);
        await expect(jwtVerify(oldTokens.refresh, set)).rejects.toBeInstanceOf(errors.JOSEError);
      } finally {
        await after.dispose();
      }
    });
  });
}
