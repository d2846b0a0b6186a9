// Test harness: a fresh Worker under Miniflare per call of spawnApp() (D1 and KV in memory,
// migrations applied), with outgoing e-mail captured from the webhook backend.
import { Miniflare } from "miniflare";
import { expect, test } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash, generateKeyPairSync, randomBytes, sign as cryptoSign } from "node:crypto";
import { documentChecker, OpenApiChecker } from "./openapi-check";

/** TEST_WORKER_LOGS=all: echo every Worker log line, info included. */
const ECHO_ALL = process.env.TEST_WORKER_LOGS === "all";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789abcdef";

// ---- the algorithm under test ---------------------------------------------------------------
// TEST_ALGORITHM=ES256 or EdDSA (scripts/test.sh reruns the JWT specs with each) makes every
// spawnApp() sign with a fresh key of that algorithm, and mintJwt() sign with the same key, so
// the specs run unchanged; a test that is about HS256 itself says so with `hs256Only`.

/** ALGORITHM of every spawned Worker (`HS256` unless TEST_ALGORITHM says otherwise). */
export const TEST_ALGORITHM = process.env.TEST_ALGORITHM ?? "HS256";
if (!["HS256", "ES256", "EdDSA"].includes(TEST_ALGORITHM)) {
  throw new Error(`TEST_ALGORITHM must be HS256, ES256 or EdDSA, got ${TEST_ALGORITHM}`);
}
/** True when the run signs with ES256 or EdDSA. */
export const ASYMMETRIC = TEST_ALGORITHM !== "HS256";

/** A private JWK (Node's export) with its RFC 7638 thumbprint and, for the secret, a state. */
export interface PrivateJwk {
  kty: string;
  crv: string;
  x: string;
  y?: string;
  d: string;
}

/** The RFC 7638 thumbprint of an EC or OKP JWK: the Worker's `kid`. */
export function thumbprint(jwk: PrivateJwk): string {
  const members =
    jwk.kty === "EC"
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

/** A fresh private JWK for `alg` (ES256: P-256; EdDSA: Ed25519). */
export function newPrivateJwk(alg: "ES256" | "EdDSA"): PrivateJwk {
  const pair =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : generateKeyPairSync("ed25519");
  return pair.privateKey.export({ format: "jwk" }) as PrivateJwk;
}

/** JWT_PRIVATE_JWKS for `keys`, each `[jwk, state]`. */
export function jwksSecret(keys: [PrivateJwk, "active" | "standby" | "previous"][]): string {
  return JSON.stringify({ keys: keys.map(([jwk, state]) => ({ ...jwk, state })) });
}

/** The key every spawned Worker signs with in an asymmetric run (one per test process). */
export const TEST_KEY: PrivateJwk | null = ASYMMETRIC
  ? newPrivateJwk(TEST_ALGORITHM as "ES256" | "EdDSA")
  : null;

/** Defines a test only in the runs it is about: it runs (and can fail) there, and the other
 * runs do not define it at all, so no run reports a skipped check. */
function definedWhen(applies: boolean): typeof test {
  const nothing = (() => undefined) as unknown as typeof test;
  return applies ? test : nothing;
}
/** A test about HS256 itself (its exact header, its kid-blind key): defined in the HS256 run;
 * the ES256 and EdDSA reruns have their own counterpart. */
export const hs256Only = definedWhen(!ASYMMETRIC);
/** A test of the asymmetric runs only. */
export const asymmetricOnly = definedWhen(ASYMMETRIC);

/** The bindings that select the algorithm under test. */
function algorithmBindings(): Record<string, string> {
  if (!TEST_KEY) return {};
  return { ALGORITHM: TEST_ALGORITHM, JWT_PRIVATE_JWKS: jwksSecret([[TEST_KEY, "active"]]) };
}

/** Signs `signingInput` with a private JWK as a JWS does (ES256: raw r||s; EdDSA: Ed25519). */
export function signWithJwk(jwk: PrivateJwk, signingInput: string): string {
  const key = { key: jwk as any, format: "jwk" as const };
  const signature =
    jwk.kty === "EC"
      ? cryptoSign("sha256", Buffer.from(signingInput), { ...key, dsaEncoding: "ieee-p1363" })
      : cryptoSign(null, Buffer.from(signingInput), key);
  return signature.toString("base64url");
}
const WEBHOOK = "http://mail.test/send";

export interface Email {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string | null;
  kind: string;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // Parsed JSON body, or undefined when the body is empty or not JSON.
  body: any;
}

export interface CallOptions {
  method?: string;
  json?: unknown;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  auth?: string;
}

/** The shipped wrangler.toml [vars] with the development values `npm run dev` writes (http links
 * to localhost:3000); each test file chooses its mail backend below. */
const DEV_VARS: Record<string, string> = {
  SEND_ACTIVATION_EMAIL: "true",
  SEND_CONFIRMATION_EMAIL: "true",
  PASSWORD_CHANGED_EMAIL_CONFIRMATION: "true",
  USERNAME_CHANGED_EMAIL_CONFIRMATION: "true",
  ACTIVATION_URL: "activate/{uid}/{token}",
  PASSWORD_RESET_CONFIRM_URL: "password/reset/confirm/{uid}/{token}",
  USERNAME_RESET_CONFIRM_URL: "username/reset/confirm/{uid}/{token}",
  ROTATE_REFRESH_TOKENS: "true",
  BLACKLIST_AFTER_ROTATION: "true",
  DOMAIN: "localhost:3000",
  SITE_NAME: "Djoser Reference",
  PROTOCOL: "http",
  // `npm run dev` marks the Worker local: configuration errors are shown to the client too.
  DEBUG: "true",
};

function migrationStatements(): string[] {
  const dir = join(ROOT, "migrations");
  const statements: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = readFileSync(join(dir, file), "utf8")
      .split("\n")
      .map((line) => line.replace(/--.*$/, ""))
      .join("\n");
    for (const stmt of sql.split(";")) {
      if (stmt.trim()) statements.push(stmt.trim());
    }
  }
  return statements;
}

