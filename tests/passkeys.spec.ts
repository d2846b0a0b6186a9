// Passkeys over HTTP: djoser's four webauthn routes with djoser's exact request bodies and field
// encodings, answered by a software authenticator (tests/webauthn-authenticator.ts: node:crypto
// keys, authenticator data and CBOR built here), then this service's own management of several
// passkeys, sign-in for password accounts, discoverable sign-in and the JWT answer.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { keys, spawnApp, TestApp, unique } from "./helpers";
import { SoftKey, UP } from "./webauthn-authenticator";

const RP = {
  WEBAUTHN_RP_ID: "localhost",
  WEBAUTHN_RP_NAME: "Djoser Reference",
  WEBAUTHN_ORIGIN: "http://localhost:3000",
  SEND_ACTIVATION_EMAIL: "false",
  SEND_CONFIRMATION_EMAIL: "false",
};
const FAILED = { non_field_errors: "WebAuthn verification failed." };
const ALNUM = /^[A-Za-z0-9]+$/;

let app: TestApp;
let jwtApp: TestApp;
beforeAll(async () => {
  app = await spawnApp(RP);
  jwtApp = await spawnApp({ ...RP, WEBAUTHN_LOGIN_RESPONSE: "jwt" });
});
afterAll(async () => {
  await app.dispose();
  await jwtApp.dispose();
});

/** signup_request then signup with `key`: the new account. */
async function signUp(a: TestApp, key = new SoftKey(), fmt: "none" | "packed" = "none") {
  const username = unique("pk");
  const options = await a.post("/auth/webauthn/signup_request/", { username, display_name: "Pat Key" });
  expect(options.status, options.text).toBe(200);
  const res = await a.post(`/auth/webauthn/signup/${options.body.user.id}/`, {
    username,
    ...key.create({ challenge: options.body.challenge }, fmt),
  });
  expect(res.status, res.text).toBe(201);
  return { username, id: res.body.id as number, key, ukey: options.body.user.id as string };
}

/** A password account (active at once: activation e-mails are off here) with a JWT pair. */
async function passwordUser(a: TestApp) {
  const username = unique("pw");
  const password = "a-long-passphrase-9";
  const reg = await a.register(username, password, `${username}@example.com`);
  expect(reg.status, reg.text).toBe(201);
  const { access } = await a.jwtCreate(username, password);
  return { id: reg.body.id as number, username, password, auth: `Bearer ${access}` };
}

