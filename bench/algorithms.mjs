// What each ALGORITHM costs per request: the built Worker under Miniflare (local workerd, D1 and
// KV in memory), one Worker per algorithm, sequential requests (one at a time, so the mean is the
// cost of one request), interleaved rounds. `node bench/algorithms.mjs` after `npm run build`.
import { generateKeyPairSync } from "node:crypto";
import { discardOutput, startWorker } from "./worker.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const N = Number(process.env.N ?? 300);

function jwks(alg) {
  if (alg === "HS256") return {};
  const pair =
    alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  const jwk = pair.privateKey.export({ format: "jwk" });
  return { ALGORITHM: alg, JWT_PRIVATE_JWKS: JSON.stringify({ keys: [{ ...jwk, state: "active" }] }) };
}

async function start(alg) {
  const mf = await startWorker(
    {
      SIGNING_KEY: "bench-signing-key-0123456789abcdef0123456789abcdef",
      SEND_ACTIVATION_EMAIL: "false",
      SEND_CONFIRMATION_EMAIL: "false",
      EMAIL_BACKEND: "console",
      RATE_LIMITS: "off",
      ARGON2_MEMORY_KIB: "256",
      ARGON2_ITERATIONS: "1",
      ...jwks(alg),
    },
    { handleRuntimeStdio: discardOutput },
  );
  const call = async (method, path, json, auth) => {
    const res = await mf.dispatchFetch(`http://localhost${path}`, {
      method,
      headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await res.text();
    if (res.status !== 200 && res.status !== 201) throw new Error(`${alg} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
  const user = { username: `bench${alg}`, password: "Bench-password-123", email: `b${alg}@example.com` };
  await call("POST", "/auth/users/", user);
  const pair = await call("POST", "/auth/jwt/create/", user);
  return { mf, call, pair, refresh: pair.refresh };
}

async function timed(fn) {
  for (let i = 0; i < 20; i++) await fn(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn();
  return (performance.now() - t0) / N;
}

const algs = ["HS256", "ES256", "EdDSA"];
const apps = {};
for (const alg of algs) apps[alg] = await start(alg);
const results = Object.fromEntries(algs.map((a) => [a, { verify: [], me: [], refresh: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const alg of algs) {
    const { call, pair } = apps[alg];
    results[alg].verify.push(await timed(() => call("POST", "/auth/jwt/verify/", { token: pair.access })));
    results[alg].me.push(await timed(() => call("GET", "/auth/users/me/", undefined, pair.access)));
    // One rotation chain per Worker across rounds: a spent token cannot be refreshed again.
    results[alg].refresh.push(
      await timed(async () => {
        apps[alg].refresh = (await call("POST", "/auth/jwt/refresh/", { refresh: apps[alg].refresh })).refresh;
      }),
    );
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| ALGORITHM | jwt/verify ms | users/me ms | jwt/refresh ms (1 verify + 2 signs) |`);
console.log(`|---|--:|--:|--:|`);
for (const alg of algs) {
  const r = results[alg];
  console.log(`| ${alg} | ${median(r.verify).toFixed(3)} | ${median(r.me).toFixed(3)} | ${median(r.refresh).toFixed(3)} |`);
}
for (const alg of algs) await apps[alg].mf.dispose();
