// The move from a running djoser: a dump made by real Django (tests/fixtures/django, made by
// make_fixture.sh with the pinned Django/djoser/SimpleJWT) goes through `npm run import-djoser`
// into a local D1 (wrangler --local --persist-to a temp folder), and the Worker, started on that
// very D1, honours every password, DRF token and JWT Django issued. Then the operator commands
// (`npm run createsuperuser`, `npm run admin`) on the same D1.
//
// wrangler writes the D1 files while no Worker holds them: each step disposes the app before it
// runs a command and starts it again after.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeJwt, nowSeconds, spawnApp, TestApp } from "./helpers";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURE = join(ROOT, "tests", "fixtures", "django");
const DUMP = join(FIXTURE, "dump.json");
const known = JSON.parse(readFileSync(join(FIXTURE, "known.json"), "utf8"));
const dumpRows: any[] = JSON.parse(readFileSync(DUMP, "utf8"));

// Django's refresh tokens are bounded here by REFRESH_TOKEN_LIFETIME after their iat (the
// Worker allows at most a year): a fixture older than that must be made again.
const VARS = { REFRESH_TOKEN_LIFETIME: "31536000", ACCESS_TOKEN_LIFETIME: "31536000" };
const LONG = 240_000;

let dir: string;
let work: string;
let app: TestApp | null = null;

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const res = spawnSync("node", [join(ROOT, "scripts", script), ...args, "--persist-to", dir], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { status: res.status, out: `${res.stdout}`, err: `${res.stderr}` };
}
const importDump = (path: string, ...flags: string[]) => run("import-djoser.mjs", [path, ...flags]);
const admin = (...args: string[]) => run("admin.mjs", args);

async function open(): Promise<TestApp> {
  await close();
  app = await spawnApp(VARS, { localD1: dir });
  return app;
}
async function close(): Promise<void> {
  if (app) await app.dispose();
  app = null;
}
async function userCount(): Promise<number> {
  const a = await open();
  const [row] = await a.sql("SELECT COUNT(*) AS n FROM users");
  return row.n;
}
function writeDump(name: string, rows: unknown): string {
  const path = join(work, name);
  writeFileSync(path, typeof rows === "string" ? rows : JSON.stringify(rows));
  return path;
}
const clone = () => JSON.parse(JSON.stringify(dumpRows));
const login = (a: TestApp, username: string, password: string) =>
  a.post("/auth/jwt/create/", { username, password });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "import-d1-"));
  work = mkdtempSync(join(tmpdir(), "import-dumps-"));
  // A fresh local D1 with the migrations, as `wrangler d1 migrations apply --local` leaves it.
  app = await spawnApp(VARS, { localD1: dir, migrate: true });
  await close();
}, LONG);

