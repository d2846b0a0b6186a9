// The peer from the edge for `npm run bench`: better-auth (npm, pinned in package.json) as a
// module Worker under the same local workerd, with D1, e-mail + password and its default password
// hash, loaded in the same interleaved rounds as the service. See bench/README.md, "better-auth".
//
// Three flows, each against the service's counterpart:
//   sign-up:       POST /api/auth/sign-up/email   vs POST /auth/users/
//   sign-in:       POST /api/auth/sign-in/email   vs POST /auth/jwt/create/
//   session check: GET /api/auth/get-session (its session cookie) vs GET /auth/users/me/ (Bearer JWT)
// Sign-up and sign-in also run on a second instance of the service, "matched": argon2id at a
// memory cost at least scrypt's (see hashStrength) and no activation or confirmation e-mail, so
// that the goal "lower CPU per sign-in at a hash at least as strong" compares like with like.
//
// run.mjs hands in its own helpers (startMeasuredWorker, loadWorkerd, …) so that both load the
// same way and measure the server's CPU the same way; this file only knows better-auth.
import { readFileSync } from "node:fs";
import { buildBetterAuth, betterAuthVersion, BETTER_AUTH_BUILD } from "./better-auth/build.mjs";
import { join } from "node:path";

export const WITH_BETTER_AUTH = process.env.BENCH_BETTER_AUTH !== "off";

const SECRET = "bench-better-auth-secret-0123456789abcdef0123456789"; // ≥ 32 characters

/**
 * better-auth's password hash as bundled: the scrypt parameters read from the bundle itself
 * (@better-auth/utils' password module under the "workerd" export condition), so the report
 * names what actually ran. Throws when the bundle no longer hashes that way.
 */
export function bundledScrypt(bundleFile) {
  const src = readFileSync(bundleFile, "utf8");
  const at = src.search(/import\s*\{[^}]*\bscrypt\b[^}]*\}\s*from\s*"node:crypto"/);
  if (at < 0) throw new Error(`${bundleFile}: better-auth no longer hashes with node:crypto's scrypt`);
  const m = src
    .slice(at, at + 2000)
    .match(/N:\s*(\d+),\s*r:\s*(\d+),\s*p:\s*(\d+),\s*dkLen:\s*(\d+)/);
  if (!m) throw new Error(`${bundleFile}: cannot read better-auth's scrypt parameters`);
  const [N, r, p, dkLen] = m.slice(1).map(Number);
  return { N, r, p, dkLen, bytes: 128 * r * N };
}

/**
 * How the two hashes' strengths are compared: by their memory-hard cost, the memory an attacker
 * must hold per guess and how many passes are made over it. scrypt's ROMix holds N blocks of
 * 128·r bytes and makes two passes (a sequential fill, then N data-dependent reads); argon2id
 * holds m KiB and makes t passes (each a full fill with data-dependent reads, t=2 by default).
 * argon2id is "at least as strong" when m KiB ≥ 128·r·N bytes and t ≥ 2 (p equal at 1).
 */
export function hashStrength(scrypt, argon2) {
  const scryptKib = scrypt.bytes / 1024;
  return {
    scryptKib,
    argonKib: argon2.m,
    atLeastAsStrong: argon2.m >= scryptKib && argon2.t >= 2 && argon2.p >= scrypt.p,
  };
}

const mib = (kib) => `${(kib / 1024).toFixed(kib % 1024 ? 1 : 0)} MiB`;
export const describeScrypt = (s) => `scrypt N=${s.N} r=${s.r} p=${s.p} dkLen=${s.dkLen} (${mib(s.bytes / 1024)})`;
export const describeArgon2 = (a) => `argon2id m=${a.m} t=${a.t} p=${a.p} (${mib(a.m)})`;

/**
 * What Miniflare needs to serve the bundle (after buildBetterAuth) on 127.0.0.1:`port`, with a
 * D1 binding named DB added by the caller. better-auth checks the Origin of its POSTs against
 * BETTER_AUTH_URL, so the port is chosen beforehand.
 */
export function betterAuthWorker(port) {
  return {
    // The bundle imports node:sqlite dynamically (never reached with D1), which Miniflare's module
    // walker refuses: name the one module explicitly instead.
    modules: [{ type: "ESModule", path: join(BETTER_AUTH_BUILD, "index.js") }],
    compatibilityFlags: ["nodejs_compat"],
    bindings: { BETTER_AUTH_SECRET: SECRET, BETTER_AUTH_URL: `http://127.0.0.1:${port}` },
  };
}