let counter = 0;
/** A name no other test in the run uses. */
export function unique(prefix = "user"): string {
  counter += 1;
  return `${prefix}${process.pid}x${counter}${randomBytes(2).toString("hex")}`;
}

export class TestApp {
  readonly emails: Email[] = [];
  /** When set, the mail webhook answers this status (to simulate a provider outage). */
  mailStatus = 200;
  /** When set, the mail webhook takes this long to answer (a slow provider). */
  mailDelayMs = 0;
  /** URLs of every outbound fetch other than the mail webhook (the Worker should make none). */
  readonly outbound: string[] = [];
  /** Every outbound request with its headers and body, the mail webhook's included. */
  readonly outboundRequests: { url: string; headers: Record<string, string>; body: string }[] = [];
  /** Outbound URLs other than the mail webhook that answer a status of their own (a test's
   * receiver, e.g. the events webhook) instead of the 599 "no network" answer. */
  readonly receivers = new Map<string, number>();
  /** Origins (`http://127.0.0.1:PORT`) whose requests go to the real network: servers a test
   * runs on 127.0.0.1 (the social sign-in providers). */
  readonly forwarded = new Set<string>();
  /** Lines the Worker wrote to stdout/stderr (console_log!/console_error!), also echoed as usual. */
  readonly logs: string[] = [];

  /** Outbound requests the Worker has started and not yet seen answered. */
  inflight = 0;
  /** Bumped on every outbound request, so a settle can tell quiet from busy. */
  outboundEvents = 0;

  constructor(readonly mf: Miniflare) {}

  /**
   * Waits until the Worker's work after the response (e-mail sent with ctx.waitUntil) is done:
   * no outbound request in flight and none started for a few ticks.
   */
  async settle(): Promise<void> {
    const deadline = Date.now() + 5000;
    let quiet = 0;
    let seen = this.outboundEvents;
    while (quiet < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      if (this.inflight === 0 && this.outboundEvents === seen) quiet += 1;
      else quiet = 0;
      seen = this.outboundEvents;
    }
  }

  private served?: Promise<OpenApiChecker>;
  /** The checker of the document this Worker serves (fetched once; the shipped file when the
   * Worker cannot serve it, e.g. under a broken configuration). */
  checker(): Promise<OpenApiChecker> {
    this.served ??= (async () => {
      const res = await this.mf.dispatchFetch("http://localhost/auth/schema/");
      const text = await res.text();
      return res.status === 200 ? documentChecker(text) : documentChecker();
    })();
    return this.served;
  }

