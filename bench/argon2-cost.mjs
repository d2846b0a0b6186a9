// What a login costs at a few argon2id settings, for choosing ARGON2_MEMORY_KIB and
// ARGON2_ITERATIONS on a plan with a small CPU limit (README "The Workers CPU limit").
//
// Serves build/ under plain Miniflare (local workerd) as bench/timing.mjs does. For each setting
// it registers one user, then times ROUNDS (default 30) logins (`POST /auth/jwt/create/`: one
// argon2id verification) one at a time, and as a baseline the same number of
// `POST /auth/jwt/verify/` calls (no hash). It prints the medians and their difference, about the
// hash's time on this machine; Cloudflare's machines differ, so treat them as relative.
// Run: `npm run bench:argon2` (after a build).
import { randomBytes } from "node:crypto";
import { discardOutput, startWorker } from "./worker.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 30);
const SETTINGS = [
  [19456, 2],
  [12288, 3],
  [9216, 4],
  [7168, 5],
  [4096, 3],
  [4096, 1],
  [2048, 1],
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function measure(memory, iterations) {
  const mf = await startWorker(
    {
      SIGNING_KEY: randomBytes(48).toString("base64url"),
      EMAIL_BACKEND: "webhook",
      EMAIL_WEBHOOK_URL: "http://mail.bench/send",
      SEND_ACTIVATION_EMAIL: "false",
      RATE_LIMITS: "off",
      ARGON2_MEMORY_KIB: String(memory),
      ARGON2_ITERATIONS: String(iterations),
    },
    { outboundService: async () => new Response("{}", { status: 200 }), handleRuntimeStdio: discardOutput },
  );
  try {
    const post = async (path, json) => {
      const started = performance.now();
      const res = await mf.dispatchFetch(`http://localhost${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(json),
      });
      const body = await res.text();
      return { ms: performance.now() - started, status: res.status, body };
    };
    const password = "Bench-pw-24680";
    const reg = await post("/auth/users/", { username: "bench", email: "bench@example.com", password });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.body}`);
    const first = await post("/auth/jwt/create/", { username: "bench", password });
    if (first.status !== 200) throw new Error(`login: ${first.status} ${first.body}`);
    const token = JSON.parse(first.body).access;
    const login = [];
    const verify = [];
    for (let i = 0; i < ROUNDS; i++) {
      login.push((await post("/auth/jwt/create/", { username: "bench", password })).ms);
      verify.push((await post("/auth/jwt/verify/", { token })).ms);
    }
    return { login: median(login), verify: median(verify) };
  } finally {
    await mf.dispose();
  }
}

console.log(`${ROUNDS} logins per setting, medians in ms (local workerd)\n`);
console.log("| ARGON2_MEMORY_KIB | ARGON2_ITERATIONS | login | jwt/verify (no hash) | difference ≈ the hash |");
console.log("|---|---|---|---|---|");
for (const [memory, iterations] of SETTINGS) {
  const { login, verify } = await measure(memory, iterations);
  console.log(`| ${memory} | ${iterations} | ${login.toFixed(1)} | ${verify.toFixed(1)} | ${(login - verify).toFixed(1)} |`);
}
