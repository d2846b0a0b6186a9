// What each ALGORITHM costs per request: the built Worker under Miniflare (local workerd, D1 and
// KV in memory), one Worker per algorithm, sequential requests (one at a time, so the mean is the
// cost of one request), interleaved rounds. `node bench/algorithms.mjs` after `npm run build`.
// One more Worker runs HS256 in cookie mode (JWT_AUTH_COOKIE): sign-in sets three cookies,
// users/me reads the access cookie, refresh sets the rotated cookies.
// Sign-in runs at argon2id m=256 KiB t=1, so that its column shows what the JWT work adds to a
// login; the hash at the shipped cost is measured by bench/run.mjs.
import { generateKeyPairSync } from "node:crypto";
import { discardOutput, startWorker } from "./worker.mjs";
import { median } from "./stats.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const N = Number(process.env.N ?? 300);

function jwks(alg) {
  if (alg === "HS256") return {};
  const pair =
    alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  const jwk = pair.privateKey.export({ format: "jwk" });
  return { ALGORITHM: alg, JWT_PRIVATE_JWKS: JSON.stringify({ keys: [{ ...jwk, state: "active" }] }) };
}

const COOKIES = { JWT_AUTH_COOKIE: "__Host-access", JWT_AUTH_REFRESH_COOKIE: "__Secure-refresh" };

async function start(name) {
  const cookies = name.endsWith("+cookies");
  const alg = cookies ? name.slice(0, -"+cookies".length) : name;
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
      ...(cookies ? COOKIES : {}),
    },
    { handleRuntimeStdio: discardOutput },
  );
  // In cookie mode the access token travels as the access cookie instead of a Bearer header.
  const credential = (auth) =>
    !auth ? {} : cookies ? { cookie: `${COOKIES.JWT_AUTH_COOKIE}=${auth}` } : { authorization: `Bearer ${auth}` };
  const call = async (method, path, json, auth) => {
    const res = await mf.dispatchFetch(`http://localhost${path}`, {
      method,
      headers: { "content-type": "application/json", ...credential(auth) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await res.text();
    if (res.status !== 200 && res.status !== 201) throw new Error(`${name} ${path}: ${res.status} ${text}`);
    const body = JSON.parse(text);
    // HttpOnly cookie mode answers `"refresh": ""`: the token is in the refresh cookie.
    if (cookies && body.refresh === "") body.refresh = refreshCookie(res);
    return body;
  };
  const tag = name.replace(/\W/g, "");
  const user = { username: `bench${tag}`, password: "Bench-password-123", email: `b${tag}@example.com` };
  await call("POST", "/auth/users/", user);
  const pair = await call("POST", "/auth/jwt/create/", user);
  if (!pair.refresh || !pair.access) throw new Error(`${name}: no token pair`);
  return { mf, call, user, pair, refresh: pair.refresh };
}

function refreshCookie(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const [k, v] = pair.split("=");
    if (k === COOKIES.JWT_AUTH_REFRESH_COOKIE && v) return v;
  }
  throw new Error("cookie mode: no refresh cookie");
}

async function timed(fn) {
  for (let i = 0; i < 20; i++) await fn(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn();
  return (performance.now() - t0) / N;
}

const algs = ["HS256", "ES256", "EdDSA", "HS256+cookies"];
const apps = {};
for (const alg of algs) apps[alg] = await start(alg);
const results = Object.fromEntries(algs.map((a) => [a, { verify: [], me: [], refresh: [], create: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const alg of algs) {
    const { call, pair, user } = apps[alg];
    results[alg].verify.push(await timed(() => call("POST", "/auth/jwt/verify/", { token: pair.access })));
    results[alg].me.push(await timed(() => call("GET", "/auth/users/me/", undefined, pair.access)));
    results[alg].create.push(await timed(() => call("POST", "/auth/jwt/create/", user)));
    // One rotation chain per Worker across rounds: a spent token cannot be refreshed again.
    results[alg].refresh.push(
      await timed(async () => {
        apps[alg].refresh = (await call("POST", "/auth/jwt/refresh/", { refresh: apps[alg].refresh })).refresh;
      }),
    );
  }
}
console.log(`| ALGORITHM | jwt/verify ms | users/me ms | jwt/refresh ms (1 verify + 2 signs) | sign-in ms (argon2id m=256 KiB t=1) |`);
console.log(`|---|--:|--:|--:|--:|`);
for (const alg of algs) {
  const r = results[alg];
  const cells = [r.verify, r.me, r.refresh, r.create].map((xs) => median(xs).toFixed(3));
  console.log(`| ${alg === "HS256+cookies" ? "HS256, cookie mode" : alg} | ${cells.join(" | ")} |`);
}
for (const alg of algs) await apps[alg].mf.dispose();
