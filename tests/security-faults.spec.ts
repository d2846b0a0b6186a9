// Concurrency and faults (issue 5 "Concurrency and faults"; docs/security.md#secrets): the
// database is the arbiter of uniqueness, a failing D1 or KV gives an opaque 500 with the cause
// logged and no partial write, a misconfiguration is a clear error and never a panic, and no
// secret reaches a response body or a log line.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Reply, SIGNING_KEY, spawnApp, TestApp, unique } from "./helpers";

const OPAQUE = { detail: "A server error occurred." };

/** The CREATE statement of `table` from the migrations, to put a dropped table back. */
function createStatement(table: string): string {
  const dir = join(__dirname, "..", "migrations");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = readFileSync(join(dir, file), "utf8").replace(/--.*$/gm, "");
    for (const stmt of sql.split(";")) {
      if (new RegExp(`CREATE TABLE ${table}\\b`).test(stmt)) return stmt.trim();
    }
  }
  throw new Error(`no CREATE TABLE ${table}`);
}

function expectOpaque500(res: Reply, label: string): void {
  expect(res.status, `${label}: ${res.text}`).toBe(500);
  expect(res.body, label).toEqual(OPAQUE);
  expect(res.headers.get("content-type")).toBe("application/json");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  for (const leak of ["SQLITE", "D1", "no such table", "users", "KV", "stack", "panicked"]) {
    expect(res.text, label).not.toContain(leak);
  }
}

/** Waits until the Worker's stdout/stderr has been read (log lines arrive asynchronously). */
async function settleLogs(): Promise<void> {
  await new Promise((r) => setTimeout(r, 200));
}

describe("the database is the arbiter of uniqueness", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp();
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("twenty_concurrent_registrations_of_one_username_create_one_user", async () => {
    // Issue 5: "exactly one 201, the rest 400 with djoser's 'A user with that username already
    // exists.' (the database constraint is the arbiter)".
    const username = unique("race");
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.post("/auth/users/", { username, email: `${username}.${i}@example.com`, password: "Sup3r-secret-pw!" }),
      ),
    );
    const created = answers.filter((r) => r.status === 201);
    expect(created.length).toBe(1);
    for (const r of answers.filter((r) => r.status !== 201)) {
      expect(r.status, r.text).toBe(400);
      expect(r.body).toEqual({ username: ["A user with that username already exists."] });
    }
    expect(await app.sql("SELECT id FROM users WHERE username = ?", username)).toEqual([{ id: created[0].body.id }]);
  });

  test("twenty_concurrent_registrations_of_one_email_create_one_user", async () => {
    const email = `${unique("race")}@example.com`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.post("/auth/users/", { username: unique("r"), email: i % 2 ? email.toUpperCase() : email, password: "Sup3r-secret-pw!" }),
      ),
    );
    expect(answers.filter((r) => r.status === 201).length).toBe(1);
    for (const r of answers.filter((r) => r.status !== 201)) {
      expect(r.status, r.text).toBe(400);
      expect(r.body).toEqual({ email: ["user with this email address already exists."] });
    }
    const rows = await app.sql("SELECT COUNT(*) AS n FROM users WHERE lower(email) = lower(?)", email);
    expect(rows[0].n).toBe(1);
  });

  test("twenty_concurrent_activations_with_one_link_activate_once", async () => {
    const name = unique("act");
    const email = `${name}@example.com`;
    await app.register(name, "Sup3r-secret-pw!", email);
    const { uid, token } = app.lastLink(email);
    const answers = await Promise.all(Array.from({ length: 20 }, () => app.post("/auth/users/activation/", { uid, token })));
    expect(answers.filter((r) => r.status === 204).length).toBe(1);
    for (const r of answers.filter((r) => r.status !== 204)) {
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ detail: "Stale token for given user." });
    }
    // One activation, one confirmation e-mail.
    expect(app.emailsTo(email).filter((m) => m.kind !== "activation").length).toBe(1);
  });

  test("twenty_concurrent_password_resets_with_one_link_change_the_password_once", async () => {
    const u = await app.createActiveUser();
    await app.post("/auth/users/reset_password/", { email: u.email });
    const { uid, token } = app.lastLink(u.email);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.post("/auth/users/reset_password_confirm/", { uid, token, new_password: `Racer-pw-${i}-x!` }),
      ),
    );
    const won = answers.map((r, i) => [r, i] as const).filter(([r]) => r.status === 204);
    expect(won.length).toBe(1);
    for (const r of answers.filter((r) => r.status !== 204)) {
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ token: ["Invalid token for given user."] });
    }
    const winner = won[0][1];
    expect((await app.post("/auth/jwt/create/", { username: u.username, password: `Racer-pw-${winner}-x!` })).status).toBe(200);
  });
});

