// A seeded request fuzzer (issue 5 "Attack test suite"): random paths, methods, headers and bodies
// at every endpoint. Whatever arrives, the answer is never a 5xx, always JSON (or an empty 204 /
// HEAD), a djoser-shaped body for every 4xx, and the Worker never panics. The PRNG is
// deterministic: a failure names its seed and request number, and FUZZ_SEED=<n> replays it.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Reply, spawnApp, TestApp } from "./helpers";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);

/** mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

class Fuzz {
  constructor(readonly rand: () => number) {}
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.rand() < p;
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
  /** A string from a hostile alphabet: ASCII, controls, NUL, Unicode, astral, look-alikes. */
  text(max: number): string {
    const pools = [
      "abcdefghijklmnopqrstuvwxyz0123456789",
      "@.+-_ ",
      "\u0000\u0001\t\n\r\u007f",
      "\"'\\/{}[]:,=&%;<>",
      "éüßİıſ\u212a\u0430\u0435\u200b\u200e\ufeff",
      "日本語😀𝔘",
    ];
    let out = "";
    const len = this.int(max + 1);
    for (let i = 0; i < len; i += 1) {
      const pool = this.pick(pools);
      out += [...pool][this.int([...pool].length)];
    }
    return out;
  }
}

const FIELDS = [
  "username", "password", "email", "uid", "token", "new_password", "re_new_password",
  "current_password", "new_username", "re_new_username", "refresh", "re_password", "id",
  "is_staff", "first_name", "last_name", "user_id", "__proto__", "constructor", "",
  "code", "ephemeral_token", "token_status",
  "display_name", "clientData", "attObj", "authData", "signature", "name",
];

function jsonValue(f: Fuzz, depth: number): unknown {
  const kind = f.int(depth > 3 ? 6 : 9);
  switch (kind) {
    case 0: return null;
    case 1: return f.chance(0.5);
    case 2: return f.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 12345678901, -9_223_372_036_854_775_808]);
    case 3: return f.text(40);
    case 4: return f.chance(0.1) ? "x".repeat(f.int(20_000)) : f.text(8);
    case 5: return f.pick(["MQ", "abc-def", "Sup3r-secret-pw!", "a@example.com", "eyJhbGciOiJub25lIn0.e30.", ""]);
    case 6: return Array.from({ length: f.int(4) }, () => jsonValue(f, depth + 1));
    default: {
      const obj: Record<string, unknown> = {};
      for (let i = f.int(5); i > 0; i -= 1) obj[f.chance(0.7) ? f.pick(FIELDS) : f.text(6)] = jsonValue(f, depth + 1);
      return obj;
    }
  }
}

