// `npm run bench` (through scripts/bench.sh, which builds what this needs first).
//
// Serves three targets side by side on 127.0.0.1 and loads them in interleaved rounds:
//   project: build/ (the service) under plain Miniflare, shipped vars + RATE_LIMITS=off;
//   bare:    bench/bare/build/ (a hello-world Rust Worker, same toolchain) served the same way;
//            also as each endpoint's "I/O twin": same request, body read, same D1/KV calls, no work;
//   djoser:  the real djoser, from bench/djoser/ (its run.sh: gunicorn with 2 sync workers, sqlite);
//   better-auth: the peer from the edge, bench/better-auth/ under the same workerd (bench/peer.mjs).
// Before that it counts each endpoint's D1/KV round trips on a separate, instrumented instance.
// Then prints one markdown report (throughput, latency, ratios, argon2 in workerd vs native, time
// per login, .wasm size, startup time, storage round trips per endpoint, budgets) and writes it to
// bench/out/latest.md (with the raw figures in bench/out/latest.json).
//
// Knobs (environment): BENCH_DURATION seconds per run (5), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (10), BENCH_DJOSER=off to skip djoser, DJOSER_REFERENCE (another script to
// serve djoser in place of bench/djoser/run.sh, called the same way: see startDjoser),
// BENCH_BETTER_AUTH=off to skip better-auth (otherwise the bench fails when it cannot run it).
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { closedLoop } from "./load.mjs";
import { discardOutput } from "./worker.mjs";
import { childPids, cpuMeter } from "./proc.mjs";
import { median } from "./stats.mjs";
import { WITH_BETTER_AUTH, peerReport, peerRound, startPeer } from "./peer.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, "..");
const OUT = join(BENCH, "out");

const envNumber = (name, fallback, min, max) => {
  const n = Number(process.env[name] ?? fallback);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
};
const DURATION = envNumber("BENCH_DURATION", 5, 1, 60);
const ROUNDS = Math.round(envNumber("BENCH_ROUNDS", 3, 1, 9));
const CONNECTIONS = Math.round(envNumber("BENCH_CONNECTIONS", 10, 1, 100));
const WITH_DJOSER = process.env.BENCH_DJOSER !== "off";
const REFERENCE = process.env.DJOSER_REFERENCE ?? join(BENCH, "djoser", "run.sh");
const PROBES = 15; // sequential requests per latency probe and round
const NATIVE_RUNS = 15; // native argon2 hashes per profile and round
const ARGON2 = { m: 19456, t: 2, p: 1 }; // the service's default (OWASP)
const WASM_GZIP_BUDGET = 600_000; // bytes ("600 KB", read strictly)

const log = (...a) => console.error("[bench]", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- configuration shared by every workerd instance --------------------------------------

/** The [vars] of wrangler.toml and its compatibility_date, so the bench runs the shipped config. */
function shippedConfig() {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const date = toml.match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1] ?? "2026-04-01";
  const vars = {};
  let inVars = false;
  for (const line of toml.split("\n")) {
    const section = line.match(/^\s*\[+([^\]]+)\]+/);
    if (section) inVars = section[1].trim() === "vars";
    const kv = inVars && line.match(/^\s*([A-Z0-9_]+)\s*=\s*"([^"]*)"/);
    if (kv) vars[kv[1]] = kv[2];
  }
  return { date, vars };
}
const SHIPPED = shippedConfig();
const SIGNING_KEY = "bench-signing-key-0123456789abcdef0123456789abcd"; // 48 bytes

function projectBindings(extra = {}) {
  return {
    ...SHIPPED.vars,
    SIGNING_KEY,
    EMAIL_BACKEND: "console",
    RATE_LIMITS: "off",
    ...extra,
  };
}

const drain = discardOutput;

function workerOptions(dir, bindings, extra = {}) {
  return {
    modules: true,
    scriptPath: join(dir, "index.js"),
    modulesRoot: dir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: SHIPPED.date,
    d1Databases: ["DB"],
    kvNamespaces: ["AUTH_KV"],
    d1Persist: false,
    kvPersist: false,
    cf: false,
    host: "127.0.0.1",
    port: 0,
    bindings,
    // The console e-mail backend logs every registration; keep it off the report.
    handleRuntimeStdio: drain,
    ...extra,
  };
}

function migrationStatements() {
  const dir = join(ROOT, "migrations");
  const statements = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = readFileSync(join(dir, file), "utf8")
      .split("\n")
      .map((line) => line.replace(/--.*$/, ""))
      .join("\n");
    for (const stmt of sql.split(";")) if (stmt.trim()) statements.push(stmt.trim());
  }
  return statements;
}

async function migrate(mf) {
  const db = await mf.getD1Database("DB");
  for (const stmt of migrationStatements()) await db.prepare(stmt).run();
}

/** Starts a Worker; `ms` is Miniflare construction to the first 200 on `path`. */
async function startWorker(dir, bindings, path, extra = {}) {
  const t0 = performance.now();
  const mf = new Miniflare(workerOptions(dir, bindings, extra));
  const url = await mf.ready;
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(new URL(path, url));
      await res.arrayBuffer();
      if (res.status === 200) {
        return { mf, base: url.origin, ms: performance.now() - t0 };
      }
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  await mf.dispose();
  throw new Error(`${dir}: no 200 on ${path}`);
}

// ---- HTTP helpers -----------------------------------------------------------------------

const JSON_HEADERS = { "content-type": "application/json" };

