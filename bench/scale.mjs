// Scale mode (`BENCH_SCALE=1 npm run bench`, or `node bench/scale.mjs` after `npm run build`):
// does the service stay as fast on a database of a million rows a table as on an empty one?
//
// Two instances of the built Worker under Miniflare (local workerd, D1 and KV in memory), the
// same settings: one keeps an empty database, the other is filled with bulk SQL (not HTTP) with
//   1,000,000 users, 1,000,000 spent refresh tokens (expired: the purge's work),
//   1,000,000 live throttle rows, 1,000,000 session events.
// Both get one real user made through the API. Then, in interleaved rounds, sequential requests
// (one at a time, so a median is the cost of one request) of users/me, jwt/create, jwt/refresh and
// users/reset_password on each; the figure per endpoint is the median over rounds of the ratio
// full / empty of that round's medians. Goal: every ratio ≤ 1.15.
// Last, the scheduled purge runs on the full instance until a run reports it is complete: runs,
// rows, time per run and the statements one run sends (D1's per-invocation limit counts them).
//
// Throttling is on (its counters are looked up in the 1,000,000-row table) with limits too high
// to refuse; the hash is argon2id at m=256 KiB t=1, so that jwt/create measures the storage around
// the hash (the hash's cost does not depend on the size of any table).
// Knobs: SCALE_ROWS (1000000), SCALE_ROUNDS (5), SCALE_N (60 requests per endpoint and round).
import { performance } from "node:perf_hooks";
import { discardOutput, startWorker } from "./worker.mjs";
import { median } from "./stats.mjs";

const ROWS = Number(process.env.SCALE_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.SCALE_ROUNDS ?? 5);
const N = Number(process.env.SCALE_N ?? 60);
const BUDGET = 1.15;
const PASSWORD = "scale-Pa55word-long";
const log = (...a) => console.error("[scale]", ...a);
const NOW = Math.floor(Date.now() / 1000);

const BINDINGS = {
  SIGNING_KEY: "scale-signing-key-0123456789abcdef0123456789abcdef",
  EMAIL_BACKEND: "console",
  SEND_ACTIVATION_EMAIL: "false",
  SEND_CONFIRMATION_EMAIL: "false",
  PASSWORD_RESET_CONFIRM_URL: "password/reset/confirm/{uid}/{token}",
  ACTIVATION_URL: "activate/{uid}/{token}",
  RATE_LIMITS: "on",
  RATE_LIMIT_LOGIN: "1000000/60",
  RATE_LIMIT_LOGIN_ACCOUNT: "1000000/3600",
  RATE_LIMIT_EMAIL: "1000000/3600",
  RATE_LIMIT_REFRESH: "1000000/60",
  ARGON2_MEMORY_KIB: "256",
  ARGON2_ITERATIONS: "1",
};