afterAll(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe.sequential("npm run import-djoser", () => {
  test("the fixture is young enough for the Worker's refresh lifetime", () => {
    const iat = decodeJwt(known.jwt.refresh).payload.iat;
    expect(nowSeconds() - iat, "tests/fixtures/django is over a year old: run make_fixture.sh").toBeLessThan(
      31_536_000,
    );
  });

  test("bad dumps are refused with the model and pk named, and nothing is written", async () => {
    const badTime = clone();
    badTime[1].fields.date_joined = "yesterday";
    const orphanToken = clone();
    orphanToken.find((r: any) => r.model === "authtoken.token").fields.user = 999;
    const dupEmail = clone();
    dupEmail[2].fields.email = "ALICE@example.COM";
    const cases: [string, unknown, RegExp][] = [
      ["not-json.json", "this is not json", /not JSON/],
      ["object.json", { model: "auth.user" }, /not a dumpdata file/],
      ["bad-time.json", badTime, /auth\.user pk 2: field "date_joined" is not an ISO 8601 time/],
      ["orphan.json", orphanToken, /authtoken\.token pk [0-9a-f]{40}: its user 999 is neither in the dump nor in D1/],
      ["dup.json", dupEmail, /"alice@example\.com" \(case-insensitively\) is shared by users 1 \("alice"\), 3 \("carol"\)/],
      ["group.json", [...clone(), { model: "auth.group", pk: 1, fields: { name: "x" } }], /auth\.group pk 1: not a model this import reads/],
    ];
    for (const [name, rows, message] of cases) {
      const res = importDump(writeDump(name, rows));
      expect(res.status, `${name}: ${res.out}`).toBe(1);
      expect(res.err, name).toMatch(message);
      expect(res.err, name).toMatch(/nothing was written|not JSON|not a dumpdata/);
    }
    expect(await userCount()).toBe(0);
  }, LONG);

  test("a dry run reports what it would do and writes nothing", async () => {
    await close();
    const res = importDump(DUMP, "--dry-run");
    expect(res.status, res.err).toBe(0);
    expect(res.out).toContain("users: 8 new, 0 already there");
    expect(res.out).toContain("DRF tokens: 2 new");
    expect(res.out).toContain("blacklisted refresh tokens: 1 new");
    expect(res.out).toMatch(/user 7 \(frank\): md5 is not verified/);
    expect(res.out).toMatch(/user 4 \(dave\): unusable in Django already/);
    expect(res.out).toContain("dry run: 11 statements in 1 batches; nothing written");
    expect(await userCount()).toBe(0);
  }, LONG);

  test("the import writes every row with its fields, and a re-import is a no-op", async () => {
    await close();
    const first = importDump(DUMP);
    expect(first.status, first.err).toBe(0);
    expect(first.out).toContain("done: 8 users, 2 DRF tokens and 1 blacklisted tokens written in 1 batches");
    const again = importDump(DUMP);
    expect(again.status, again.err).toBe(0);
    expect(again.out).toContain("users: 0 new, 8 already there");
    expect(again.out).toContain("DRF tokens: 0 new, 2 already there");
    expect(again.out).toContain("blacklisted refresh tokens: 0 new, 1 already refused");
    expect(again.out).toContain("written in 0 batches");

    const a = await open();
    const users = await a.sql("SELECT * FROM users ORDER BY id");
    expect(users.map((u) => [u.id, u.username])).toEqual(
      dumpRows.filter((r) => r.model === "auth.user").map((r) => [r.pk, r.fields.username]),
    );
    const alice = users[0];
    expect(alice).toMatchObject({
      email: "Alice@Example.com",
      email_key: "alice@example.com",
      first_name: "Alice",
      last_name: "Liddell",
      last_login: Date.parse("2025-03-14T15:09:26.535Z") / 1000 - 0.535,
      date_joined: Date.parse("2024-01-02T03:04:05Z") / 1000,
      is_active: 1,
      is_staff: 0,
      tokens_valid_after: 0,
    });
    const byName = Object.fromEntries(users.map((u) => [u.username, u]));
    expect(byName.root.is_staff).toBe(1); // is_superuser maps to staff
    expect(byName.erin).toMatchObject({ is_active: 0, activation_pending: 0 }); // disabled, not pending
    expect(byName.frank.password.startsWith("!md5$")).toBe(true);
    expect(byName.gina.email_key).toBe("");
    const [seq] = await a.sql("SELECT seq FROM sqlite_sequence WHERE name = 'users'");
    expect(seq.seq).toBe(8); // new registrations continue after Django's ids
  }, LONG);

  test("every user signs in with its Django password and is re-hashed to argon2id", async () => {
    const a = await open();
    for (const [username, u] of Object.entries<any>(known.users)) {
      const res = await login(a, username, u.password ?? "anything-at-all");
      const [row] = await a.sql("SELECT password FROM users WHERE username = ?", username);
      if (u.password && u.is_active && u.hasher !== "md5") {
        expect(res.status, `${username} (${u.hasher}): ${res.text}`).toBe(200);
        expect(row.password, username).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
        expect((await login(a, username, `${u.password}x`)).status).toBe(401);
      } else {
        expect(res.status, username).toBe(401);
        expect(res.body).toEqual({ detail: "No active account found with the given credentials" });
        // Only a password that matched may be re-hashed (Django's check_password upgrades an
        // inactive user's hash too).
        if (u.is_active || !u.password) expect(row.password.startsWith("$argon2id$"), username).toBe(false);
      }
    }
  }, LONG);

  test("Django's DRF tokens and JWTs work, and the blacklisted refresh token stays refused", async () => {
    const a = await open();
    const me = await a.call("/auth/users/me/", { auth: `Token ${known.users.alice.drf_token}` });
    expect(me.status, me.text).toBe(200);
    expect(me.body).toEqual({ email: "Alice@Example.com", id: 1, username: "alice" });
    const carol = await a.call("/auth/users/me/", { auth: `Token ${known.users.carol.drf_token}` });
    expect(carol.body.username).toBe("carol");

    const byJwt = await a.call("/auth/users/me/", { auth: `Bearer ${known.jwt.access}` });
    expect(byJwt.status, byJwt.text).toBe(200);
    expect(byJwt.body.username).toBe("alice");
    const refreshed = await a.post("/auth/jwt/refresh/", { refresh: known.jwt.refresh });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(decodeJwt(refreshed.body.access).payload.user_id).toBe("1");

    const refused = await a.post("/auth/jwt/refresh/", { refresh: known.jwt.blacklisted_refresh });
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ detail: "Token is blacklisted", code: "token_not_valid" });
    const verify = await a.post("/auth/jwt/verify/", { token: known.jwt.blacklisted_refresh });
    expect(verify.status).toBe(400);
    expect(verify.body).toEqual({ non_field_errors: ["Token is blacklisted"] });
  }, LONG);
});