/** The better-auth flows under load; `request(s)` builds the next request for its state `s`. */
export const BETTER_AUTH_FLOWS = [
  {
    key: "signup",
    label: "sign-up",
    expect: 200,
    dynamic: true,
    request: (s) => {
      s.registered += 1;
      const local = `u${s.runId}${s.registered}`;
      return {
        method: "POST",
        path: "/api/auth/sign-up/email",
        headers: { "content-type": "application/json", origin: s.base },
        body: JSON.stringify({ name: local, email: `${local}@example.com`, password: s.password }),
      };
    },
  },
  {
    key: "signin",
    label: "sign-in",
    expect: 200,
    request: (s) => ({
      method: "POST",
      path: "/api/auth/sign-in/email",
      headers: { "content-type": "application/json", origin: s.base },
      body: JSON.stringify({ email: s.email, password: s.password }),
    }),
  },
  {
    key: "session",
    label: "session check",
    expect: 200,
    request: (s) => ({ method: "GET", path: "/api/auth/get-session", headers: { cookie: s.cookie } }),
  },
];

/** The service's endpoint (run.mjs's ENDPOINTS key) each flow is compared with. */
const COUNTERPART = { signup: "register", signin: "create", session: "me" };

/**
 * Builds better-auth, starts it and the "matched" instance of the service, prepares a user on
 * each. Throws (the bench fails) when better-auth cannot run. `h` holds run.mjs's helpers.
 */
export async function startPeer(h) {
  const bundle = await buildBetterAuth();
  const scrypt = bundledScrypt(bundle);
  const version = betterAuthVersion();
  // argon2id at scrypt's memory (rounded up to whole KiB), the service's default t and p.
  const matchedArgon2 = { m: Math.ceil(scrypt.bytes / 1024), t: h.argon2.t, p: h.argon2.p };
  const strength = {
    shipped: hashStrength(scrypt, h.argon2),
    matched: hashStrength(scrypt, matchedArgon2),
  };
  if (!strength.matched.atLeastAsStrong) throw new Error("the matched argon2id cost is below scrypt's");

  const port = await h.freePort();
  const { modules, compatibilityFlags, bindings } = betterAuthWorker(port);
  const extra = {
    scriptPath: undefined,
    modulesRoot: undefined,
    modulesRules: undefined,
    modules,
    compatibilityFlags,
    kvNamespaces: [],
    port,
  };
  const ba = await h.startMeasuredWorker(BETTER_AUTH_BUILD, bindings, "/__bench/ready", extra);
  h.workers.push(ba.mf);
  if (!ba.cpu) throw new Error("better-auth: cannot find its workerd process to measure its CPU");
  const migrated = await h.mustCall(ba.base, "POST", "/__bench/migrate", {}, 200);
  const tables = migrated.body?.created ?? [];
  for (const t of ["user", "account", "session"]) {
    if (!tables.includes(t)) throw new Error(`better-auth's migration made no "${t}" table: ${migrated.text}`);
  }
  const bs = {
    name: "better-auth",
    base: ba.base,
    runId: h.runId,
    email: `bench${h.runId}ba@example.com`,
    password: h.password,
    registered: 0,
    cookie: null,
    cpu: ba.cpu,
  };
  const signUp = await betterAuthCall(bs, "/api/auth/sign-up/email", {
    name: "bench",
    email: bs.email,
    password: bs.password,
  });
  if (signUp.status !== 200) throw new Error(`better-auth sign-up: ${signUp.status} ${signUp.text.slice(0, 300)}`);
  const stored = await (await ba.mf.getD1Database("DB"))
    .prepare(`SELECT password FROM account WHERE providerId = 'credential'`)
    .first();
  // Its hash format: hex salt ":" hex key of dkLen bytes.
  const [salt, key] = String(stored?.password).split(":");
  if (!salt || key?.length !== 2 * scrypt.dkLen) throw new Error(`better-auth stored an unexpected hash: ${stored?.password}`);
  await signIn(bs);
  const probe = await fetch(bs.base + "/api/auth/get-session", { headers: { cookie: bs.cookie } });
  const session = await probe.json().catch(() => null);
  if (probe.status !== 200 || session?.user?.email !== bs.email) {
    throw new Error(`better-auth get-session: ${probe.status} ${JSON.stringify(session)?.slice(0, 300)}`);
  }

  // The service with a hash at least as strong and no e-mail on sign-up.
  const matched = await h.startMeasuredWorker(
    h.projectDir,
    h.projectBindings({
      ARGON2_MEMORY_KIB: String(matchedArgon2.m),
      ARGON2_ITERATIONS: String(matchedArgon2.t),
      ARGON2_PARALLELISM: String(matchedArgon2.p),
      SEND_ACTIVATION_EMAIL: "false",
      SEND_CONFIRMATION_EMAIL: "false",
    }),
    "/auth/",
  );
  h.workers.push(matched.mf);
  await h.migrate(matched.mf);
  const ms = h.makeState("matched", matched.base);
  ms.cpu = matched.cpu;
  await h.prepareProject(ms, matched.mf);
  const phc = await (await matched.mf.getD1Database("DB"))
    .prepare("SELECT password FROM users WHERE username = ?1")
    .bind(ms.user.username)
    .first();
  const cost = `$argon2id$v=19$m=${matchedArgon2.m},t=${matchedArgon2.t},p=${matchedArgon2.p}$`;
  if (!String(phc?.password).startsWith(cost)) {
    throw new Error(`the matched instance stored ${String(phc?.password).slice(0, 40)}…, not ${cost}`);
  }

  // better-auth is JavaScript: give V8 a second per flow to compile its hot paths before the
  // rounds, as run.mjs warms the service up.
  for (const flow of BETTER_AUTH_FLOWS) await h.loadWorkerd(bs, flow, 1);

  return { version, scrypt, matchedArgon2, strength, bs, ms, probes: [] };
}