async function loginOptions(a: TestApp, body: Record<string, string>) {
  const res = await a.post("/auth/webauthn/login_request/", body);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** The kinds in the user's event log, once the write after the answer has landed. */
async function eventKinds(a: TestApp, userId: number, want: string): Promise<string[]> {
  for (let i = 0; i < 50; i++) {
    const rows = await a.sql("SELECT kind FROM events WHERE user_id = ? ORDER BY id", userId);
    const kinds = rows.map((r: any) => r.kind as string);
    if (kinds.includes(want)) return kinds;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await a.sql("SELECT kind FROM events WHERE user_id = ?", userId)).map((r: any) => r.kind);
}

describe("djoser's routes", () => {
  test("signup_request_answers_djosers_creation_options", async () => {
    const username = unique("pk");
    const res = await app.post("/auth/webauthn/signup_request/", { username, display_name: "Pat" });
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body)).toEqual([
      "challenge", "rp", "user", "pubKeyCredParams", "timeout", "excludeCredentials", "attestation", "extensions",
    ]);
    expect(res.body.challenge).toMatch(ALNUM);
    expect(res.body.challenge).toHaveLength(32);
    expect(res.body.rp).toEqual({ name: "Djoser Reference", id: "localhost" });
    expect(res.body.user.id).toMatch(ALNUM);
    expect(res.body.user.id).toHaveLength(20);
    expect(res.body.user).toEqual({ id: res.body.user.id, name: username, displayName: "Pat" });
    expect(res.body.pubKeyCredParams).toEqual([
      { alg: -7, type: "public-key" },
      { alg: -8, type: "public-key" },
      { alg: -257, type: "public-key" },
    ]);
    expect(res.body.timeout).toBe(60000);
    expect(res.body.excludeCredentials).toEqual([]);
    expect(res.body.attestation).toBe("direct");
    expect(res.body.extensions).toEqual({ "webauthn.loc": true });
  });

  test("signup_request_validates_like_djosers_serializer", async () => {
    const missing = await app.post("/auth/webauthn/signup_request/", {});
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ username: ["This field is required."], display_name: ["This field is required."] });
    const { username } = await signUp(app);
    const taken = await app.post("/auth/webauthn/signup_request/", { username, display_name: "x" });
    expect(taken.status).toBe(400);
    expect(taken.body).toEqual({ username: [`User ${username} already exists.`] });
  });

  test("signup_creates_the_account_and_refuses_every_bad_ceremony", async () => {
    const username = unique("pk");
    const options = (await app.post("/auth/webauthn/signup_request/", { username, display_name: "P" })).body;
    const path = `/auth/webauthn/signup/${options.user.id}/`;
    const key = new SoftKey();

    const unknown = await app.post("/auth/webauthn/signup/nosuchukey/", { username, ...key.create(options) });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: "No CredentialOptions matches the given query." });
    const noName = await app.post(path, key.create(options));
    expect(noName.status).toBe(400);
    expect(noName.body).toEqual({ username: ["This field is required."] });

    // A field error spends nothing: the same ceremony still succeeds afterwards.
    const created = await app.post(path, { username, ...key.create(options) });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toEqual({ email: "", username, id: created.body.id });
    // Single use: the ukey is gone with its challenge.
    const again = await app.post(path, { username, ...key.create(options) });
    expect(again.status).toBe(404);

    const rows = await app.sql("SELECT credential_id, sign_count, ukey FROM webauthn_credentials WHERE user_id = ?", created.body.id);
    expect(rows).toEqual([{ credential_id: key.credentialId, sign_count: 0, ukey: options.user.id }]);
    const password = await app.sql("SELECT password FROM users WHERE id = ?", created.body.id);
    expect(password[0].password.startsWith("!")).toBe(true);
  });

  test("each_failed_check_is_djosers_one_answer_and_spends_the_challenge", async () => {
    const cases: [string, (k: SoftKey, challenge: string) => object][] = [
      ["wrong challenge", (k) => k.create({ challenge: "A".repeat(32) })],
      ["wrong origin", (k, c) => k.create({ challenge: c, origin: "http://evil.localhost:3000" })],
      ["wrong type", (k, c) => k.create({ challenge: c, type: "webauthn.get" })],
      ["wrong rp id", (k, c) => k.create({ challenge: c, rpId: "example.com" })],
      ["no user presence", (k, c) => k.create({ challenge: c, flags: 0 })],
      ["garbage", () => ({ clientData: "!!", attObj: "AAAA" })],
      ["missing fields", () => ({})],
    ];
    for (const [name, answer] of cases) {
      const username = unique("pk");
      const options = (await app.post("/auth/webauthn/signup_request/", { username, display_name: "P" })).body;
      const res = await app.post(`/auth/webauthn/signup/${options.user.id}/`, { username, ...answer(new SoftKey(), options.challenge) });
      expect(res.status, name).toBe(400);
      expect(res.body, name).toEqual(FAILED);
      expect(await app.sql("SELECT id FROM users WHERE username = ?", username), name).toEqual([]);
    }
  });

  test("login_request_and_login_answer_djosers_token", async () => {
    const { username, key, id } = await signUp(app);
    const unknown = await app.post("/auth/webauthn/login_request/", { username: unique("nobody") });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toEqual({ username: ["Unable to log in with provided credentials."] });

    const options = await loginOptions(app, { username });
    expect(Object.keys(options)).toEqual(["challenge", "allowCredentials", "rpId", "timeout", "userVerification"]);
    expect(options.challenge).toMatch(ALNUM);
    expect(options.challenge).toHaveLength(32);
    expect(options.allowCredentials).toEqual([
      { type: "public-key", id: key.credentialId, transports: ["usb", "nfc", "ble", "internal"] },
    ]);
    expect(options.rpId).toBe("localhost");
    expect(options.timeout).toBe(60000);
    expect(options.userVerification).toBe("discouraged");

    // djoser's login body: username, clientData, authData, signature (hex), no id needed.
    const { id: _id, ...assertion } = key.get({ challenge: options.challenge });
    const res = await app.post("/auth/webauthn/login/", { username, ...assertion });
    expect(res.status, res.text).toBe(201);
    expect(keys(res.body)).toEqual(["auth_token"]);
    const me = await app.call("/auth/users/me/", { auth: `Token ${res.body.auth_token}` });
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(id);

    // The challenge is spent: the same assertion again fails.
    const replay = await app.post("/auth/webauthn/login/", { username, ...assertion });
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual(FAILED);
    expect(await eventKinds(app, id, "passkey_login")).toContain("passkey_login");
  });

  test("login_refuses_a_bad_signature_origin_and_unknown_user", async () => {
    const { username, key } = await signUp(app);
    const other = new SoftKey();
    let options = await loginOptions(app, { username });
    const forged = other.get({ challenge: options.challenge });
    let res = await app.post("/auth/webauthn/login/", { username, ...forged, id: key.credentialId });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(FAILED);
    options = await loginOptions(app, { username });
    res = await app.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge, origin: "http://localhost:8000" }) });
    expect(res.body).toEqual(FAILED);
    options = await loginOptions(app, { username });
    res = await app.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge, flags: 0 }) });
    expect(res.body).toEqual(FAILED);
    res = await app.post("/auth/webauthn/login/", { username: unique("nobody"), ...key.get({ challenge: options.challenge }) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ username: ["Unable to log in with provided credentials."] });
    // After all that, a good assertion still works.
    options = await loginOptions(app, { username });
    res = await app.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge }) });
    expect(res.status, res.text).toBe(201);
  });

  test("a_counter_that_does_not_grow_is_refused_and_logged", async () => {
    const { username, key, id } = await signUp(app);
    let options = await loginOptions(app, { username });
    expect((await app.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge }, 5) })).status).toBe(201);
    // A clone of the authenticator, one step behind.
    key.counter = 3;
    options = await loginOptions(app, { username });
    const res = await app.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge }) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(FAILED);
    expect(await eventKinds(app, id, "passkey_counter_regressed")).toContain("passkey_counter_regressed");
    const rows = await app.sql("SELECT sign_count FROM webauthn_credentials WHERE user_id = ?", id);
    expect(rows).toEqual([{ sign_count: 5 }]);
  });

  test("ed25519_and_packed_self_attestation_work", async () => {
    const { username, key } = await signUp(app, new SoftKey("EdDSA"), "packed");
    const options = await loginOptions(app, { username });
    const res = await app.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge }) });
    expect(res.status, res.text).toBe(201);
  });

  test("rs256_passkeys_sign_up_with_either_format_and_sign_in", async () => {
    for (const fmt of ["none", "packed"] as const) {
      const { username, key, id } = await signUp(app, new SoftKey("RS256"), fmt);
      const rows = await app.sql("SELECT public_key FROM webauthn_credentials WHERE user_id = ?", id);
      expect(rows).toHaveLength(1);
      // The stored COSE key is the RSA one the authenticator sent (kty 3, alg -257).
      expect(Buffer.from(rows[0].public_key as string, "base64url")).toEqual(key.cose());
      let options = await loginOptions(app, { username });
      let res = await app.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge }) });
      expect(res.status, res.text).toBe(201);
      expect(res.body.auth_token).toMatch(/^[0-9a-f]{40}$/);
      // Another RSA key signing for this credential is refused.
      const other = new SoftKey("RS256");
      other.counter = key.counter;
      options = await loginOptions(app, { username });
      const forged = { ...other.get({ challenge: options.challenge }), id: key.credentialId };
      res = await app.post("/auth/webauthn/login/", { username, ...forged });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(FAILED);
    }
  });

  test("rsa_keys_under_2048_bits_are_refused_and_nothing_is_stored", async () => {
    const username = unique("pk");
    const options = await app.post("/auth/webauthn/signup_request/", { username, display_name: "Weak" });
    expect(options.status, options.text).toBe(200);
    const weak = new SoftKey("RS256", "localhost", "http://localhost:3000", 1024);
    const res = await app.post(`/auth/webauthn/signup/${options.body.user.id}/`, {
      username,
      ...weak.create({ challenge: options.body.challenge }, "packed"),
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(FAILED);
    expect(await app.sql("SELECT id FROM users WHERE username = ?", username)).toEqual([]);
    const rows = await app.sql("SELECT id FROM webauthn_credentials WHERE credential_id = ?", weak.credentialId);
    expect(rows).toEqual([]);
  });
});