describe("D1 failing", () => {
  test("a_dropped_users_table_is_an_opaque_500_everywhere_and_the_worker_lives_on", async () => {
    const app = await spawnApp();
    try {
      const u = await app.createActiveUser();
      const { access } = await app.jwtCreate(u.username, u.password);
      await app.sql("DROP TABLE auth_tokens");
      await app.sql("DROP TABLE users");
      const name = unique("f");
      const failing: [string, Promise<Reply>][] = [
        ["jwt/create", app.post("/auth/jwt/create/", { username: u.username, password: u.password })],
        ["token/login", app.post("/auth/token/login/", { username: u.username, password: u.password })],
        ["register", app.post("/auth/users/", { username: name, email: `${name}@example.com`, password: "Sup3r-secret-pw!" })],
        ["reset_password", app.post("/auth/users/reset_password/", { email: u.email })],
        ["resend_activation", app.post("/auth/users/resend_activation/", { email: u.email })],
        ["activation", app.post("/auth/users/activation/", { uid: "MQ", token: "a-b" })],
        ["users/me", app.call("/auth/users/me/", { auth: `Bearer ${access}` })],
        ["token auth", app.call("/auth/users/me/", { auth: `Token ${"a".repeat(40)}` })],
      ];
      for (const [label, pending] of failing) expectOpaque500(await pending, label);
      // No panic: the same instance keeps answering what needs no users table.
      expect((await app.call("/auth/")).status).toBe(200);
      const verify = await app.post("/auth/jwt/verify/", { token: access });
      expect(verify.status).toBe(200);
      expect((await app.post("/auth/jwt/verify/", { token: "x" })).status).toBe(401);
      // The cause is logged for the operator.
      await settleLogs();
      expect(app.logs.join("\n")).toContain("no such table: users");
    } finally {
      await app.dispose();
    }
  });

  test("a_dropped_throttle_table_is_an_opaque_500", async () => {
    const app = await spawnApp({ RATE_LIMITS: "on" });
    try {
      await app.sql("DROP TABLE throttle");
      expectOpaque500(await app.post("/auth/jwt/create/", { username: "a", password: "b" }), "jwt/create");
      expectOpaque500(await app.post("/auth/users/reset_password/", { email: "a@example.com" }), "reset_password");
      expect(app.emails).toEqual([]);
    } finally {
      await app.dispose();
    }
  });

  test("a_failed_refresh_leaves_the_token_unspent", async () => {
    const app = await spawnApp();
    try {
      const u = await app.createActiveUser();
      const { refresh } = await app.jwtCreate(u.username, u.password);
      await app.sql("DROP TABLE refresh_spent");
      expectOpaque500(await app.post("/auth/jwt/refresh/", { refresh }), "refresh without refresh_spent");
      await app.sql(createStatement("refresh_spent"));
      // Nothing was half-done: the same token still rotates, once.
      const ok = await app.post("/auth/jwt/refresh/", { refresh });
      expect(ok.status, ok.text).toBe(200);
      expect((await app.sql("SELECT COUNT(*) AS n FROM refresh_spent"))[0].n).toBe(1);
    } finally {
      await app.dispose();
    }
  });

  test("a_failed_token_login_changes_nothing", async () => {
    const app = await spawnApp();
    try {
      const u = await app.createActiveUser();
      const [before] = await app.sql("SELECT last_login, password FROM users WHERE id = ?", u.id);
      await app.sql("DROP TABLE auth_tokens");
      expectOpaque500(await app.post("/auth/token/login/", { username: u.username, password: u.password }), "token/login");
      const [after] = await app.sql("SELECT last_login, password FROM users WHERE id = ?", u.id);
      expect(after).toEqual(before);
    } finally {
      await app.dispose();
    }
  });
});

describe("KV failing", () => {
  // KV cannot be made to throw from outside Miniflare, so the outage is a missing AUTH_KV binding
  // (TEST_NO_KV in helpers.ts): every KV call fails, as it would with KV down or mis-bound.
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ TEST_NO_KV: "1" });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("sign_in_and_refresh_work_without_kv_and_the_outage_is_logged", async () => {
    // KV holds only the session index, which decides nothing: an outage costs the listing of
    // new sessions, not the sign-in.
    const u = await app.createActiveUser();
    const pair = await app.post("/auth/jwt/create/", { username: u.username, password: u.password });
    expect(pair.status).toBe(200);
    expect((await app.post("/auth/jwt/refresh/", { refresh: pair.body.refresh })).status).toBe(200);
    expect((await app.post("/auth/token/login/", { username: u.username, password: u.password })).status).toBe(200);
    await settleLogs();
    expect(app.logs.some((l) => /AUTH_KV|kv/i.test(l))).toBe(true);
    // Listing sessions needs the index: an opaque 500.
    expectOpaque500(await app.call("/auth/sessions/", { auth: `Bearer ${pair.body.access}` }), "sessions");
  });
});