async function call(base, method, path, { json, auth } = {}) {
  const headers = {};
  if (json !== undefined) headers["content-type"] = "application/json";
  if (auth) headers.authorization = `Bearer ${auth}`;
  const res = await fetch(base + path, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
    redirect: "manual",
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}

async function mustCall(base, method, path, opts, expected) {
  const res = await call(base, method, path, opts);
  if (res.status !== expected) {
    throw new Error(`${method} ${base}${path}: ${res.status} ${res.text.slice(0, 300)}`);
  }
  return res;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

// ---- server CPU time: bench/proc.mjs ------------------------------------------------------

/** Starts a Worker and finds the workerd process Miniflare spawned for it. */
async function startMeasuredWorker(dir, bindings, path, extra = {}) {
  const before = new Set(childPids(process.pid, "workerd"));
  const w = await startWorker(dir, bindings, path, extra);
  const mine = childPids(process.pid, "workerd").filter((pid) => !before.has(pid));
  w.cpu = mine.length === 1 ? cpuMeter(() => mine) : null;
  return w;
}

// ---- the real djoser ---------------------------------------------------------------------

let djoserChild = null;
let djoserRunDir = null;

/**
 * Runs `bash REFERENCE PORT` (bench/djoser/run.sh by default), which must serve djoser on
 * 127.0.0.1:PORT in the foreground as one process (gunicorn's master, exec'd) and write every
 * e-mail as a file into `$BENCH_DJOSER_STATE/emails/`. The state folder is made here and removed
 * when djoser stops.
 */
async function startDjoser() {
  if (!existsSync(REFERENCE)) throw new Error(`no djoser server script at ${REFERENCE}`);
  const port = await freePort();
  djoserRunDir = mkdtempSync(join(os.tmpdir(), "bench-djoser-"));
  djoserChild = spawn("bash", [REFERENCE, String(port)], {
    env: { ...process.env, BENCH_DJOSER_STATE: djoserRunDir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  djoserChild.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
    // run.sh's own progress lines (making the virtualenv, installing): a first run takes a while.
    for (const line of String(d).split("\n")) {
      if (line.startsWith("[bench-djoser]")) log(line.slice("[bench-djoser] ".length));
    }
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 300_000; // a first run makes the virtualenv and installs into it
  while (Date.now() < deadline) {
    if (djoserChild.exitCode !== null || djoserChild.signalCode !== null) {
      throw new Error(`djoser server exited: ${stderr}`);
    }
    try {
      const res = await call(base, "GET", "/auth/");
      if (res.status === 200) return { base, port, emails: join(djoserRunDir, "emails") };
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`djoser server not ready in 300 s: ${stderr}`);
}

async function stopDjoser() {
  const child = djoserChild;
  djoserChild = null;
  const running = () => child.exitCode === null && child.signalCode === null;
  if (child && running()) {
    // run.sh execs gunicorn, so this is its master; SIGINT is its quick shutdown.
    child.kill("SIGINT");
    for (let i = 0; i < 50 && running(); i++) await sleep(100);
    if (running()) child.kill("SIGKILL");
  }
  if (djoserRunDir && existsSync(djoserRunDir)) rmSync(djoserRunDir, { recursive: true, force: true });
  djoserRunDir = null;
}

/** The activation link's uid and token from the newest e-mail in djoser's e-mail folder. */
function djoserActivationLink(emailsDir, address) {
  const files = readdirSync(emailsDir).map((f) => join(emailsDir, f));
  files.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  for (const file of files.reverse()) {
    const text = readFileSync(file, "utf8");
    if (!text.includes(address)) continue;
    const m = text.match(/activate\/([^/\s]+)\/([0-9a-z]+-[0-9a-f]+)/);
    if (m) return { uid: m[1], token: m[2] };
  }
  throw new Error(`no activation e-mail to ${address} in ${emailsDir}`);
}

// ---- targets -----------------------------------------------------------------------------

const RUN_ID = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
// Unrelated to every username, so Django's similarity validator never objects.
const PASSWORD = `Qv-${randomBytes(8).toString("hex")}-Lm!`;

/** Per-target state: credentials, a current access token, the pool of unspent refresh tokens. */
function makeState(name, base) {
  return {
    name,
    base,
    user: { username: `bench${RUN_ID}${name}`, password: PASSWORD },
    access: null,
    pool: [],
    registered: 0,
  };
}

async function login(s) {
  const res = await mustCall(s.base, "POST", "/auth/jwt/create/", { json: s.user }, 200);
  return res.body;
}

/** Mints refresh tokens (one login each) until the pool holds `target`. */
async function fillPool(s, target, parallel) {
  while (s.pool.length < target) {
    const n = Math.min(parallel, target - s.pool.length);
    const pairs = await Promise.all(Array.from({ length: n }, () => login(s)));
    for (const p of pairs) s.pool.push(p.refresh);
  }
}

async function prepareProject(s, mf) {
  const email = `${s.user.username}@example.com`;
  await mustCall(s.base, "POST", "/auth/users/", { json: { ...s.user, email } }, 201);
  const db = await mf.getD1Database("DB");
  await db.prepare("UPDATE users SET is_active = 1 WHERE username = ?1").bind(s.user.username).run();
  s.access = (await login(s)).access;
}

async function prepareDjoser(s, emailsDir) {
  const email = `${s.user.username}@example.com`;
  await mustCall(s.base, "POST", "/auth/users/", { json: { ...s.user, email } }, 201);
  const { uid, token } = djoserActivationLink(emailsDir, email);
  await mustCall(s.base, "POST", "/auth/users/activation/", { json: { uid, token } }, 204);
  s.access = (await login(s)).access;
}

/** Sent when the pool of refresh tokens ran dry (answered 401, so counted as unexpected). */
const POOL_EMPTY = "pool-exhausted";

/** The endpoints under load; `request(s)` builds the next request for target state `s`. */
const ENDPOINTS = [
  {
    key: "verify",
    label: "POST /auth/jwt/verify/ (access token)",
    expect: 200,
    request: (s) => ({
      method: "POST",
      path: "/auth/jwt/verify/",
      headers: JSON_HEADERS,
      body: JSON.stringify({ token: s.access }),
    }),
  },
  {
    key: "me",
    label: "GET /auth/users/me/ (Bearer JWT)",
    expect: 200,
    request: (s) => ({
      method: "GET",
      path: "/auth/users/me/",
      headers: { authorization: `Bearer ${s.access}` },
    }),
  },
  {
    key: "refresh",
    label: "POST /auth/jwt/refresh/ (rotation)",
    expect: 200,
    dynamic: true,
    // Every refresh spends its token; each answer's new token goes back into the pool.
    request: (s) => ({
      method: "POST",
      path: "/auth/jwt/refresh/",
      headers: JSON_HEADERS,
      body: JSON.stringify({ refresh: s.pool.shift() ?? POOL_EMPTY }),
    }),
    onResponse: (s, status, body) => {
      if (status !== 200) return;
      try {
        const token = JSON.parse(body).refresh;
        if (token) s.pool.push(token);
      } catch {
        // counted as an unexpected answer by the status tally
      }
    },
  },
  {
    key: "create",
    label: "POST /auth/jwt/create/ (login)",
    expect: 200,
    request: (s) => ({
      method: "POST",
      path: "/auth/jwt/create/",
      headers: JSON_HEADERS,
      body: JSON.stringify(s.user),
    }),
  },
  {
    key: "register",
    label: "POST /auth/users/ (register)",
    expect: 201,
    dynamic: true,
    request: (s) => {
      s.registered += 1;
      const username = `r${RUN_ID}${s.name[0]}${s.registered}`;
      return {
        method: "POST",
        path: "/auth/users/",
        headers: JSON_HEADERS,
        body: JSON.stringify({
          username,
          email: `${username}@example.com`,
          password: PASSWORD,
        }),
      };
    },
  },
];
const HELLO = { key: "hello", label: "GET / (bare hello-world Worker)", expect: 200 };

/**
 * The endpoint's "I/O twin": the bare Worker receiving the same request (method, headers, body of
 * the same size), reading its body, and making the same D1/KV calls, and nothing else.
 * `sample` is one request as the endpoint sends it.
 */
function ioTwin(endpoint, sample, calls) {
  const req = {
    ...sample,
    path: `/storage?d1=${calls.d1.join(",")}&kv=${calls.kv.join(",")}`,
  };
  return { key: endpoint.key, label: `I/O twin of ${endpoint.label}`, expect: 200, request: () => req };
}

/** autocannon against a keep-alive workerd target. */
async function loadWorkerd(s, endpoint, duration) {
  const url = new URL(s.base);
  let req;
  if (endpoint === HELLO) {
    req = { method: "GET", path: "/" };
  } else if (endpoint.dynamic) {
    const first = endpoint.request(s);
    req = {
      ...first,
      setupRequest: (r) => ({ ...r, body: endpoint.request(s).body }),
      onResponse: endpoint.onResponse ? (status, body) => endpoint.onResponse(s, status, body) : undefined,
    };
    // That template is rebuilt by setupRequest before it is sent: give its refresh token back.
    const token = endpoint.key === "refresh" ? JSON.parse(first.body).refresh : null;
    if (token && token !== POOL_EMPTY) s.pool.unshift(token);
  } else {
    req = endpoint.request(s);
  }
  const r = await autocannon({
    url: url.origin,
    connections: CONNECTIONS,
    duration,
    requests: [req],
  });
  const statuses = {};
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statuses[code] = v.count;
  const total = r.requests.total;
  const expected = statuses[endpoint.expect] ?? 0;
  return {
    tool: "autocannon",
    total,
    rps: total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    unexpected: total - expected + r.errors + r.timeouts,
    statuses,
  };
}

/** bench/load.mjs: for djoser (gunicorn closes every connection) and the cross-check. */
async function loadClosedLoop(s, endpoint, duration) {
  const url = new URL(s.base);
  const r = await closedLoop({
    target: { host: url.hostname, port: Number(url.port) },
    connections: CONNECTIONS,
    duration,
    request: () => endpoint.request(s),
    onResponse: endpoint.onResponse ? (status, body) => endpoint.onResponse(s, status, body) : undefined,
  });
  const expected = r.statuses[endpoint.expect] ?? 0;
  return {
    tool: "closed-loop",
    total: r.total,
    rps: r.rps,
    p50: r.p50,
    p99: r.p99,
    unexpected: r.total - expected + r.errors,
    statuses: r.statuses,
  };
}

// ---- probes ------------------------------------------------------------------------------

/** Median latency (ms) of `n` sequential requests per named builder, interleaved. */
async function sequentialMedians(base, builders, n) {
  const times = Object.fromEntries(Object.keys(builders).map((k) => [k, []]));
  for (let i = 0; i < n; i++) {
    for (const [name, { build, expect }] of Object.entries(builders)) {
      const req = build();
      const send = () => fetch(base + req.path, { method: req.method, headers: req.headers, body: req.body });
      let t0 = performance.now();
      let res;
      try {
        res = await send();
      } catch (e) {
        // The pooled keep-alive socket was closed by workerd while Node was blocked (the native
        // argon2 runs just before): undici only notices on reuse. Once more on a new socket.
        if (e?.cause?.code !== "UND_ERR_SOCKET") throw e;
        t0 = performance.now();
        res = await send();
      }
      await res.arrayBuffer();
      const ms = performance.now() - t0;
      if (res.status !== expect) throw new Error(`probe ${name}: ${res.status}`);
      times[name].push(ms);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

function nativeArgon2(profile) {
  const bin = join(BENCH, "argon2-native", "target", profile, "argon2-native");
  const out = execFileSync(bin, [String(ARGON2.m), String(ARGON2.t), String(ARGON2.p), String(NATIVE_RUNS)], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(out.trim());
}

// A wrapper module around the service that counts calls on the D1 and KV bindings (each call is
// one round trip; a D1 batch is one) and returns the list in response headers. Used only on a
// separate instance with sequential requests, never on the instance under load.
const COUNTING_WRAPPER = `
import Service from "./index.js";
const ops = { d1: [], kv: [] };
let patched = false;
function patch(proto, names, kind) {
  for (const name of names) {
    const original = proto[name];
    if (typeof original !== "function") continue;
    proto[name] = function (...args) { ops[kind].push(name); return original.apply(this, args); };
  }
}
export default {
  async fetch(request, env, ctx) {
    if (!patched) {
      patched = true;
      patch(Object.getPrototypeOf(env.DB), ["batch", "exec"], "d1");
      patch(Object.getPrototypeOf(env.DB.prepare("SELECT 1")), ["first", "all", "run", "raw"], "d1");
      patch(Object.getPrototypeOf(env.AUTH_KV), ["get", "getWithMetadata", "put", "delete", "list"], "kv");
    }
    ops.d1 = []; ops.kv = [];
    const response = await new Service(ctx, env).fetch(request);
    const headers = new Headers(response.headers);
    headers.set("x-bench-d1", ops.d1.join(" "));
    headers.set("x-bench-kv", ops.kv.join(" "));
    return new Response(response.body, { status: response.status, headers });
  },
};`;

/** D1 and KV round trips per endpoint, counted on the binding calls. */
async function storageCensus(rateLimits) {
  const build = join(ROOT, "build");
  const options = workerOptions(build, projectBindings({ RATE_LIMITS: rateLimits }));
  delete options.scriptPath;
  delete options.modulesRules;
  // The wrapper is given inline; nothing is written into build/.
  options.modules = [
    { type: "ESModule", path: join(build, "__bench_counting.mjs"), contents: COUNTING_WRAPPER },
    { type: "ESModule", path: join(build, "index.js") },
    { type: "CompiledWasm", path: join(build, "index_bg.wasm") },
  ];
  const mf = new Miniflare(options);
  try {
    const base = (await mf.ready).origin;
    await migrate(mf);
    const s = makeState(`census${rateLimits}`, base);
    const counted = async (req) => {
      const res = await fetch(base + req.path, { method: req.method, headers: req.headers, body: req.body });
      const text = await res.text();
      const split = (h) => (res.headers.get(h) || "").split(" ").filter(Boolean);
      return { status: res.status, text, d1: split("x-bench-d1"), kv: split("x-bench-kv") };
    };
    const result = {};
    const email = `${s.user.username}@example.com`;
    result.register = await counted({
      method: "POST",
      path: "/auth/users/",
      headers: JSON_HEADERS,
      body: JSON.stringify({ ...s.user, email }),
    });
    const db = await mf.getD1Database("DB");
    await db.prepare("UPDATE users SET is_active = 1 WHERE username = ?1").bind(s.user.username).run();
    const create = await counted(ENDPOINTS.find((e) => e.key === "create").request(s));
    result.create = create;
    const pair = JSON.parse(create.text);
    s.access = pair.access;
    s.pool.push(pair.refresh);
    result.verify = await counted(ENDPOINTS.find((e) => e.key === "verify").request(s));
    result.me = await counted(ENDPOINTS.find((e) => e.key === "me").request(s));
    result.refresh = await counted(ENDPOINTS.find((e) => e.key === "refresh").request(s));
    for (const e of ENDPOINTS) {
      if (result[e.key].status !== e.expect) {
        throw new Error(`census ${e.key}: ${result[e.key].status} ${result[e.key].text.slice(0, 200)}`);
      }
    }
    return result;
  } finally {
    await mf.dispose();
  }
}

/**
 * What each endpoint needs at least, with the storage design as it is (users and single-use state
 * in D1, issued refresh-token records in KV), RATE_LIMITS=off, UPDATE_LAST_LOGIN off:
 *  verify (access token): nothing; a signature and time check.
 *  users/me: one D1 read of the user.
 *  jwt/create: one D1 read of the user, one KV write of the new refresh token's record.
 *  jwt/refresh: one D1 batch (spent? family revoked? user; the family is read from the signed
 *    jti, so no KV read), one D1 write that spends the jti (only after the checks pass: it cannot
 *    join the batch), one KV write of the new token's record (issue #4 keeps a record per token).
 *  register: the e-mail and username uniqueness reads are independent (one D1 batch), then the
 *    insert: two D1 round trips.
 * RATE_LIMITS=on adds one D1 batch (the throttle counters) to create and register.
 */
const NEEDED = {
  verify: { d1: 0, kv: 0 },
  me: { d1: 1, kv: 0 },
  // The user before the answer, and the security event log's batch (login_succeeded) after it.
  create: { d1: 2, kv: 1 },
  refresh: { d1: 2, kv: 1 },
  register: { d1: 2, kv: 0 },
};

// ---- the report --------------------------------------------------------------------------

const fmtInt = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");
const fmtMs = (x) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(1) : Math.round(x).toString()) : "n/a");
const fmtCpu = (x) => (Number.isFinite(x) ? x.toFixed(x < 1 ? 3 : x < 10 ? 2 : 1) : "n/a");
const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "n/a");
const verdict = (ok) => (ok === undefined ? "n/a" : ok ? "PASS" : "FAIL");

const fmtLoad = () => os.loadavg().map((x) => x.toFixed(1)).join(" / ");

function cpuModel() {
  const m = os.cpus()[0]?.model ?? "unknown CPU";
  return `${m.trim()}, ${os.cpus().length} cores`;
}

function report(data) {
  const L = [];
  const { runs, rounds } = data;
  const agg = (target, key) => {
    const xs = runs.filter((r) => r.target === target && r.endpoint === key);
    if (xs.length === 0) return null;
    return {
      rps: median(xs.map((x) => x.rps)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
      cpuMs: median(xs.map((x) => x.cpuMs)),
      unexpected: xs.reduce((a, x) => a + x.unexpected, 0),
      total: xs.reduce((a, x) => a + x.total, 0),
    };
  };
  // Ratios pair runs of the same round (close in time), then take the median over rounds.
  const ratio = (keyA, targetA, keyB, targetB) =>
    median(
      rounds.map((round) => {
        const a = runs.find((r) => r.round === round && r.target === targetA && r.endpoint === keyA);
        const b = runs.find((r) => r.round === round && r.target === targetB && r.endpoint === keyB);
        return a && b ? a.rps / b.rps : NaN;
      }),
    );
  const perRound = (xs) => median(xs);

  L.push(`## djoser-edge benchmark`);
  L.push("");
  L.push(
    `${data.date} · ${cpuModel()} · Node ${process.version} · ${CONNECTIONS} connections, ` +
      `${DURATION} s per run, ${rounds.length} interleaved rounds; figures are medians over ` +
      `rounds, ratios are medians of same-round ratios · load average ${data.load.start} at the ` +
      `start, ${data.load.end} at the end (other work on the machine skews absolute figures).  `,
  );
  L.push(
    `project = build/ and bare = bench/bare (hello-world Rust Worker, same toolchain), both under ` +
      `plain Miniflare (workerd ${data.workerd}, local D1 and KV) with the shipped vars, ` +
      `RATE_LIMITS=off, EMAIL_BACKEND=console, loaded with autocannon on 127.0.0.1. djoser = the ` +
      `real djoser from bench/djoser/ (gunicorn, 2 sync workers, sqlite), same connections and ` +
      `duration, loaded with bench/load.mjs (gunicorn closes every connection, which autocannon ` +
      `mishandles). ` +
      `Refresh: every request presents an unspent token (each answer's new token goes back into ` +
      `a pool), rotation and blacklisting on, on both.`,
  );
  L.push("");
  L.push(
    "| endpoint | project req/s | p50 ms | p99 ms | × bare | × I/O twin | djoser req/s | p50 ms | p99 ms | project / djoser | server CPU ms per request: project · djoser | unexpected answers |",
  );
  L.push("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  const bare = agg("bare", "hello");
  L.push(
    `| ${HELLO.label} | ${fmtInt(bare?.rps)} | ${fmtMs(bare?.p50)} | ${fmtMs(bare?.p99)} | 1.00× | | | | | | ${fmtCpu(bare?.cpuMs)} | ${bare?.unexpected ?? 0} / ${fmtInt(bare?.total)} |`,
  );
  const ratios = {};
  for (const e of ENDPOINTS) {
    const p = agg("project", e.key);
    const t = agg("twin", e.key);
    const d = agg("djoser", e.key);
    ratios[e.key] = {
      bare: ratio(e.key, "project", "hello", "bare"),
      twin: t ? ratio(e.key, "project", e.key, "twin") : NaN,
      djoser: d ? ratio(e.key, "project", e.key, "djoser") : NaN,
    };
    const bad = (p?.unexpected ?? 0) + (d?.unexpected ?? 0) + (t?.unexpected ?? 0);
    const tot = (p?.total ?? 0) + (d?.total ?? 0) + (t?.total ?? 0);
    L.push(
      `| ${e.label} | ${fmtInt(p?.rps)} | ${fmtMs(p?.p50)} | ${fmtMs(p?.p99)} | ${fmtRatio(ratios[e.key].bare)} | ` +
        `${fmtRatio(ratios[e.key].twin)} (${fmtInt(t?.rps)} req/s) | ` +
        `${fmtInt(d?.rps)} | ${fmtMs(d?.p50)} | ${fmtMs(d?.p99)} | ${fmtRatio(ratios[e.key].djoser)} | ` +
        `${fmtCpu(p?.cpuMs)} · ${fmtCpu(d?.cpuMs)} | ${bad} / ${fmtInt(tot)} |`,
    );
  }
  L.push("");
  L.push(
    `"× I/O twin": against the bare Worker receiving the same request (method, headers, body), ` +
      `reading its body and making exactly the D1/KV calls counted below for that endpoint, in ` +
      `order, and nothing else: no hashing, JWTs, validation or JSON (register's INSERT … ` +
      `RETURNING is a \`first\` call and is replayed as a read). 1.00× would mean the endpoint ` +
      `costs no more than its I/O on this platform.`,
  );
  L.push(
    `"server CPU": user + system time of all the server's processes (workerd with its D1 and KV; ` +
      `gunicorn's master and workers with sqlite) during the run, per answer, from /proc. workerd ` +
      `runs the Worker's isolate on one thread, while djoser's two workers use both cores: ` +
      `req/s compares what each gets from this machine, CPU per request compares the work.`,
  );
  const closed = agg("bare", "hello-closed-loop");
  if (closed) {
    L.push(
      `Load-tool cross-check on the bare hello, back to back each round: autocannon ` +
        `${fmtInt(bare?.rps)} req/s, bench/load.mjs ${fmtInt(closed.rps)} req/s ` +
        `(${fmtRatio(ratio("hello-closed-loop", "bare", "hello", "bare"))}).`,
    );
  }

  const a = data.argon2;
  const workerdArgon = perRound(a.workerd);
  const native3 = perRound(a.native3);
  const nativeS = perRound(a.nativeS);
  L.push("");
  L.push("| figure | value |");
  L.push("|---|--:|");
  L.push(
    `| argon2id m=${ARGON2.m} t=${ARGON2.t} p=${ARGON2.p} inside workerd: jwt/create of an unknown user (one dummy hash + one D1 read) − users/me (JWT check + one D1 read), sequential medians of ${PROBES} per round | ${fmtMs(workerdArgon)} ms |`,
  );
  L.push(
    `| the same natively (bench/argon2-native, median of ${NATIVE_RUNS} per round): opt-level 3 / opt-level "s" (the Worker's profile) | ${fmtMs(native3)} ms / ${fmtMs(nativeS)} ms |`,
  );
  L.push(`| argon2id workerd / native (opt-level 3) · workerd / native at the same opt-level "s" | ${fmtRatio(median(a.ratio3))} · ${fmtRatio(median(a.ratioS))} |`);
  L.push(
    `| time per login inside workerd: jwt/create − jwt/verify, sequential medians (argon2 verify + D1 read + KV write + two JWT signatures) | ${fmtMs(perRound(a.login))} ms |`,
  );
  const createRps = agg("project", "create")?.rps;
  L.push(
    `| server CPU per login under load (jwt/create, all the server's processes, from /proc): project · djoser | ${fmtCpu(agg("project", "create")?.cpuMs)} ms · ${fmtCpu(agg("djoser", "create")?.cpuMs)} ms |`,
  );
  L.push(
    `| isolate time per login under load, 1 / (jwt/create req/s): one isolate runs one request at a time | ${fmtMs(1000 / createRps)} ms |`,
  );
  if (data.djoserLogin) {
    L.push(
      `| djoser login (PBKDF2-SHA256, 1,000,000 iterations), sequential median of 5 | ${fmtMs(data.djoserLogin)} ms |`,
    );
  }
  L.push(`| \`.wasm\` raw / gzip -9: project | ${fmtInt(data.size.raw)} B / ${fmtInt(data.size.gzip)} B |`);
  L.push(
    `| \`.wasm\` raw / gzip -9: bare Worker (hello + the I/O twin route) | ${fmtInt(data.size.bareRaw)} B / ${fmtInt(data.size.bareGzip)} B |`,
  );
  L.push(
    `| startup, Miniflare construction → first 200 (median of ${data.startup.project.length}): project / bare | ${fmtMs(median(data.startup.project))} ms / ${fmtMs(median(data.startup.bare))} ms |`,
  );

  L.push("");
  L.push("Storage round trips per request, counted on the D1 and KV binding calls (a D1 batch is one):");
  L.push("");
  L.push("| endpoint | RATE_LIMITS=off | RATE_LIMITS=on | needed (off) |");
  L.push("|---|---|---|---|");
  const describe = (c) => {
    const d1 = c.d1.length ? `D1 ${c.d1.length} (${c.d1.join(", ")})` : "D1 0";
    const kv = c.kv.length ? `KV ${c.kv.length} (${c.kv.join(", ")})` : "KV 0";
    return `${d1}; ${kv}`;
  };
  const tripsOk = {};
  for (const e of ENDPOINTS) {
    const off = data.census.off[e.key];
    const on = data.census.on[e.key];
    const need = NEEDED[e.key];
    tripsOk[e.key] = off.d1.length <= need.d1 && off.kv.length <= need.kv;
    L.push(`| ${e.label} | ${describe(off)} | ${describe(on)} | D1 ${need.d1}; KV ${need.kv} |`);
  }

  const budgets = [];
  const withDjoser = (ok) => (data.djoser ? ok : undefined);
  const r = ratios;
  const argonRatio = median(a.ratio3);
  budgets.push(["verify ≥ 0.8× bare Worker req/s", fmtRatio(r.verify.bare), r.verify.bare >= 0.8]);
  budgets.push(["users/me ≥ 0.6× bare Worker req/s", fmtRatio(r.me.bare), r.me.bare >= 0.6]);
  // Against each endpoint's I/O twin (the same storage calls, none of the work).
  budgets.push(["verify ≥ 0.8× its I/O twin's req/s", fmtRatio(r.verify.twin), r.verify.twin >= 0.8]);
  budgets.push(["users/me ≥ 0.9× its I/O twin's req/s", fmtRatio(r.me.twin), r.me.twin >= 0.9]);
  budgets.push(["refresh ≥ 0.9× its I/O twin's req/s", fmtRatio(r.refresh.twin), r.refresh.twin >= 0.9]);
  budgets.push(["verify ≥ 3× djoser req/s", fmtRatio(r.verify.djoser), withDjoser(r.verify.djoser >= 3)]);
  budgets.push(["users/me ≥ 3× djoser req/s", fmtRatio(r.me.djoser), withDjoser(r.me.djoser >= 3)]);
  budgets.push([
    "login (jwt/create, argon2id OWASP) ≥ 4× djoser req/s",
    fmtRatio(r.create.djoser),
    withDjoser(r.create.djoser >= 4),
  ]);
  budgets.push(["argon2id in workerd ≤ 2.5× native", fmtRatio(argonRatio), argonRatio <= 2.5]);
  budgets.push([
    "`.wasm` ≤ 600 KB gzipped (600,000 B)",
    `${fmtInt(data.size.gzip)} B`,
    data.size.gzip <= WASM_GZIP_BUDGET,
  ]);
  for (const e of ENDPOINTS) {
    const off = data.census.off[e.key];
    budgets.push([
      `${e.label}: no more D1/KV round trips than needed (D1 ${NEEDED[e.key].d1}, KV ${NEEDED[e.key].kv})`,
      `D1 ${off.d1.length}, KV ${off.kv.length}`,
      tripsOk[e.key],
    ]);
  }
  L.push("");
  L.push("| budget | measured | verdict |");
  L.push("|---|--:|:-:|");
  for (const [name, value, ok] of budgets) L.push(`| ${name} | ${value} | ${verdict(ok)} |`);
  return { text: L.join("\n") + "\n", budgets, helpers: { agg, ratio, fmtInt, fmtMs, fmtCpu, fmtRatio } };
}

// ---- main --------------------------------------------------------------------------------

const workers = [];
async function cleanup() {
  // djoser first: its state folder is removed only here. Then the Miniflare instances, each
  // given a few seconds (their workerd may already have been stopped by scripts/bench.sh).
  await stopDjoser().catch(() => {});
  for (const mf of workers.splice(0)) {
    await Promise.race([mf.dispose().catch(() => {}), sleep(2000)]);
  }
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`${sig}: stopping servers`);
    cleanup().finally(() => process.exit(130));
  });
}
// Miniflare exits the process on SIGINT/SIGTERM itself (after stopping its workerd), which cuts
// the cleanup above short: stop djoser and remove its state folder synchronously on exit.
process.on("exit", () => {
  if (djoserChild && djoserChild.exitCode === null && djoserChild.signalCode === null) {
    djoserChild.kill("SIGINT");
  }
  if (djoserRunDir) rmSync(djoserRunDir, { recursive: true, force: true });
});

async function main() {
  mkdirSync(OUT, { recursive: true });
  const startedAt = performance.now();
  const projectDir = join(ROOT, "build");
  const bareDir = join(BENCH, "bare", "build");
  const data = {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    runs: [],
    rounds: [],
    load: { start: fmtLoad() },
  };
  try {
    data.workerd = JSON.parse(readFileSync(join(ROOT, "node_modules/workerd/package.json"), "utf8")).version;
  } catch {
    data.workerd = "?";
  }

  // Sizes.
  const wasm = readFileSync(join(projectDir, "index_bg.wasm"));
  const bareWasm = readFileSync(join(bareDir, "index_bg.wasm"));
  data.size = {
    raw: wasm.length,
    gzip: gzipSync(wasm, { level: 9 }).length,
    bareRaw: bareWasm.length,
    bareGzip: gzipSync(bareWasm, { level: 9 }).length,
  };

  // Storage round trips, on separate instances with the counting wrapper.
  log("counting D1/KV round trips per endpoint");
  data.census = { off: await storageCensus("off"), on: await storageCensus("on") };

  // Startup: fresh instances, alternating, before the loaded ones exist.
  log("startup times");
  data.startup = { project: [], bare: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, dir, path] of [
      ["project", projectDir, "/auth/"],
      ["bare", bareDir, "/"],
    ]) {
      const w = await startWorker(dir, projectBindings(), path);
      data.startup[name].push(w.ms);
      await w.mf.dispose();
    }
  }

  // The servers under load.
  log("starting the project and the bare Worker under Miniflare");
  const project = await startMeasuredWorker(projectDir, projectBindings(), "/auth/");
  workers.push(project.mf);
  await migrate(project.mf);
  const bare = await startMeasuredWorker(bareDir, projectBindings(), "/");
  workers.push(bare.mf);
  await migrate(bare.mf);
  // The row the bare Worker's storage calls read (user 1), as the service's users/me reads one.
  await (await bare.mf.getD1Database("DB"))
    .prepare("INSERT INTO users (username, email, email_key, password, is_active, date_joined) VALUES ('twin', 'twin@example.com', 'twin@example.com', 'x', 1, 0)")
    .run();
  const ps = makeState("project", project.base);
  const bs = makeState("bare", bare.base);
  ps.cpu = project.cpu;
  bs.cpu = bare.cpu;
  await prepareProject(ps, project.mf);
  // One request of each endpoint, built on a copy of the state so that no refresh token is spent.
  const sampleState = () => ({ ...ps, pool: [...ps.pool, "refresh-token-placeholder"], registered: 0 });
  await fillPool(ps, 1, 1);
  const twins = Object.fromEntries(
    ENDPOINTS.map((e) => [e.key, ioTwin(e, e.request(sampleState()), data.census.off[e.key])]),
  );

  let ds = null;
  if (WITH_DJOSER) {
    try {
      log("starting the real djoser (bench/djoser/run.sh)");
      const dj = await startDjoser();
      ds = makeState("djoser", dj.base);
      // gunicorn's master and its workers (a worker it replaces is picked up at the next read).
      const master = djoserChild.pid;
      ds.cpu = cpuMeter(() => [master, ...childPids(master)]);
      await prepareDjoser(ds, dj.emails);
      data.djoser = true;
      const t = await sequentialMedians(
        ds.base,
        { create: { build: () => ENDPOINTS.find((e) => e.key === "create").request(ds), expect: 200 } },
        5,
      );
      data.djoserLogin = t.create;
    } catch (e) {
      // Loudly: a report without its djoser column must be asked for (BENCH_DJOSER=off).
      await stopDjoser();
      throw new Error(`the real djoser could not run (BENCH_DJOSER=off skips it on purpose): ${e.message}`);
    }
  }

  // better-auth and the service's "matched" instance (bench/peer.mjs); any failure ends the bench.
  let peer = null;
  if (WITH_BETTER_AUTH) {
    log("building and starting better-auth (bench/better-auth) and the matched instance");
    peer = await startPeer({
      startMeasuredWorker,
      projectBindings,
      projectDir,
      migrate,
      mustCall,
      freePort,
      makeState,
      prepareProject,
      loadWorkerd,
      workers,
      argon2: ARGON2,
      runId: RUN_ID,
      password: PASSWORD,
    });
    data.betterAuth = { version: peer.version, scrypt: peer.scrypt, matchedArgon2: peer.matchedArgon2 };
  }

  const byKey = (k) => ENDPOINTS.find((e) => e.key === k);
  const unknown = { username: `nobody${RUN_ID}`, password: PASSWORD };
  data.argon2 = { workerd: [], login: [], native3: [], nativeS: [], ratio3: [], ratioS: [], probes: [] };

  log("warming up");
  await loadWorkerd(bs, HELLO, 1);
  await loadWorkerd(ps, byKey("verify"), 1);
  if (ds) await loadClosedLoop(ds, byKey("verify"), 1);

  for (let round = 1; round <= ROUNDS; round++) {
    data.rounds.push(round);
    log(`round ${round}/${ROUNDS}`);
    // Fresh access tokens each round (they live 5 minutes) and a full refresh pool.
    ps.access = (await login(ps)).access;
    await fillPool(ps, 2 * CONNECTIONS, 2);
    if (ds) {
      ds.access = (await login(ds)).access;
      await fillPool(ds, 2 * CONNECTIONS, 2);
    }

    // argon2id: natively, then inside workerd from outside, back to back.
    const n3 = nativeArgon2("release");
    const nS = nativeArgon2("release-s");
    const probes = await sequentialMedians(
      ps.base,
      {
        verify: { build: () => byKey("verify").request(ps), expect: 200 },
        me: { build: () => byKey("me").request(ps), expect: 200 },
        create: { build: () => byKey("create").request(ps), expect: 200 },
        unknown: {
          build: () => ({
            method: "POST",
            path: "/auth/jwt/create/",
            headers: JSON_HEADERS,
            body: JSON.stringify(unknown),
          }),
          expect: 401,
        },
      },
      PROBES,
    );
    const inWorkerd = probes.unknown - probes.me;
    data.argon2.workerd.push(inWorkerd);
    data.argon2.login.push(probes.create - probes.verify);
    data.argon2.native3.push(n3.median_ms);
    data.argon2.nativeS.push(nS.median_ms);
    data.argon2.ratio3.push(inWorkerd / n3.median_ms);
    data.argon2.ratioS.push(inWorkerd / nS.median_ms);
    data.argon2.probes.push(probes);
    log(
      `  argon2id: workerd ${fmtMs(inWorkerd)} ms, native ${fmtMs(n3.median_ms)} ms (opt 3) / ${fmtMs(nS.median_ms)} ms (opt s); login ${fmtMs(probes.create - probes.verify)} ms`,
    );

    const record = async (target, endpoint, state, run) => {
      const cpu0 = state.cpu?.();
      const res = await run();
      const cpu1 = state.cpu?.();
      // Server-side CPU (all its processes and threads: runtime, D1, KV, sqlite) per answer.
      res.cpuMs = state.cpu && res.total ? (cpu1 - cpu0) / res.total : NaN;
      data.runs.push({ round, target, endpoint, ...res });
      log(
        `  ${target.padEnd(7)} ${endpoint.padEnd(8)} ${fmtInt(res.rps).padStart(6)} req/s  p50 ${fmtMs(res.p50)} ms  p99 ${fmtMs(res.p99)} ms  cpu ${res.cpuMs.toFixed(2)} ms/req` +
          (res.unexpected ? `  unexpected ${res.unexpected} ${JSON.stringify(res.statuses)}` : ""),
      );
    };
    await record("bare", "hello", bs, () => loadWorkerd(bs, HELLO, DURATION));
    // The two load tools on the same target back to back, at the highest rate (the worst case
    // for a client's own CPU cost).
    const helloLoop = {
      ...HELLO,
      request: () => ({ method: "GET", path: "/" }),
    };
    await record("bare", "hello-closed-loop", bs, () => loadClosedLoop(bs, helloLoop, DURATION));
    for (const e of ENDPOINTS) {
      // Alternate the order, so that no target always runs on the warmer (or busier) machine.
      const order = round % 2 ? ["project", "twin", "djoser"] : ["djoser", "twin", "project"];
      for (const target of order) {
        if (target === "project") await record("project", e.key, ps, () => loadWorkerd(ps, e, DURATION));
        else if (target === "twin") await record("twin", e.key, bs, () => loadWorkerd(bs, twins[e.key], DURATION));
        else if (target === "djoser" && ds) await record("djoser", e.key, ds, () => loadClosedLoop(ds, e, DURATION));
      }
    }
    if (peer) {
      await peerRound(peer, round, {
        record,
        loadWorkerd,
        endpoint: byKey,
        sequentialMedians,
        probes: PROBES,
        ps,
        runs: data.runs,
        duration: DURATION,
      });
    }
  }

  data.load = { start: data.load.start, end: fmtLoad() };
  const { text: mainText, budgets, helpers } = report(data);
  let text = mainText;
  if (peer) {
    const section = peerReport(data, peer, { ...helpers, argon2: ARGON2, connections: CONNECTIONS, probes: PROBES });
    text += section.text;
    data.goals = section.goals;
    data.betterAuth.probes = peer.probes;
  }
  data.budgets = budgets;
  data.seconds = (performance.now() - startedAt) / 1000;
  writeFileSync(join(OUT, "latest.md"), text);
  writeFileSync(join(OUT, "latest.json"), JSON.stringify(data, null, 2));
  process.stdout.write(text);
  log(`done in ${Math.round(data.seconds)} s; written to bench/out/latest.md and latest.json`);
}

try {
  await main();
} catch (e) {
  log(`failed: ${e.stack ?? e}${e.cause ? `\n  cause: ${e.cause.stack ?? e.cause}` : ""}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