/** One instance: its Miniflare, its D1, and a request helper that fails on an unexpected status. */
async function instance(name) {
  const mf = await startWorker(BINDINGS, { handleRuntimeStdio: discardOutput });
  const db = await mf.getD1Database("DB");
  const call = async (method, path, body, headers = {}, expect = 200) => {
    const res = await mf.dispatchFetch(`http://localhost/auth/${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== expect) throw new Error(`${name} ${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : null;
  };
  return { name, mf, db, call };
}

/** `count` integers 1..count as a recursive CTE, for INSERT … SELECT. */
const series = (count) =>
  `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${count}) SELECT x FROM n`;

/** Fills the tables with bulk SQL; returns seconds per table. */
async function fill(db) {
  const hash = "$argon2id$v=19$m=256,t=1,p=1$c2NhbGVzYWx0c2NhbGU$2hJ1lVQm0o1F2t4f1vRkqNw7lqD9m7qyAzJt2Xh7d3A";
  const steps = [
    [
      "users",
      `INSERT INTO users (username, email, email_key, password, is_active, date_joined)
       SELECT 'bulk' || x, 'bulk' || x || '@example.com', 'bulk' || x || '@example.com', '${hash}', 1, ${NOW - 86400}
       FROM (${series(ROWS)})`,
    ],
    [
      "refresh_spent",
      `INSERT INTO refresh_spent (jti, family, user_id, spent_at, expires_at)
       SELECT lower(hex(randomblob(16))), 'fam' || (x / 4), CAST(1 + x % ${ROWS} AS TEXT), ${NOW - 2 * 86400}, ${NOW - 86400}
       FROM (${series(ROWS)})`,
    ],
    [
      "throttle",
      `INSERT INTO throttle (key, window_start, hits, expires_at)
       SELECT 'login:ip:' || (x % 250) || '.' || (x / 250 % 250) || '.' || (x / 62500) || '.9', ${NOW}, 1 + x % 5, ${NOW + 3600}
       FROM (${series(ROWS)})`,
    ],
    [
      "events",
      `INSERT INTO events (at, user_id, kind, session, ip, user_agent, country)
       SELECT ${NOW} - x % (30 * 86400), 1 + x % ${ROWS}, 'login', 'fam' || x, '203.0.113.0/24', 'scale-bench', 'NL'
       FROM (${series(ROWS)})`,
    ],
  ];
  const took = {};
  for (const [table, sql] of steps) {
    const t0 = performance.now();
    await db.prepare(sql).run();
    took[table] = (performance.now() - t0) / 1000;
    const { n } = await db.prepare(`SELECT count(*) AS n FROM ${table}`).first();
    log(`${table}: ${n} rows in ${took[table].toFixed(1)} s`);
    if (n < ROWS) throw new Error(`${table}: ${n} rows, expected at least ${ROWS}`);
  }
  return took;
}

/** A real, active user made through the API; returns its username and e-mail. */
async function realUser(inst) {
  const user = { username: "scaleuser", email: "scaleuser@example.com", password: PASSWORD };
  await inst.call("POST", "users/", { ...user, re_password: PASSWORD }, {}, 201);
  await inst.db.prepare("UPDATE users SET is_active = 1 WHERE username = ?1").bind(user.username).run();
  return user;
}

/** Median latency (ms) of `n` sequential requests built by `build` (a fresh request each time). */
async function sequential(n, build) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const run = await build();
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** The endpoints, each a function of the instance state returning a request to time. */
function endpoints(inst, user) {
  let access = null;
  const pool = [];
  const login = () => inst.call("POST", "jwt/create/", { username: user.username, password: PASSWORD });
  return {
    async prepare() {
      const t = await login();
      access = t.access;
    },
    me: async () => () => inst.call("GET", "users/me/", undefined, { authorization: `Bearer ${access}` }),
    create: async () => login,
    refresh: async () => {
      const token = pool.pop() ?? (await login()).refresh;
      return async () => {
        const t = await inst.call("POST", "jwt/refresh/", { refresh: token });
        pool.push(t.refresh);
      };
    },
    reset_password: async () => () =>
      inst.call("POST", "users/reset_password/", { email: user.email }, {}, 204),
  };
}

/** The scheduled purge until it says it is complete; counts the statements of one run. */
async function purgeAll(inst) {
  const worker = await inst.mf.getWorker();
  const left = async () =>
    (await inst.db.prepare(`SELECT count(*) AS n FROM refresh_spent WHERE expires_at < ${NOW}`).first()).n;
  const before = await left();
  const runs = [];
  for (let i = 0; i < 10_000; i++) {
    const n0 = await left();
    if (n0 === 0) break;
    const t0 = performance.now();
    await worker.scheduled({ cron: "17 * * * *" });
    runs.push({ ms: performance.now() - t0, rows: n0 - (await left()) });
  }
  const live = (await inst.db.prepare("SELECT count(*) AS n FROM throttle").first()).n;
  return { before, after: await left(), runs, liveThrottleKept: live };
}

async function main() {
  log(`${ROWS} rows a table; ${ROUNDS} rounds of ${N} sequential requests per endpoint`);
  const empty = await instance("empty");
  const full = await instance("full");
  const t0 = performance.now();
  const fillTimes = await fill(full.db);
  const fillSeconds = (performance.now() - t0) / 1000;
  const targets = [];
  for (const inst of [empty, full]) targets.push(endpoints(inst, await realUser(inst)));
  const keys = ["me", "create", "refresh", "reset_password"];
  const figures = Object.fromEntries(keys.map((k) => [k, { empty: [], full: [], ratio: [] }]));
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    for (const t of targets) await t.prepare();
    for (const key of keys) {
      const order = round % 2 ? [0, 1] : [1, 0];
      const m = [];
      for (const i of order) m[i] = await sequential(N, targets[i][key]);
      figures[key].empty.push(m[0]);
      figures[key].full.push(m[1]);
      figures[key].ratio.push(m[1] / m[0]);
    }
  }
  log("purging the expired spent tokens of the full instance");
  const purge = await purgeAll(full);
  await empty.mf.dispose();
  await full.mf.dispose();

  const names = {
    me: "GET users/me/",
    create: "POST jwt/create/",
    refresh: "POST jwt/refresh/",
    reset_password: "POST users/reset_password/",
  };
  const out = [];
  out.push(`Filled ${ROWS.toLocaleString("en")} rows into each of users, refresh_spent, throttle and events in ` +
    `${fillSeconds.toFixed(0)} s (${Object.entries(fillTimes).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(", ")}).`);
  out.push("");
  out.push(`| endpoint | empty DB p50 ms | ${ROWS.toLocaleString("en")}-row DB p50 ms | ratio (median of rounds) | budget ≤ 1.15 |`);
  out.push("|---|---|---|---|---|");
  let allMet = true;
  for (const key of keys) {
    const f = figures[key];
    const ratio = median(f.ratio);
    const met = ratio <= BUDGET;
    allMet &&= met;
    out.push(`| ${names[key]} | ${median(f.empty).toFixed(2)} | ${median(f.full).toFixed(2)} | ${ratio.toFixed(3)} | ${met ? "met" : "NOT met"} |`);
  }
  const runMs = purge.runs.map((r) => r.ms);
  const perRun = purge.runs.length ? median(purge.runs.map((r) => r.rows)) : 0;
  out.push("");
  out.push(`Purge: ${purge.before.toLocaleString("en")} expired spent-token rows removed in ${purge.runs.length} scheduled runs ` +
    `(${perRun.toLocaleString("en")} rows a run, median ${median(runMs).toFixed(0)} ms a run, slowest ${Math.max(...runMs).toFixed(0)} ms), ` +
    `${purge.after} left; the ${purge.liveThrottleKept.toLocaleString("en")} live throttle rows kept. ` +
    "One run makes at most 40 D1 calls (20 batches of 6 bounded DELETEs, 20 event DELETEs).");
  out.push(`Budgets: ${allMet ? "every endpoint within 15% of its empty-database figure" : "NOT every endpoint within 15%"}.`);
  console.log(out.join("\n"));
  if (purge.after !== 0) throw new Error("the purge left expired rows");
}

main().catch((e) => {
  log(`failed: ${e.stack ?? e}`);
  process.exit(1);
});
