// The operator's side: JSON log lines that carry no secret, configuration errors logged at
// isolate start and opaque to clients, SIGNING_KEY_FALLBACKS over HTTP, and `npm run deploy`
// stopping at the first failure (with a stub wrangler: no network).
import { describe, expect, test, beforeAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  b64url,
  claimsFor,
  hs256Only,
  mintJwt,
  nowSeconds,
  SIGNING_KEY,
  spawnApp,
  unique,
  type TestApp,
} from "./helpers";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const settleLogs = () => new Promise((r) => setTimeout(r, 300));

/** Every captured line parsed; a line that is not one JSON object fails the test. */
function jsonLines(app: TestApp): any[] {
  return app.logs.map((line) => {
    let parsed: unknown;
    expect(() => (parsed = JSON.parse(line)), `not JSON: ${line}`).not.toThrow();
    expect(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed), line).toBe(true);
    return parsed as any;
  });
}

describe("logs", () => {
  test("every_line_is_json_with_the_request_fields_and_none_carries_a_secret", async () => {
    const webhookSecret = "whsec-0123456789-never-logged";
    const app = await spawnApp({
      EMAIL_WEBHOOK_SECRET: webhookSecret,
      RATE_LIMITS: "on",
      RATE_LIMIT_LOGIN: "3/60",
      REFRESH_REUSE_GRACE: "0",
    });
    try {
      const secrets: string[] = [SIGNING_KEY, webhookSecret];
      const user = await app.createActiveUser();
      secrets.push(user.password);
      const reset = await app.post("/auth/users/reset_password/", { email: user.email });
      expect(reset.status).toBe(204);
      const link = app.lastLink(user.email);
      secrets.push(link.token, `${link.uid}/${link.token}`, link.url);
      const pair = await app.jwtCreate(user.username, user.password);
      secrets.push(pair.access, pair.refresh);
      const ray = "8f1e2d3c4b5a6978-AMS";
      const me = await app.call(`/auth/users/${user.id}/`, {
        auth: `Bearer ${pair.access}`,
        headers: { "cf-ray": ray },
      });
      expect(me.status).toBe(200);
      const rotated = await app.post("/auth/jwt/refresh/", { refresh: pair.refresh });
      expect(rotated.status).toBe(200);
      secrets.push(rotated.body.access, rotated.body.refresh);
      await new Promise((r) => setTimeout(r, 1100));
      // The spent refresh token again, after the (zero) grace: a reuse, the family revoked.
      expect((await app.post("/auth/jwt/refresh/", { refresh: pair.refresh })).status).toBe(401);
      const token = await app.loginToken(user.username, user.password);
      secrets.push(token);
      // Wrong passwords until the login throttle answers 429.
      let status = 0;
      for (let i = 0; i < 5 && status !== 429; i++) {
        status = (await app.post("/auth/jwt/create/", { username: user.username, password: "wrong-Pw-1" })).status;
      }
      expect(status).toBe(429);
      await settleLogs();

      const lines = jsonLines(app);
      const text = app.logs.join("\n");
      for (const secret of secrets) expect(text, "a secret in the log").not.toContain(secret);
      for (const line of lines) {
        expect(typeof line.event, JSON.stringify(line)).toBe("string");
        expect(["info", "warn", "error"]).toContain(line.level);
      }
      const request = lines.find((l) => l.event === "request" && l.request_id === ray);
      expect(request).toMatchObject({
        level: "info",
        method: "GET",
        route: "/auth/users/{id}/",
        status: 200,
        user_id: user.id,
      });
      expect(typeof request.duration_ms).toBe("number");
      // The route is the table's pattern, never the raw path.
      expect(lines.some((l) => l.route === `/auth/users/${user.id}/`)).toBe(false);
      expect(lines.some((l) => l.event === "request" && l.route === "/auth/jwt/create/" && l.status === 429)).toBe(true);
      expect(lines.some((l) => l.event === "throttled" && l.route === "/auth/jwt/create/")).toBe(true);
      expect(lines.some((l) => l.event === "refresh_reuse_detected" && l.user_id === user.id)).toBe(true);
      expect(lines.some((l) => l.event === "login_failed")).toBe(true);
    } finally {
      await app.dispose();
    }
  });

  test("an_email_failure_is_one_named_json_line", async () => {
    const app = await spawnApp();
    try {
      app.mailStatus = 400;
      const name = unique("mailfail");
      expect((await app.register(name, "Sup3r-secret-pw!", `${name}@example.com`)).status).toBe(201);
      await settleLogs();
      const failed = jsonLines(app).filter((l) => l.event === "email_failed");
      expect(failed.length).toBe(1);
      expect(failed[0]).toMatchObject({ level: "error", kind: "activation" });
      expect(app.logs.join("\n")).not.toContain("Sup3r-secret-pw!");
    } finally {
      await app.dispose();
    }
  });
});