  async call(path: string, opts: CallOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    let body: string | Uint8Array | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["Content-Type"] ??= "application/json";
    }
    if (opts.auth) headers["Authorization"] = opts.auth;
    const method = opts.method ?? (body !== undefined ? "POST" : "GET");
    const res = await this.mf.dispatchFetch(`http://localhost${path}`, {
      method,
      headers,
      body: method === "GET" || method === "HEAD" ? undefined : body,
      redirect: "manual",
    });
    const text = await res.text();
    // Only the users routes send e-mail, after answering; wait for it so tests can read it.
    if (method !== "GET" && method !== "HEAD" && path.startsWith("/auth/users")) await this.settle();
    let parsed: any = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    // Every answer must be one the OpenAPI document describes (tests/openapi-check.ts): the one
    // this Worker serves, which carries the operator's user fields when it has any.
    (await this.checker()).check({ method, path, status: res.status, headers: res.headers, text });
    return { status: res.status, headers: res.headers, text, body: parsed };
  }

  post(path: string, json: unknown, opts: CallOptions = {}): Promise<Reply> {
    return this.call(path, { ...opts, method: opts.method ?? "POST", json });
  }

  /** E-mails sent to `to`, oldest first. */
  emailsTo(to: string): Email[] {
    return this.emails.filter((e) => e.to.includes(to));
  }

  /** uid and token from the newest e-mail to `to` that carries a link. */
  lastLink(to: string): { uid: string; token: string; url: string } {
    const mails = this.emailsTo(to).filter((e) => /\/[^/\s]+\/[0-9a-z]+-[0-9a-f]+/.test(e.text));
    const mail = mails[mails.length - 1];
    if (!mail) throw new Error(`no e-mail with a link to ${to}`);
    const m = mail.text.match(/(https?:\/\/\S+\/([^/\s]+)\/([0-9a-z]+-[0-9a-f]+))/);
    if (!m) throw new Error(`no link in e-mail: ${mail.text}`);
    return { url: m[1], uid: m[2], token: m[3] };
  }

  async register(username: string, password: string, email: string): Promise<Reply> {
    return this.post("/auth/users/", { username, password, email });
  }

  /** Registers and activates a user through the e-mailed link; returns its credentials and id. */
  async createActiveUser(
    opts: { username?: string; password?: string; email?: string } = {},
  ): Promise<{ id: number; username: string; password: string; email: string }> {
    const username = opts.username ?? unique();
    const password = opts.password ?? `Pw-${randomBytes(6).toString("hex")}`;
    const email = opts.email ?? `${username}@example.com`;
    const reg = await this.register(username, password, email);
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.text}`);
    const { uid, token } = this.lastLink(email);
    const act = await this.post("/auth/users/activation/", { uid, token });
    if (act.status !== 204) throw new Error(`activate: ${act.status} ${act.text}`);
    return { id: reg.body.id, username, password, email };
  }

  async jwtCreate(username: string, password: string): Promise<{ access: string; refresh: string }> {
    const res = await this.post("/auth/jwt/create/", { username, password });
    if (res.status !== 200) throw new Error(`jwt/create: ${res.status} ${res.text}`);
    return res.body;
  }

  async loginToken(username: string, password: string): Promise<string> {
    const res = await this.post("/auth/token/login/", { username, password });
    if (res.status !== 200) throw new Error(`token/login: ${res.status} ${res.text}`);
    return res.body.auth_token;
  }

  /** Runs SQL against the Worker's D1 (for arranging state and sabotage tests). */
  async sql(query: string, ...params: unknown[]): Promise<any[]> {
    const db = await this.mf.getD1Database("DB");
    const res = await db.prepare(query).bind(...params).all();
    return res.results as any[];
  }

  async dispose(): Promise<void> {
    await this.mf.dispose();
  }
}

/** The database id of wrangler.toml's DB binding: wrangler's local D1 files are named after it. */
export const WRANGLER_DB_ID = "00000000-0000-0000-0000-000000000000";

/**
 * Starts the built Worker with the shipped configuration plus `vars`. With `localD1: DIR` its D1
 * is the one `wrangler d1 execute --local --persist-to DIR` writes (migrated only when `migrate`
 * says so) instead of a fresh one in memory.
 */
export async function spawnApp(
  vars: Record<string, string> = {},
  /** Extra Miniflare options (e.g. a send_email binding). */
  options: Record<string, unknown> & { localD1?: string; migrate?: boolean } = {},
): Promise<TestApp> {
  let app: TestApp;
  const { localD1, migrate, ...extra } = options;
  const mf = new Miniflare({
    ...(extra as object),
    modules: true,
    scriptPath: join(ROOT, "build/index.js"),
    modulesRoot: join(ROOT, "build"),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-04-01",
    d1Databases: localD1 ? { DB: WRANGLER_DB_ID } : ["DB"],
    // TEST_NO_KV=1 leaves the AUTH_KV binding out, to test a KV outage (security-faults).
    kvNamespaces: vars.TEST_NO_KV ? [] : ["AUTH_KV"],
    d1Persist: localD1 ? join(localD1, "v3", "d1") : false,
    kvPersist: false,
    cf: false,
    bindings: {
      ...DEV_VARS,
      SIGNING_KEY,
      ...algorithmBindings(),
      EMAIL_BACKEND: "webhook",
      EMAIL_WEBHOOK_URL: WEBHOOK,
      // Cheap argon2 keeps the suite fast; the cost itself is covered by host tests and the bench.
      ARGON2_MEMORY_KIB: "256",
      ARGON2_ITERATIONS: "1",
      RATE_LIMITS: "off",
      ...vars,
    },
    handleRuntimeStdio: (stdout, stderr) => {
      for (const [stream, sink] of [[stdout, process.stdout], [stderr, process.stderr]] as const) {
        stream.on("data", (chunk: Buffer) => {
          const lines = chunk.toString("utf8").split("\n").filter((l) => l.trim());
          app?.logs.push(...lines);
          // Every line is kept in app.logs; the terminal gets all but the Worker's info lines
          // (one a request), unless TEST_WORKER_LOGS=all asks for those too.
          for (const line of lines) if (ECHO_ALL || !/^\{"event":"[a-z_]+","level":"info"/.test(line)) sink.write(line + "\n");
        });
      }
    },
    outboundService: async (req: Request) => {
      app.inflight += 1;
      app.outboundEvents += 1;
      try {
        const body = await req.text();
        app.outboundRequests.push({ url: req.url, headers: Object.fromEntries(req.headers), body });
        if (req.url === WEBHOOK) {
          if (app.mailDelayMs > 0) await new Promise((r) => setTimeout(r, app.mailDelayMs));
          app.emails.push(JSON.parse(body) as Email);
          return new Response("{}", { status: app.mailStatus });
        }
        const status = app.receivers.get(req.url);
        if (status !== undefined) return new Response(null, { status });
        if (app.forwarded.has(new URL(req.url).origin)) {
          const bodyless = req.method === "GET" || req.method === "HEAD";
          return await fetch(req.url, { method: req.method, headers: req.headers, body: bodyless ? undefined : body, redirect: "manual" });
        }
        app.outbound.push(req.url);
        return new Response("no network in tests", { status: 599 });
      } finally {
        app.inflight -= 1;
        app.outboundEvents += 1;
      }
    },
  });
  app = new TestApp(mf);
  if (migrate ?? !localD1) {
    // One batch: one call through Miniflare's synchronous proxy instead of one a statement
    // (a run of them once lost an answer under load: miniflare's "message?.id === id" assertion).
    const db = await mf.getD1Database("DB");
    await db.batch(migrationStatements().map((stmt) => db.prepare(stmt)));
  }
  return app;
}

/** Sorted keys of a JSON object, for exact-key-set assertions. */
export function keys(obj: unknown): string[] {
  return Object.keys(obj as object).sort();
}

// ---- JWT and KV tools for the token tests: decode our tokens, mint our own with SIGNING_KEY. ----
import { createHmac } from "node:crypto";


/** base64url without padding, as JWTs use it. */
export function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** The three parts of a compact JWT, with the header and payload parsed (no signature check). */
export function decodeJwt(token: string): { header: any; payload: any; signature: string } {
  const [h, p, s] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")),
    payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")),
    signature: s,
  };
}

/** Current Unix seconds on the test machine (the Worker under Miniflare shares the clock). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** 32 lowercase hex characters, like simplejwt's `uuid4().hex`. */
export function newJti(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Signs a JWT as the Worker under test would. `header` and `payload` may be objects or raw JSON
 * text (for duplicate keys and other malformed cases). With HS256 (or a header naming another
 * algorithm, or an explicit HMAC `key`) the signature is HMAC-SHA256 with `key`, by default the
 * test SIGNING_KEY. In an asymmetric run the default header is `{alg, typ, kid}` of TEST_KEY and a
 * header naming TEST_ALGORITHM is signed with TEST_KEY (or `jwk`), so a test's token means the
 * same under every algorithm.
 */
export function mintJwt(
  payload: object | string,
  opts: { header?: object | string; key?: string; jwk?: PrivateJwk } = {},
): string {
  const signer = opts.jwk ?? TEST_KEY;
  const header =
    opts.header ??
    (signer && opts.key === undefined
      ? { alg: TEST_ALGORITHM, typ: "JWT", kid: thumbprint(signer) }
      : { alg: "HS256", typ: "JWT" });
  const headerText = typeof header === "string" ? header : JSON.stringify(header);
  const h = b64url(headerText);
  const p = b64url(typeof payload === "string" ? payload : JSON.stringify(payload));
  let alg: unknown;
  try {
    alg = JSON.parse(headerText)?.alg;
  } catch {
    alg = undefined;
  }
  if (signer && opts.key === undefined && (alg === "ES256" || alg === "EdDSA")) {
    return `${h}.${p}.${signWithJwk(signer, `${h}.${p}`)}`;
  }
  const sig = createHmac("sha256", opts.key ?? SIGNING_KEY).update(`${h}.${p}`).digest("base64url");
  return `${h}.${p}.${sig}`;
}

/** simplejwt's claims for `userId` of `type`, issued now; `extra` overrides or adds claims
 * (a claim set to undefined is left out). */
export function claimsFor(
  userId: number | string,
  type: "access" | "refresh",
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = nowSeconds();
  const claims: Record<string, unknown> = {
    token_type: type,
    exp: now + (type === "access" ? 300 : 86400),
    iat: now,
    jti: newJti(),
    user_id: String(userId),
    ...extra,
  };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  return claims;
}

/** The session index record the Worker keeps in AUTH_KV for a user's session (null when absent). */
export async function sessionRecord(app: TestApp, userId: number | string, sid: string): Promise<any> {
  const kv = await app.mf.getKVNamespace("AUTH_KV");
  return kv.get(`session:${userId}:${sid}`, "json");
}

/** Every session id the index holds for a user. */
export async function sessionIds(app: TestApp, userId: number | string): Promise<string[]> {
  const kv = await app.mf.getKVNamespace("AUTH_KV");
  const page = await kv.list({ prefix: `session:${userId}:` });
  return page.keys.map((k) => k.name.slice(`session:${userId}:`.length)).sort();
}

/** Sleeps until the wall clock enters the next whole second (token times are in seconds). */
export async function nextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
}

/** An active user with a fresh JWT pair, as the user endpoints' specs need one. */
export interface SignedInUser {
  id: number;
  username: string;
  password: string;
  email: string;
  access: string;
  refresh: string;
  /** `Bearer <access>`, ready for the Authorization header. */
  auth: string;
}

/** Registers, activates and logs in a user. */
export async function signedIn(
  app: TestApp,
  opts: { username?: string; password?: string; email?: string } = {},
): Promise<SignedInUser> {
  const u = await app.createActiveUser(opts);
  const { access, refresh } = await app.jwtCreate(u.username, u.password);
  return { ...u, access, refresh, auth: `Bearer ${access}` };
}

/** A djoser 204: no body and no Content-Type. */
export function expectNoContent(res: Reply): void {
  expect(res.status).toBe(204);
  expect(res.text).toBe("");
  expect(res.headers.get("content-type")).toBeNull();
}

// ---- TOTP (RFC 6238) computed independently of the Worker, for the two-factor tests ----------
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/** RFC 4648 base32 (upper case, no padding) to bytes. */
export function base32Decode(text: string): Buffer {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text.replace(/=+$/, "")) {
    const i = ALPHABET.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The TOTP code of `secret` (base32) for the step `offset` steps from now. */
export function totp(secret: string, offset = 0): string {
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const at = mac[19] & 15;
  const value = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}

// ---- query plans: the statements a Worker with SQL_TRACE=true logged, and their full scans. ----

/** The distinct SQL statements `app` logged as `sql_trace` events. */
export function tracedStatements(app: TestApp): string[] {
  const out = new Set<string>();
  for (const line of app.logs) {
    if (!line.startsWith("{")) continue;
    const parsed = JSON.parse(line);
    if (parsed.event === "sql_trace") out.add(parsed.sql);
  }
  return [...out];
}

/** Each full table scan in the `EXPLAIN QUERY PLAN` of `statements` (parameters bound to NULL),
 * as "SCAN t\n    in: <sql>", except statements `allowed` matches. "SCAN t" reads every row of
 * t; "SCAN t USING [COVERING] INDEX" and "SEARCH" do not. */
export async function fullScans(app: TestApp, statements: string[], allowed: RegExp[] = []): Promise<string[]> {
  const db = await app.mf.getD1Database("DB");
  const scans: string[] = [];
  for (const sql of statements) {
    const params = new Set([...sql.matchAll(/\?(\d+)/g)].map((m) => Number(m[1])));
    const count = params.size ? Math.max(...params) : (sql.match(/\?/g) ?? []).length;
    const plan = await db.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...Array(count).fill(null)).all();
    for (const row of plan.results as any[]) {
      const detail = String(row.detail);
      if (/^SCAN \w+( AS \w+)?$/.test(detail) && !allowed.some((re) => re.test(sql))) {
        scans.push(`${detail}\n    in: ${sql}`);
      }
    }
  }
  return scans;
}