describe("beyond djoser", () => {
  test("jwt_mode_answers_the_pair_of_jwt_create", async () => {
    const { username, key, id } = await signUp(jwtApp);
    const options = await loginOptions(jwtApp, { username });
    const res = await jwtApp.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge }) });
    expect(res.status, res.text).toBe(201);
    expect(keys(res.body)).toEqual(["access", "refresh"]);
    const me = await jwtApp.call("/auth/users/me/", { auth: `Bearer ${res.body.access}` });
    expect(me.body.id).toBe(id);
  });

  test("discoverable_sign_in_needs_no_username", async () => {
    const { key, id, ukey: signedUpUkey } = await signUp(jwtApp);
    const options = await loginOptions(jwtApp, {});
    expect(options.allowCredentials).toEqual([]);
    const res = await jwtApp.post("/auth/webauthn/login/", key.get({ challenge: options.challenge }));
    expect(res.status, res.text).toBe(201);
    const me = await jwtApp.call("/auth/users/me/", { auth: `Bearer ${res.body.access}` });
    expect(me.body.id).toBe(id);
    // Without the credential id there is nothing to check it against.
    const again = await loginOptions(jwtApp, {});
    const { id: _drop, ...noId } = key.get({ challenge: again.challenge });
    expect((await jwtApp.post("/auth/webauthn/login/", noId)).body).toEqual(FAILED);
    // A user handle, when sent, must be this account's (its ukey, or as djoser compares it, the
    // username).
    const other = await signUp(jwtApp);
    let o = await loginOptions(jwtApp, {});
    const wrongHandle = { ...key.get({ challenge: o.challenge }), userHandle: Buffer.from(other.ukey).toString("base64url") };
    expect((await jwtApp.post("/auth/webauthn/login/", wrongHandle)).body).toEqual(FAILED);
    o = await loginOptions(jwtApp, {});
    const rightHandle = { ...key.get({ challenge: o.challenge }), userHandle: Buffer.from(signedUpUkey).toString("base64url") };
    expect((await jwtApp.post("/auth/webauthn/login/", rightHandle)).status).toBe(201);
  });

  test("a_password_account_adds_passkeys_renames_removes_and_signs_in_with_them", async () => {
    const me = await passwordUser(jwtApp);
    const auth = { auth: me.auth };
    expect((await jwtApp.call("/auth/webauthn/credentials/", auth)).body).toEqual([]);
    expect((await jwtApp.call("/auth/webauthn/credentials/")).status).toBe(401);

    // An account with a password confirms it before it adds a way in.
    const noPassword = await jwtApp.post("/auth/webauthn/credentials/", {}, auth);
    expect(noPassword.status).toBe(400);
    expect(noPassword.body).toEqual({ current_password: ["This field is required."] });
    const wrong = await jwtApp.post("/auth/webauthn/credentials/", { current_password: "nope" }, auth);
    expect(wrong.body).toEqual({ current_password: ["Invalid password."] });

    const added: SoftKey[] = [];
    for (const name of ["laptop", "phone"]) {
      const key = new SoftKey();
      const options = await jwtApp.post("/auth/webauthn/credentials/", { current_password: me.password }, auth);
      expect(options.status, options.text).toBe(200);
      expect(options.body.user.name).toBe(me.username);
      expect(options.body.excludeCredentials).toEqual(added.map((k) => ({ type: "public-key", id: k.credentialId })));
      expect(options.body.authenticatorSelection).toEqual({ residentKey: "preferred" });
      const res = await jwtApp.post("/auth/webauthn/credentials/", { ...key.create(options.body), name }, auth);
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({ name, credential_id: key.credentialId, sign_count: 0, last_used: null });
      added.push(key);
    }
    const list = (await jwtApp.call("/auth/webauthn/credentials/", auth)).body;
    expect(list.map((c: any) => c.name)).toEqual(["laptop", "phone"]);
    // The same handle for both: a discoverable sign-in names the same user by either.
    const handles = await jwtApp.sql("SELECT DISTINCT ukey FROM webauthn_credentials WHERE user_id = ?", me.id);
    expect(handles).toHaveLength(1);

    // A ceremony of someone else's challenge is refused.
    const other = await passwordUser(jwtApp);
    const theirs = await jwtApp.post("/auth/webauthn/credentials/", { current_password: other.password }, { auth: other.auth });
    const stolen = await jwtApp.post("/auth/webauthn/credentials/", new SoftKey().create(theirs.body), auth);
    expect(stolen.body).toEqual(FAILED);

    const renamed = await jwtApp.call(`/auth/webauthn/credentials/${list[0].id}/`, { method: "PATCH", json: { name: "work laptop" }, ...auth });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.body.name).toBe("work laptop");
    expect((await jwtApp.call(`/auth/webauthn/credentials/${list[0].id}/`, { method: "PATCH", json: { name: "x" }, auth: other.auth })).status).toBe(404);

    // Sign in with each, then remove the first: only the second still works.
    for (const key of added) {
      const options = await loginOptions(jwtApp, { username: me.username });
      expect(options.allowCredentials.map((c: any) => c.id)).toEqual(added.map((k) => k.credentialId));
      const res = await jwtApp.post("/auth/webauthn/login/", { username: me.username, ...key.get({ challenge: options.challenge }) });
      expect(res.status, res.text).toBe(201);
    }
    const removed = await jwtApp.call(`/auth/webauthn/credentials/${list[0].id}/`, { method: "DELETE", ...auth });
    expect(removed.status).toBe(204);
    let options = await loginOptions(jwtApp, { username: me.username });
    const gone = await jwtApp.post("/auth/webauthn/login/", { username: me.username, ...added[0].get({ challenge: options.challenge }) });
    expect(gone.body).toEqual(FAILED);
    options = await loginOptions(jwtApp, { username: me.username });
    const kept = await jwtApp.post("/auth/webauthn/login/", { username: me.username, ...added[1].get({ challenge: options.challenge }) });
    expect(kept.status).toBe(201);
    // A password account may remove its last passkey.
    expect((await jwtApp.call(`/auth/webauthn/credentials/${list[1].id}/`, { method: "DELETE", ...auth })).status).toBe(204);
    const kinds = await eventKinds(jwtApp, me.id, "passkey_removed");
    expect(kinds.filter((k) => k === "passkey_added")).toHaveLength(2);
  });

  test("the_last_passkey_of_a_passwordless_account_stays", async () => {
    const { username, key, id } = await signUp(jwtApp);
    const options = await loginOptions(jwtApp, { username });
    const pair = (await jwtApp.post("/auth/webauthn/login/", { username, ...key.get({ challenge: options.challenge }) })).body;
    const auth = { auth: `Bearer ${pair.access}` };
    const [only] = (await jwtApp.call("/auth/webauthn/credentials/", auth)).body;
    const res = await jwtApp.call(`/auth/webauthn/credentials/${only.id}/`, { method: "DELETE", ...auth });
    expect(res.status).toBe(400);
    expect(keys(res.body)).toEqual(["non_field_errors"]);
    expect(await jwtApp.sql("SELECT id FROM webauthn_credentials WHERE user_id = ?", id)).toHaveLength(1);
  });

  test("user_verification_is_required_when_configured", async () => {
    const strict = await spawnApp({ ...RP, WEBAUTHN_USER_VERIFICATION: "true" });
    try {
      const username = unique("pk");
      const options = (await strict.post("/auth/webauthn/signup_request/", { username, display_name: "P" })).body;
      expect(options.authenticatorSelection).toEqual({ userVerification: "required" });
      const key = new SoftKey();
      const noUv = await strict.post(`/auth/webauthn/signup/${options.user.id}/`, { username, ...key.create({ challenge: options.challenge, flags: UP }) });
      expect(noUv.body).toEqual(FAILED);
      const off = await spawnApp({});
      try {
        for (const path of ["signup_request/", "signup/x/", "login_request/", "login/", "credentials/"]) {
          const res = await off.post(`/auth/webauthn/${path}`, {});
          expect(res.status, path).toBe(path === "credentials/" ? 401 : 404);
        }
      } finally {
        await off.dispose();
      }
    } finally {
      await strict.dispose();
    }
  });
});