describe("configuration errors", () => {
  test("a_bad_setting_is_logged_at_isolate_start_with_every_problem_and_clients_get_the_opaque_500", async () => {
    const app = await spawnApp({ LOGIN_FIELD: "phone", RATE_LIMIT_LOGIN: "lots", DEBUG: "false" });
    try {
      const res = await app.call("/auth/");
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ detail: "A server error occurred." });
      expect(res.text).not.toContain("LOGIN_FIELD");
      await settleLogs();
      const start = jsonLines(app).find((l) => l.event === "config_invalid" && l.at === "isolate_start");
      expect(start.level).toBe("error");
      expect(start.problems.some((p: string) => p.startsWith("LOGIN_FIELD:") && p.includes("phone"))).toBe(true);
      expect(start.problems.some((p: string) => p.startsWith("RATE_LIMIT_LOGIN:"))).toBe(true);
    } finally {
      await app.dispose();
    }
  });

  test("a_local_debug_worker_shows_the_details_to_the_client", async () => {
    const app = await spawnApp({ LOGIN_FIELD: "phone", DEBUG: "true" });
    try {
      const res = await app.call("/auth/");
      expect(res.status).toBe(500);
      expect(res.body.detail).toMatch(/^Service misconfigured: LOGIN_FIELD/);
    } finally {
      await app.dispose();
    }
  });

  test("a_missing_signing_key_is_logged_at_isolate_start", async () => {
    const app = await spawnApp({ SIGNING_KEY: "", DEBUG: "false" });
    try {
      const res = await app.post("/auth/jwt/create/", { username: "a", password: "b" });
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ detail: "A server error occurred." });
      await settleLogs();
      const start = jsonLines(app).find((l) => l.event === "config_invalid" && l.at === "isolate_start");
      expect(start.problems[0]).toMatch(/^SIGNING_KEY: not set/);
    } finally {
      await app.dispose();
    }
  });
});

/** Django's PasswordResetTokenGenerator token for `user` (last_login in unix seconds), made
 * with `secret`. */
function djangoToken(
  secret: string,
  user: { id: number; password: string; email: string; last_login: number | null },
): string {
  const ts = nowSeconds() - 978_307_200;
  // str(last_login.replace(microsecond=0, tzinfo=None)): "YYYY-MM-DD HH:MM:SS".
  const login = user.last_login === null ? "" : new Date(user.last_login * 1000).toISOString().slice(0, 19).replace("T", " ");
  const key = createHash("sha256")
    .update("django.contrib.auth.tokens.PasswordResetTokenGenerator" + secret)
    .digest();
  const hex = createHmac("sha256", key)
    .update(`${user.id}${user.password}${login}${ts}${user.email}`)
    .digest("hex");
  return `${ts.toString(36)}-${[...hex].filter((_, i) => i % 2 === 0).join("")}`;
}

describe("SIGNING_KEY_FALLBACKS", () => {
  const OLD = "old-signing-key-rotated-out-0123456789abcdef";

  /** An active user with its stored hash, and a reset confirmation with a token under `secret`. */
  async function resetWith(app: TestApp, secret: string): Promise<number> {
    const user = await app.createActiveUser();
    const [row] = await app.sql("SELECT password, last_login FROM users WHERE id = ?", user.id);
    const token = djangoToken(secret, { id: user.id, email: user.email, ...row });
    const res = await app.post("/auth/users/reset_password_confirm/", {
      uid: b64url(String(user.id)),
      token,
      new_password: "An0ther-long-password",
    });
    return res.status;
  }

  test("an_emailed_token_made_with_a_fallback_key_still_confirms_and_not_once_it_is_removed", async () => {
    const rotated = await spawnApp({ SIGNING_KEY, SIGNING_KEY_FALLBACKS: `unused-key-0123456789abcdef0123456789, ${OLD}` });
    const removed = await spawnApp({ SIGNING_KEY });
    try {
      expect(await resetWith(rotated, SIGNING_KEY)).toBe(204);
      expect(await resetWith(rotated, OLD)).toBe(204);
      expect(await resetWith(removed, SIGNING_KEY)).toBe(204);
      expect(await resetWith(removed, OLD)).toBe(400);
    } finally {
      await rotated.dispose();
      await removed.dispose();
    }
  });

  hs256Only("a_jwt_signed_with_a_fallback_key_still_authenticates_and_not_once_it_is_removed", async () => {
    const rotated = await spawnApp({ SIGNING_KEY, SIGNING_KEY_FALLBACKS: OLD });
    const removed = await spawnApp({ SIGNING_KEY });
    try {
      for (const [app, expected] of [[rotated, 200], [removed, 401]] as const) {
        const user = await app.createActiveUser();
        const old = mintJwt(claimsFor(user.id, "access"), { key: OLD });
        expect((await app.call("/auth/users/me/", { auth: `Bearer ${old}` })).status).toBe(expected);
        // New tokens are signed with SIGNING_KEY only.
        const pair = await app.jwtCreate(user.username, user.password);
        const [h, p, sig] = pair.access.split(".");
        expect(createHmac("sha256", SIGNING_KEY).update(`${h}.${p}`).digest("base64url")).toBe(sig);
      }
    } finally {
      await rotated.dispose();
      await removed.dispose();
    }
  });
});

