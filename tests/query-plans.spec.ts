// Every statement the service sends to D1, checked with EXPLAIN QUERY PLAN: none may scan a whole
// table (the service must stay as fast with a million rows as with ten). SQL_TRACE=true makes the
// Worker log each distinct statement once; a workload below exercises every endpoint and the
// scheduled purge, then each logged statement is explained against the same database.
import { afterAll, beforeAll, expect, test } from "vitest";
import { expectNoContent, fullScans, signedIn, spawnApp, TestApp, totp, tracedStatements, unique } from "./helpers";
import { SoftKey } from "./webauthn-authenticator";

let app: TestApp;
beforeAll(async () => {
  // Throttling on (its statements are checked too), with limits this workload stays within.
  const roomy = "1000/60";
  app = await spawnApp({
    SQL_TRACE: "true",
    RATE_LIMITS: "on",
    WEBAUTHN_RP_ID: "localhost",
    WEBAUTHN_ORIGIN: "http://localhost:3000",
    ...Object.fromEntries(
      ["LOGIN", "LOGIN_ACCOUNT", "REGISTER", "EMAIL", "CONFIRM", "REFRESH"].map((k) => [`RATE_LIMIT_${k}`, roomy]),
    ),
  });
});
afterAll(async () => {
  await app.dispose();
});

/** Statements allowed to scan, each with why. */
const SCANS_ALLOWED: [RegExp, string][] = [
  [/^SELECT .* FROM users ORDER BY id$/, "the staff user list reads every user by design (djoser's list view)"],
];