describe("misconfiguration", () => {
  test("a_malformed_setting_is_a_clear_json_500_with_security_headers", async () => {
    const app = await spawnApp({ RATE_LIMIT_LOGIN: "lots" });
    try {
      for (const path of ["/auth/", "/auth/jwt/create/", "/nope"]) {
        const res = await app.call(path);
        expect(res.status).toBe(500);
        expect(Object.keys(res.body)).toEqual(["detail"]);
        expect(res.body.detail).toMatch(/^Service misconfigured: .*RATE_LIMIT_LOGIN/);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expect(res.headers.get("x-frame-options")).toBe("DENY");
        expect(res.headers.get("cache-control")).toBe("no-store");
      }
    } finally {
      await app.dispose();
    }
  });

  test("a_short_signing_key_is_refused_without_echoing_it", async () => {
    const app = await spawnApp({ SIGNING_KEY: "hunter2-short" });
    try {
      const res = await app.post("/auth/jwt/create/", { username: "a", password: "b" });
      expect(res.status).toBe(500);
      expect(res.body.detail).toMatch(/^Service misconfigured: .*SIGNING_KEY/);
      expect(res.text).not.toContain("hunter2");
      await settleLogs();
      expect(app.logs.join("\n")).not.toContain("hunter2");
    } finally {
      await app.dispose();
    }
  });

  test("a_missing_signing_key_disables_token_work_with_a_clear_error", async () => {
    const app = await spawnApp({ SIGNING_KEY: "" });
    try {
      for (const [path, body] of [
        ["/auth/jwt/create/", { username: "a", password: "b" }],
        ["/auth/jwt/verify/", { token: "x" }],
        ["/auth/jwt/refresh/", { refresh: "x" }],
      ] as const) {
        const res = await app.post(path, body);
        expect(res.status, path).toBe(500);
        expect(res.body.detail).toMatch(/^Service misconfigured: SIGNING_KEY is not set/);
      }
      expect((await app.call("/auth/")).status).toBe(200);
    } finally {
      await app.dispose();
    }
  });

  test("registration_without_a_signing_key_stores_no_user_it_cannot_activate", async () => {
    // Registration needs the key for the activation link: without it nothing may be stored, or
    // the account would exist while the client was told it failed.
    const app = await spawnApp({ SIGNING_KEY: "" });
    try {
      const name = unique("nokey");
      const res = await app.post("/auth/users/", { username: name, email: `${name}@example.com`, password: "Sup3r-secret-pw!" });
      expect(res.status).toBe(500);
      expect(await app.sql("SELECT id FROM users WHERE username = ?", name)).toEqual([]);
    } finally {
      await app.dispose();
    }
  });
});

describe("secrets never leave", () => {
  test("no_password_token_or_key_reaches_a_body_or_a_log_line", async () => {
    const app = await spawnApp({ RATE_LIMITS: "on", RATE_LIMIT_LOGIN: "10/86400" });
    try {
      app.mailStatus = 500; // mail failures are logged: their log lines must be clean too
      const secrets: string[] = [SIGNING_KEY];
      const name = unique("sec");
      // Random, and unlike the username so that the similarity validator never refuses it.
      const password = `Zq-${randomBytes(8).toString("hex")}-Kv!`;
      secrets.push(password);
      const weak = `${name}12`;
      secrets.push(weak);
      const bodies: Reply[] = [];
      bodies.push(await app.post("/auth/users/", { username: name, email: `${name}@example.com`, password: weak }));
      bodies.push(await app.post("/auth/users/", { username: name, email: `${name}@example.com`, password }));
      expect(bodies[1].status).toBe(201);
      await app.sql("UPDATE users SET is_active = 1 WHERE username = ?", name);
      const pair = await app.post("/auth/jwt/create/", { username: name, password });
      secrets.push(pair.body.refresh);
      const tokenKey = await app.post("/auth/token/login/", { username: name, password });
      secrets.push(tokenKey.body.auth_token);
      bodies.push(await app.post("/auth/jwt/create/", { username: name, password: `${password}x` }));
      const newPassword = `${password}-new`;
      secrets.push(newPassword);
      const changed = await app.post(
        "/auth/users/set_password/",
        { current_password: password, new_password: newPassword },
        { auth: `Bearer ${pair.body.access}` },
      );
      expect(changed.status, changed.text).toBe(204);
      bodies.push(changed);
      bodies.push(await app.post("/auth/jwt/refresh/", { refresh: pair.body.refresh }));
      bodies.push(await app.post("/auth/jwt/refresh/", { refresh: pair.body.refresh }));
      await app.sql("DROP TABLE throttle");
      bodies.push(await app.post("/auth/jwt/create/", { username: name, password: newPassword }));
      await settleLogs();
      const logs = app.logs.join("\n");
      expect(app.logs.length).toBeGreaterThan(0);
      for (const secret of secrets) {
        expect(logs, "log lines").not.toContain(secret);
        for (const res of bodies) expect(res.text).not.toContain(secret);
      }
      // Password hashes neither.
      const [{ password: hash }] = await app.sql("SELECT password FROM users WHERE username = ?", name);
      expect(logs).not.toContain(hash.split("$").pop());
    } finally {
      await app.dispose();
    }
  });
});