describe("npm run deploy", () => {
  const checkBin = join(ROOT, "target", "debug", "check");
  beforeAll(() => {
    execFileSync("cargo", ["build", "--quiet", "--bin", "check"], { cwd: ROOT, stdio: "inherit" });
  }, 600_000);

  /** A stub wrangler that records its arguments, failing when its first args are `failOn`. */
  function stub(dir: string, failOn = ""): { path: string; calls: () => string[] } {
    const log = join(dir, "calls.log");
    const path = join(dir, "wrangler");
    writeFileSync(
      path,
      `#!/usr/bin/env bash\necho "$*" >> "${log}"\n` +
        (failOn ? `case "$*" in "${failOn}"*) exit 7;; esac\n` : "") +
        "exit 0\n",
    );
    chmodSync(path, 0o755);
    return { path, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []) };
  }

  /** The shipped wrangler.toml with its placeholders filled in. */
  function config(dir: string, edit: (text: string) => string = (t) => t): string {
    const text = readFileSync(join(ROOT, "wrangler.toml"), "utf8")
      .replace("00000000-0000-0000-0000-000000000000", "6f1c0a52-1d8e-4c1e-9b7a-2f4e5d6c7b8a")
      .replace("00000000000000000000000000000000", "3b9f6a1c2d4e5f60718293a4b5c6d7e8")
      .replace('"example.com"', '"app.acme-widgets.io"')
      .replace("noreply@example.com", "noreply@acme-widgets.io");
    const path = join(dir, "wrangler.toml");
    writeFileSync(path, edit(text));
    return path;
  }

  function deploy(dir: string, wrangler: string, configPath: string, secrets: string) {
    return spawnSync("bash", [join(ROOT, "scripts", "deploy.sh")], {
      env: { ...process.env, WRANGLER: wrangler, CHECK: checkBin, CHECK_CONFIG: configPath, CHECK_SECRETS: secrets },
      encoding: "utf8",
    });
  }

  test("a_good_configuration_migrates_the_remote_database_then_deploys", () => {
    const dir = mkdtempSync(join(tmpdir(), "deploy-"));
    const wrangler = stub(dir);
    const cfg = config(dir);
    const run = deploy(dir, wrangler.path, cfg, "SIGNING_KEY");
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(wrangler.calls()).toEqual([
      `d1 migrations apply DB --remote --config ${cfg}`,
      `deploy --config ${cfg}`,
    ]);
  });

  test("a_failing_check_runs_no_wrangler_and_names_the_key", () => {
    const dir = mkdtempSync(join(tmpdir(), "deploy-"));
    const wrangler = stub(dir);
    const cfg = config(dir, (t) => t.replace("[vars]", '[vars]\nLOGIN_FIELD = "phone"'));
    const run = deploy(dir, wrangler.path, cfg, "SIGNING_KEY");
    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain('error: LOGIN_FIELD: expected username or email, got "phone"');
    expect(wrangler.calls()).toEqual([]);
    // The shipped file as it is (placeholders) and a missing secret fail the same way.
    const shipped = deploy(dir, wrangler.path, join(ROOT, "wrangler.toml"), "SIGNING_KEY");
    expect(shipped.status).not.toBe(0);
    expect(shipped.stdout).toContain("error: DOMAIN=");
    const good = config(mkdtempSync(join(tmpdir(), "deploy-")));
    const noSecret = deploy(dir, wrangler.path, good, "");
    expect(noSecret.stdout).toContain("error: SIGNING_KEY: secret not set");
    expect(noSecret.status).not.toBe(0);
    expect(wrangler.calls()).toEqual([]);
  });

  test("a_failed_migration_stops_before_deploy", () => {
    const dir = mkdtempSync(join(tmpdir(), "deploy-"));
    const wrangler = stub(dir, "d1 migrations apply");
    const run = deploy(dir, wrangler.path, config(dir), "SIGNING_KEY");
    expect(run.status).toBe(7);
    expect(wrangler.calls().length).toBe(1);
    expect(wrangler.calls()[0]).toMatch(/^d1 migrations apply DB --remote/);
  });
});