describe.sequential("npm run createsuperuser and npm run admin", () => {
  const PASSWORD = "a-long-unusual-pass-9";

  test("createsuperuser validates like Django and makes an active staff user", async () => {
    await close();
    const weak = run("admin.mjs", ["createsuperuser", "--username", "boss", "--email", "boss@example.com"], {
      DJOSER_SUPERUSER_PASSWORD: "password123",
    });
    expect(weak.status).toBe(1);
    expect(weak.err).toContain("password: This password is too common.");
    const taken = run("admin.mjs", ["createsuperuser", "--username", "alice", "--email", "new@example.com"], {
      DJOSER_SUPERUSER_PASSWORD: PASSWORD,
    });
    expect(taken.status).toBe(1);
    expect(taken.err).toContain("That username is already taken.");
    const made = run("admin.mjs", ["createsuperuser", "--username", "boss", "--email", "Boss@Example.com"], {
      DJOSER_SUPERUSER_PASSWORD: PASSWORD,
    });
    expect(made.status, made.err).toBe(0);
    const a = await open();
    const [boss] = await a.sql("SELECT * FROM users WHERE username = 'boss'");
    expect(boss).toMatchObject({ id: 9, is_active: 1, is_staff: 1, email: "Boss@example.com", activation_pending: 0 });
    expect((await login(a, "boss", PASSWORD)).status).toBe(200);
    const [{ n }] = await a.sql("SELECT COUNT(*) AS n FROM users");
    expect(n).toBe(9);
  }, LONG);

  test("disable ends the sessions, is no pending activation, and enable restores the account", async () => {
    let a = await open();
    const pair = (await login(a, "bob", known.users.bob.password)).body;
    await close();
    const res = admin("disable", "bob");
    expect(res.status, res.err).toBe(0);
    expect(res.out).toContain("user 2 (bob) disabled");
    a = await open();
    expect((await a.call("/auth/users/me/", { auth: `Bearer ${pair.access}` })).status).toBe(401);
    expect((await a.post("/auth/jwt/refresh/", { refresh: pair.refresh })).status).toBe(401);
    // As djoser answers for an inactive user.
    const again = await login(a, "bob", known.users.bob.password);
    expect(again.status).toBe(401);
    expect(again.body).toEqual({ detail: "No active account found with the given credentials" });
    const token = await a.post("/auth/token/login/", { username: "bob", password: known.users.bob.password });
    expect(token.status).toBe(400);
    const [bob] = await a.sql("SELECT is_active, activation_pending FROM users WHERE id = 2");
    expect(bob).toEqual({ is_active: 0, activation_pending: 0 });
    const events = await a.sql("SELECT kind, user_agent FROM events WHERE user_id = 2 AND kind = 'account_disabled'");
    expect(events).toEqual([{ kind: "account_disabled", user_agent: "npm run admin" }]);
    // A resent activation link cannot re-enable an operator-disabled account.
    await a.post("/auth/users/resend_activation/", { email: "bob@example.com" });
    expect(a.emailsTo("bob@example.com")).toEqual([]);

    await close();
    expect(admin("enable", "bob").status).toBe(0);
    a = await open();
    const back = await login(a, "bob", known.users.bob.password);
    expect(back.status).toBe(200);
    const log = await a.call("/auth/users/me/events/", { auth: `Bearer ${back.body.access}` });
    expect(log.status, log.text).toBe(200);
    expect(JSON.stringify(log.body)).toContain("account_disabled");
  }, LONG);

  test("logout kills every JWT and the DRF token of the user", async () => {
    let a = await open();
    const pair = (await login(a, "carol", known.users.carol.password)).body;
    const key = known.users.carol.drf_token;
    expect((await a.call("/auth/users/me/", { auth: `Token ${key}` })).status).toBe(200);
    await close();
    const res = admin("logout", "carol");
    expect(res.status, res.err).toBe(0);
    a = await open();
    expect((await a.call("/auth/users/me/", { auth: `Bearer ${pair.access}` })).status).toBe(401);
    expect((await a.post("/auth/jwt/refresh/", { refresh: pair.refresh })).status).toBe(401);
    expect((await a.call("/auth/users/me/", { auth: `Token ${key}` })).status).toBe(401);
    expect(await a.sql("SELECT key FROM auth_tokens WHERE user_id = 3")).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100)); // the revocation covers its own second
    expect((await login(a, "carol", known.users.carol.password)).status).toBe(200);
  }, LONG);

  test("set-staff, delete, and an unknown user", async () => {
    await close();
    expect(admin("set-staff", "gina").status).toBe(0);
    let a = await open();
    expect((await a.sql("SELECT is_staff FROM users WHERE id = 8"))[0].is_staff).toBe(1);
    await close();
    expect(admin("set-staff", "gina", "--off").status).toBe(0);
    const del = admin("delete", "alice");
    expect(del.status, del.err).toBe(0);
    const nobody = admin("disable", "nobody");
    expect(nobody.status).toBe(1);
    expect(nobody.err).toContain('no user named "nobody"');
    a = await open();
    expect((await a.sql("SELECT is_staff FROM users WHERE id = 8"))[0].is_staff).toBe(0);
    expect(await a.sql("SELECT id FROM users WHERE id = 1")).toEqual([]);
    expect(await a.sql("SELECT key FROM auth_tokens WHERE user_id = 1")).toEqual([]);
    expect((await a.call("/auth/users/me/", { auth: `Token ${known.users.alice.drf_token}` })).status).toBe(401);
    const [{ n }] = await a.sql("SELECT COUNT(*) AS n FROM users");
    expect(n).toBe(8);
  }, LONG);
});