async function betterAuthCall(s, path, json) {
  const res = await fetch(s.base + path, {
    method: "POST",
    headers: { "content-type": "application/json", origin: s.base },
    body: JSON.stringify(json),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Signs in and keeps the session cookie (name=value of its signed session token). */
async function signIn(s) {
  const res = await betterAuthCall(s, "/api/auth/sign-in/email", { email: s.email, password: s.password });
  const cookie = (res.headers.getSetCookie?.() ?? [res.headers.get("set-cookie") ?? ""])
    .map((c) => c.split(";")[0])
    .find((c) => c.includes("session_token="));
  if (res.status !== 200 || !cookie) throw new Error(`better-auth sign-in: ${res.status} ${res.text.slice(0, 300)}`);
  s.cookie = cookie;
}

/**
 * One round of the peer's runs: each flow on better-auth and on its counterpart back to back
 * (order alternating by round). The counterpart is the matched instance for sign-up and sign-in
 * and the shipped instance ("project") for the session check, whose cost the hash does not touch;
 * that run is recorded as endpoint "session" so it stays apart from the main table's users/me.
 */
export async function peerRound(peer, round, h) {
  await signIn(peer.bs); // a fresh session each round
  // One request at a time first: latency without queueing, less exposed to a busy machine.
  const flow = (k) => BETTER_AUTH_FLOWS.find((f) => f.key === k);
  const probes = {
    ...(await h.sequentialMedians(
      peer.bs.base,
      {
        signin: { build: () => flow("signin").request(peer.bs), expect: 200 },
        session: { build: () => flow("session").request(peer.bs), expect: 200 },
      },
      h.probes,
    )),
    ...(await h.sequentialMedians(
      peer.ms.base,
      { matchedSignin: { build: () => h.endpoint("create").request(peer.ms), expect: 200 } },
      h.probes,
    )),
    ...(await h.sequentialMedians(
      h.ps.base,
      {
        shippedSignin: { build: () => h.endpoint("create").request(h.ps), expect: 200 },
        me: { build: () => h.endpoint("me").request(h.ps), expect: 200 },
      },
      h.probes,
    )),
  };
  peer.probes.push(probes);
  for (const flow of BETTER_AUTH_FLOWS) {
    const endpoint = h.endpoint(COUNTERPART[flow.key]);
    const runs = {
      "better-auth": () => h.record("better-auth", flow.key, peer.bs, () => h.loadWorkerd(peer.bs, flow, h.duration)),
      ours:
        flow.key === "session"
          ? () => h.record("project", "session", h.ps, () => h.loadWorkerd(h.ps, endpoint, h.duration))
          : () => h.record("matched", flow.key, peer.ms, () => h.loadWorkerd(peer.ms, endpoint, h.duration)),
    };
    const order = round % 2 ? ["better-auth", "ours"] : ["ours", "better-auth"];
    for (const who of order) {
      await settle([peer.bs, peer.ms, h.ps]);
      await runs[who]();
    }
  }
  for (const r of h.runs.filter((x) => x.round === round && x.target === "better-auth")) {
    // A run may end before a slow hash answers (short BENCH_DURATION on a busy machine): only
    // wrong answers, errors and timeouts count against it.
    if (r.unexpected > r.total / 100) {
      throw new Error(`better-auth ${r.endpoint}: ${r.unexpected} unexpected of ${r.total} ${JSON.stringify(r.statuses)}`);
    }
  }
}

/**
 * Waits until none of the servers is still working (its CPU time stops growing), at most 20 s.
 * A load run ends with up to one request per connection still queued in the server (for a
 * sign-in, several hashes); without this they would run during, and be billed to, the next run.
 */
async function settle(states) {
  const meters = states.map((s) => s.cpu).filter(Boolean);
  const total = () => meters.reduce((sum, m) => sum + m(), 0);
  const deadline = Date.now() + 20_000;
  let last = total();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    const now = total();
    if (now - last <= 10) return; // at most one clock tick in 300 ms: idle
    last = now;
  }
}

/** The report's better-auth section and its goal lines. */
export function peerReport(data, peer, h) {
  const { agg, ratio, fmtInt, fmtMs, fmtCpu, fmtRatio } = h;
  const met = (ok) => (ok === undefined ? "n/a" : ok ? "met" : "not met");
  const L = [];
  const shippedHash = describeArgon2(h.argon2);
  const matchedHash = describeArgon2(peer.matchedArgon2);
  const baHash = describeScrypt(peer.scrypt);
  L.push("");
  L.push(`### better-auth ${peer.version} on the same workerd`);
  L.push("");
  L.push(
    `better-auth = bench/better-auth/worker.mjs bundled by esbuild (the "workerd" export ` +
      `condition, nodejs_compat), plain Miniflare, D1, e-mail + password, sessions in D1, its ` +
      `cookie cache off (its default), its rate limiter off (as RATE_LIMITS=off here), the auth ` +
      `object built once per isolate. matched = the service with argon2id at scrypt's memory and ` +
      `SEND_ACTIVATION_EMAIL and SEND_CONFIRMATION_EMAIL off. Every flow is loaded with autocannon ` +
      `(${h.connections} connections), the pair of runs back to back in each round.`,
  );
  L.push("");
  L.push(
    "| flow | better-auth | its hash | req/s | p50 ms | p99 ms | server CPU ms/req | ours | our hash | req/s | p50 ms | p99 ms | server CPU ms/req | ours / better-auth req/s | unexpected |",
  );
  L.push("|---|---|---|--:|--:|--:|--:|---|---|--:|--:|--:|--:|--:|--:|");
  const rows = [
    ["sign-up", "signup", "POST /api/auth/sign-up/email", baHash, "matched", "signup", "POST /auth/users/ (no e-mail)", matchedHash],
    ["sign-up", "signup", "POST /api/auth/sign-up/email", baHash, "project", "register", "POST /auth/users/ (activation e-mail, console)", shippedHash],
    ["sign-in", "signin", "POST /api/auth/sign-in/email", baHash, "matched", "signin", "POST /auth/jwt/create/", matchedHash],
    ["sign-in", "signin", "POST /api/auth/sign-in/email", baHash, "project", "create", "POST /auth/jwt/create/", shippedHash],
    ["session check", "session", "GET /api/auth/get-session (cookie)", "–", "project", "session", "GET /auth/users/me/ (Bearer JWT)", "–"],
  ];
  const out = {};
  for (const [flow, baKey, baLabel, baH, target, key, label, ourH] of rows) {
    const b = agg("better-auth", baKey);
    const o = agg(target, key);
    const rr = ratio(key, target, baKey, "better-auth");
    out[`${target}:${key}`] = { b, o, rr };
    const same = target === "project" && key !== "session" ? " (shipped; main table's runs)" : "";
    L.push(
      `| ${flow} | ${baLabel} | ${baH} | ${fmtInt(b?.rps)} | ${fmtMs(b?.p50)} | ${fmtMs(b?.p99)} | ${fmtCpu(b?.cpuMs)} | ` +
        `${label}${same} | ${ourH} | ${fmtInt(o?.rps)} | ${fmtMs(o?.p50)} | ${fmtMs(o?.p99)} | ${fmtCpu(o?.cpuMs)} | ` +
        `${fmtRatio(rr)} | ${(b?.unexpected ?? 0) + (o?.unexpected ?? 0)} / ${fmtInt((b?.total ?? 0) + (o?.total ?? 0))} |`,
    );
  }
  L.push("");
  L.push(
    `What differs. Sign-up: better-auth inserts the user, its credential account and a session and ` +
      `answers the session cookie (autoSignIn, its default) and sends no e-mail (no verification ` +
      `configured); ours inserts one user and answers no token; the shipped service also renders ` +
      `an activation e-mail (EMAIL_BACKEND=console) and leaves the user inactive, the matched one ` +
      `sends nothing and the user is active. Sign-in: better-auth reads the user and its account, ` +
      `inserts a session row and sets a signed cookie; ours reads the user, writes the refresh ` +
      `token's record to KV, logs the login event and answers two JWTs. Session check: ` +
      `better-auth checks the cookie's HMAC and reads the session and its user from D1 on every ` +
      `request (no cookie cache); ours checks the JWT's signature and reads the user from D1.`,
  );
  L.push(
    `Hash strength is compared by memory-hard cost (bench/peer.mjs, hashStrength): scrypt holds ` +
      `128·r·N bytes and makes two passes over them, argon2id holds m KiB and makes t passes, so ` +
      `argon2id counts as at least as strong when m KiB ≥ 128·r·N bytes and t ≥ 2. better-auth's ` +
      `${baHash} holds ${mib(peer.strength.shipped.scryptKib)}; the shipped ${shippedHash} is ` +
      `${peer.strength.shipped.atLeastAsStrong ? "at least as strong" : "weaker by that measure"}, ` +
      `the matched ${matchedHash} is ${peer.strength.matched.atLeastAsStrong ? "at least as strong" : "weaker"}. ` +
      `better-auth's scrypt runs as native code in workerd (node:crypto), ours as WebAssembly.`,
  );
  const probe = (k) => {
    const xs = peer.probes.map((p) => p[k]).filter(Number.isFinite).sort((x, y) => x - y);
    return xs.length ? xs[Math.floor((xs.length - 1) / 2)] : NaN;
  };
  L.push(
    `One request at a time (median of ${h.probes} sequential requests per round, median over ` +
      `rounds; no queueing): sign-in better-auth ${fmtMs(probe("signin"))} ms · matched ` +
      `${fmtMs(probe("matchedSignin"))} ms · shipped ${fmtMs(probe("shippedSignin"))} ms; session ` +
      `check better-auth ${fmtMs(probe("session"))} ms · users/me ${fmtMs(probe("me"))} ms.`,
  );
  const signin = out["matched:signin"];
  const session = out["project:session"];
  const cpuOk = Number.isFinite(signin.o?.cpuMs) && Number.isFinite(signin.b?.cpuMs)
    ? signin.o.cpuMs < signin.b.cpuMs
    : undefined;
  const rpsOk = Number.isFinite(session.rr) ? session.rr > 1 : undefined;
  const goals = [
    [
      `lower server CPU per sign-in than better-auth at a hash at least as strong (matched ${matchedHash} vs ${baHash})`,
      `${fmtCpu(signin.o?.cpuMs)} ms vs ${fmtCpu(signin.b?.cpuMs)} ms`,
      cpuOk,
    ],
    [
      "higher req/s on the session check than better-auth (users/me with a Bearer JWT vs get-session with its cookie)",
      `${fmtInt(session.o?.rps)} vs ${fmtInt(session.b?.rps)} req/s (${fmtRatio(session.rr)})`,
      rpsOk,
    ],
  ];
  // The spread behind the medians, round by round (ours / better-auth).
  const perRound = (targetA, keyA, keyB, field, fmt) =>
    data.rounds
      .map((round) => {
        const a = data.runs.find((r) => r.round === round && r.target === targetA && r.endpoint === keyA);
        const b = data.runs.find((r) => r.round === round && r.target === "better-auth" && r.endpoint === keyB);
        return `${fmt(a?.[field])} / ${fmt(b?.[field])}`;
      })
      .join(", ");
  L.push(
    `Round by round, ours / better-auth: server CPU ms per sign-in (matched) ` +
      `${perRound("matched", "signin", "signin", "cpuMs", fmtCpu)}; session check req/s ` +
      `${perRound("project", "session", "session", "rps", fmtInt)}.`,
  );
  L.push("");
  L.push("| goal (issue #16) | measured | verdict |");
  L.push("|---|--:|:-:|");
  for (const [name, value, ok] of goals) L.push(`| ${name} | ${value} | ${met(ok)} |`);
  return { text: L.join("\n") + "\n", goals };
}