async function workload(): Promise<void> {
  const me = await signedIn(app);
  const auth = me.auth;
  // Sign-ins, tokens, refresh (with reuse), verify, blacklist.
  await app.post("/auth/jwt/create/", { username: me.username, password: "wrong-pw" });
  const pair = await app.jwtCreate(me.username, me.password);
  const next = await app.post("/auth/jwt/refresh/", { refresh: pair.refresh });
  await app.post("/auth/jwt/verify/", { token: next.body.access });
  await app.post("/auth/jwt/refresh/", { refresh: pair.refresh });
  const other = await app.jwtCreate(me.username, me.password);
  await app.post("/auth/jwt/blacklist/", { refresh: other.refresh });
  const key = await app.loginToken(me.username, me.password);
  await app.call("/auth/users/me/", { auth: `Token ${key}` });
  await app.post("/auth/token/logout/", {}, { auth: `Token ${key}` });
  // Users: list (as staff), detail, update, e-mail change, events.
  await app.sql("UPDATE users SET is_staff = 1 WHERE id = ?", me.id);
  await app.call("/auth/users/", { auth });
  await app.call(`/auth/users/${me.id}/`, { auth });
  const newEmail = `${unique("moved")}@example.com`;
  await app.call("/auth/users/me/", { method: "PATCH", json: { email: newEmail }, auth });
  const link = app.lastLink(newEmail);
  await app.post("/auth/users/email_change_confirm/", { uid: link.uid, token: link.token });
  const again = `${unique("again")}@example.com`;
  await app.call("/auth/users/me/", { method: "PATCH", json: { email: again }, auth });
  const cancel = app.lastLink(newEmail);
  await app.post("/auth/users/email_change_cancel/", { uid: cancel.uid, token: cancel.token });
  await app.call("/auth/users/me/events/", { auth });
  await app.call(`/auth/users/${me.id}/events/`, { auth });
  // Sessions.
  const extra = await app.jwtCreate(me.username, me.password);
  const list = await app.call("/auth/sessions/", { auth: `Bearer ${extra.access}` });
  const sid = list.body.find((s: any) => !s.current)?.id;
  if (sid) await app.call(`/auth/sessions/${sid}/`, { method: "DELETE", auth: `Bearer ${extra.access}` });
  await app.call(`/auth/users/${me.id}/sessions/`, { auth: `Bearer ${extra.access}` });
  await app.post("/auth/sessions/revoke_others/", {}, { auth: `Bearer ${extra.access}` });
  // Passwords and usernames, directly and by link.
  const fresh = await app.jwtCreate(me.username, me.password);
  const fauth = `Bearer ${fresh.access}`;
  const pw2 = "Second-pw-24680";
  expectNoContent(await app.post("/auth/users/set_password/", { current_password: me.password, new_password: pw2 }, { auth: fauth }));
  await app.post("/auth/users/reset_password/", { email: newEmail });
  const reset = app.lastLink(newEmail);
  const pw3 = "Third-pw-13579x";
  await app.post("/auth/users/reset_password_confirm/", { uid: reset.uid, token: reset.token, new_password: pw3 });
  const third = await app.jwtCreate(me.username, pw3);
  const tauth = `Bearer ${third.access}`;
  const name2 = unique("renamed");
  await app.post("/auth/users/set_username/", { current_password: pw3, new_username: name2 }, { auth: tauth });
  await app.post("/auth/users/reset_username/", { email: newEmail });
  const rename = app.lastLink(newEmail);
  await app.post("/auth/users/reset_username_confirm/", { uid: rename.uid, token: rename.token, new_username: unique("again") });
  // Activation of someone new, and a resend for someone inactive.
  const late = unique("late");
  await app.register(late, "Late-pw-97531", `${late}@example.com`);
  await app.post("/auth/users/resend_activation/", { email: `${late}@example.com` });
  // Two-factor.
  const second = await signedIn(app);
  const started = await app.post("/auth/mfa/totp/activate/", { current_password: second.password }, { auth: second.auth });
  expect(started.status).toBe(200);
  await app.post("/auth/mfa/totp/activate/confirm/", { code: "000000" }, { auth: second.auth });
  const confirmed = await app.post("/auth/mfa/totp/activate/confirm/", { code: totp(started.body.secret) }, { auth: second.auth });
  await app.call("/auth/mfa/", { auth: second.auth });
  const challenge = async () =>
    (await app.post("/auth/jwt/create/", { username: second.username, password: second.password })).body.ephemeral_token;
  const one = await challenge();
  await app.post("/auth/mfa/login/", { ephemeral_token: one, code: "000000" });
  await app.post("/auth/mfa/login/", { ephemeral_token: one, code: totp(started.body.secret, 1) });
  await app.post("/auth/mfa/login/", { ephemeral_token: await challenge(), code: confirmed.body.backup_codes[0] });
  await app.post(
    "/auth/mfa/backup_codes/regenerate/",
    { current_password: second.password, code: confirmed.body.backup_codes[1] },
    { auth: second.auth },
  );
  await app.post("/auth/mfa/login/", { ephemeral_token: "AAAA.BBBB", code: "000000" });
  // Passkeys: djoser's signup and sign-in, then a password account's passkey by name and
  // discoverably, renamed and removed.
  const pkName = unique("pk");
  const pkOptions = (await app.post("/auth/webauthn/signup_request/", { username: pkName, display_name: "P" })).body;
  await app.post(`/auth/webauthn/signup/${pkOptions.user.id}/`, { username: pkName, ...new SoftKey().create(pkOptions) });
  const passkey = new SoftKey();
  const pkAdd = (await app.post("/auth/webauthn/credentials/", { current_password: second.password }, { auth: second.auth })).body;
  const pkAdded = (await app.post("/auth/webauthn/credentials/", { ...passkey.create(pkAdd), name: "k" }, { auth: second.auth })).body;
  const pkLogin = (await app.post("/auth/webauthn/login_request/", { username: second.username })).body;
  await app.post("/auth/webauthn/login/", { username: second.username, ...passkey.get(pkLogin) });
  const pkAny = (await app.post("/auth/webauthn/login_request/", {})).body;
  await app.post("/auth/webauthn/login/", passkey.get(pkAny));
  await app.call("/auth/webauthn/credentials/", { auth: second.auth });
  await app.call(`/auth/webauthn/credentials/${pkAdded.id}/`, { method: "PATCH", json: { name: "n" }, auth: second.auth });
  await app.call(`/auth/webauthn/credentials/${pkAdded.id}/`, { method: "DELETE", auth: second.auth });
  // Revoke everything, delete an account, the purge.
  await app.post("/auth/sessions/revoke_all/", {}, { auth: second.auth });
  const back = await app.jwtCreate(me.username, pw3).catch(() => null);
  if (back) await app.post("/auth/mfa/totp/deactivate/", { current_password: pw3, code: "000000" }, { auth: `Bearer ${back.access}` });
  const gone = await signedIn(app);
  await app.call("/auth/users/me/", { method: "DELETE", json: { current_password: gone.password }, auth: gone.auth });
  await app.settle();
  await (await app.mf.getWorker()).scheduled({ cron: "17 * * * *" });
}

test("no_statement_the_service_sends_scans_a_whole_table", async () => {
  await workload();
  await new Promise((r) => setTimeout(r, 200));
  const statements = tracedStatements(app);
  // The workload reaches the storage of every area; a trace this short means the trace broke.
  expect(statements.length).toBeGreaterThan(30);
  const scans = await fullScans(app, statements, SCANS_ALLOWED.map(([re]) => re));
  expect(scans, scans.join("\n")).toEqual([]);
});