interface Req {
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

function generate(f: Fuzz, ctx: { meId: number; bearer: string }): Req {
  const routes = [
    "/auth/", "/auth/users/", "/auth/users/me/", `/auth/users/${ctx.meId}/`, "/auth/users/2/",
    "/auth/users/activation/", "/auth/users/confirm/", "/auth/users/resend_activation/",
    "/auth/users/set_password/", "/auth/users/reset_password/", "/auth/users/reset_password_confirm/",
    "/auth/users/set_username/", "/auth/users/reset_username/", "/auth/users/reset_username_confirm/",
    "/auth/jwt/create/", "/auth/jwt/refresh/", "/auth/jwt/verify/", "/auth/jwt/blacklist/",
    "/auth/token/login/", "/auth/token/logout/",
    // Added since: sessions, the event log, e-mail change links, two-factor sign-in, the JWK Set.
    // (revoke_all would end the fuzzer's own session; the schema and docs are static documents.)
    "/auth/sessions/", "/auth/sessions/revoke_others/", "/auth/sessions/x1/", "/auth/users/me/events/",
    "/auth/users/email_change_confirm/", "/auth/users/email_change_cancel/", "/auth/jwt/logout/",
    "/auth/mfa/", "/auth/mfa/totp/activate/", "/auth/mfa/totp/activate/confirm/", "/auth/mfa/totp/deactivate/",
    "/auth/mfa/backup_codes/regenerate/", "/auth/mfa/login/", "/auth/jwks/",
    // Passkeys (turned on below).
    "/auth/webauthn/signup_request/", "/auth/webauthn/signup/x1/", "/auth/webauthn/login_request/",
    "/auth/webauthn/login/", "/auth/webauthn/credentials/", "/auth/webauthn/credentials/1/",
  ];
  let path = f.pick(routes);
  switch (f.int(10)) {
    case 0: path = path.replace(/\/$/, ""); break;
    case 1: path += encodeURIComponent(f.text(6)); break;
    case 2: path = path.replace("/auth/", "/auth//"); break;
    case 3: path += `?${encodeURIComponent(f.text(5))}=${encodeURIComponent(f.text(5))}`; break;
    case 4: path = path.toUpperCase(); break;
    case 5: path = `/auth/users/${encodeURIComponent(f.text(12)) || "x"}/`; break;
    default: break;
  }
  const method = f.pick(["POST", "POST", "POST", "GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]);
  const headers: Record<string, string> = {};
  const ctype = f.pick([
    "application/json", "application/json", "application/json", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ", "multipart/form-data", "text/plain", "", "application/json; charset=utf-16",
    "APPLICATION/JSON", "application/xml", "*/*",
  ]);
  if (ctype) headers["Content-Type"] = ctype;
  const jwtLike = () => {
    const parts = ctx.bearer.slice(7).split(".");
    const i = f.int(3);
    const chars = [...parts[i]];
    if (chars.length) chars[f.int(chars.length)] = f.pick([..."AZaz09-_+/=."]);
    parts[i] = chars.join("");
    return parts.join(".");
  };
  // Header values stay printable ASCII: anything else never gets past an HTTP client or the edge.
  const headerText = (n: number) => f.text(n).replace(/[^\x20-\x7e]/g, "");
  switch (f.int(8)) {
    case 0:
    case 1:
    case 2: headers.Authorization = ctx.bearer; break;
    case 3: headers.Authorization = `Bearer ${jwtLike()}`; break;
    case 4: headers.Authorization = `${f.pick(["Bearer", "JWT", "Token", "token", "Basic", "bearer"])} ${headerText(30)}`; break;
    case 5: headers.Authorization = f.pick(["Bearer", "Token", "JWT a b", " ", "Token a b c"]); break;
    default: break;
  }
  if (f.chance(0.3)) headers.Origin = f.pick(["https://app.example.com", "https://evil.test", "null"]);
  if (f.chance(0.3)) headers["Access-Control-Request-Method"] = f.pick(["POST", "DELETE", "FOO"]);
  if (f.chance(0.5)) headers["CF-Connecting-IP"] = f.pick([`10.0.${f.int(4)}.${f.int(4)}`, `2001:db8::${f.int(9)}`, "garbage", ""]);
  if (f.chance(0.2)) headers.Accept = f.pick(["text/html", "application/json", "*/*", "application/xml"]);

  let body: string | Uint8Array | undefined;
  switch (f.int(9)) {
    case 0: body = undefined; break;
    case 1: body = f.bytes(f.int(600)); break;
    case 2: {
      const doc = JSON.stringify(jsonValue(f, 0));
      body = doc.slice(0, f.int(doc.length + 1));
      break;
    }
    case 3: body = Array.from({ length: f.int(5) }, () => `${encodeURIComponent(f.pick(FIELDS))}=${f.chance(0.3) ? "%" + f.text(2) : encodeURIComponent(f.text(10))}`).join("&"); break;
    case 4: body = `--XyZ\r\nContent-Disposition: form-data; name="${f.pick(FIELDS)}"\r\n\r\n${f.text(10)}\r\n--XyZ${f.chance(0.5) ? "--" : ""}\r\n`; break;
    case 5: body = `{"${f.pick(FIELDS)}":"\\u${f.pick(["d800", "dfff", "0000", "zzzz", "00e9"])}"}`; break;
    default: body = JSON.stringify(jsonValue(f, 0) ?? null);
  }
  return { path, method, headers, body };
}

/** True for djoser's error shapes: {"detail"} with at most "code" and "messages" beside it, an
 * object of string lists (field errors and non_field_errors), or the one body djoser's webauthn
 * views write by hand, with a string where DRF puts a list. */
function djoserShaped(body: unknown): boolean {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  const obj = body as Record<string, unknown>;
  if (JSON.stringify(obj) === '{"non_field_errors":"WebAuthn verification failed."}') return true;
  if (typeof obj.detail === "string") return Object.keys(obj).every((k) => ["detail", "code", "messages"].includes(k));
  return Object.values(obj).every((v) => Array.isArray(v) && v.every((m) => typeof m === "string"));
}

async function send(app: TestApp, r: Req): Promise<Reply> {
  return app.call(r.path, { method: r.method, headers: r.headers, body: r.body });
}

async function campaign(app: TestApp, seed: number, count: number, ctx: { meId: number; bearer: string }): Promise<Map<number, number>> {
  const f = new Fuzz(prng(seed));
  const statuses = new Map<number, number>();
  for (let i = 0; i < count; i += 1) {
    const req = generate(f, ctx);
    const label = `seed ${seed} #${i}: ${req.method} ${req.path} ${JSON.stringify(req.headers).slice(0, 200)}`;
    let res: Reply;
    try {
      res = await send(app, req);
    } catch (e) {
      const cause = String((e as { cause?: unknown }).cause ?? e);
      throw new Error(`${label}: ${e} (${cause}) body ${JSON.stringify(String(req.body ?? "")).slice(0, 200)}`);
    }
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    expect(res.status, `${label} -> ${res.text.slice(0, 300)}`).toBeLessThan(500);
    if (res.status === 204 || req.method === "HEAD") {
      expect(res.text, label).toBe("");
      continue;
    }
    expect(res.headers.get("content-type"), label).toBe("application/json");
    expect(res.body, `${label} -> ${res.text.slice(0, 300)}`).toBeDefined();
    if (res.status >= 400) expect(djoserShaped(res.body), `${label} -> ${res.text.slice(0, 300)}`).toBe(true);
    expect(res.headers.get("x-content-type-options"), label).toBe("nosniff");
  }
  return statuses;
}

describe("request fuzzer", () => {
  let app: TestApp;
  let ctx: { meId: number; bearer: string };
  beforeAll(async () => {
    app = await spawnApp({ CORS_ALLOWED_ORIGINS: "https://app.example.com", WEBAUTHN_RP_ID: "localhost" });
    const me = await app.createActiveUser();
    ctx = { meId: me.id, bearer: `Bearer ${(await app.jwtCreate(me.username, me.password)).access}` };
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("two_thousand_random_requests_get_no_5xx_and_a_json_answer", { timeout: 180_000 }, async () => {
    const statuses = await campaign(app, SEED, 2000, ctx);
    console.log(`[security-fuzz] seed ${SEED}: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    // The campaign reached the handlers, not just the router.
    for (const s of [200, 400, 401, 404, 405, 415]) expect(statuses.get(s) ?? 0, `status ${s}`).toBeGreaterThan(0);
    // And the instance is alive and well.
    expect((await app.call("/auth/")).status).toBe(200);
    expect(app.logs.join("\n")).not.toMatch(/panicked|RuntimeError|unreachable/);
  });

  test("a_thousand_random_requests_with_rate_limits_on_get_no_5xx", { timeout: 180_000 }, async () => {
    const limited = await spawnApp({ RATE_LIMITS: "on", RATE_LIMIT_LOGIN: "1/86400", RATE_LIMIT_EMAIL: "1/86400", RATE_LIMIT_CONFIRM: "1/86400", RATE_LIMIT_REGISTER: "1/86400" });
    try {
      const me = await limited.createActiveUser();
      const c = { meId: me.id, bearer: `Bearer ${(await limited.jwtCreate(me.username, me.password)).access}` };
      const statuses = await campaign(limited, SEED + 1, 1000, c);
      console.log(`[security-fuzz] seed ${SEED + 1} (rate limits on): statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
      expect(statuses.get(429) ?? 0).toBeGreaterThan(0);
      expect((await limited.call("/auth/")).status).toBe(200);
    } finally {
      await limited.dispose();
    }
  });
});
