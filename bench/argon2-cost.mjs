// What a login costs at a few argon2id settings, for choosing ARGON2_MEMORY_KIB and
// ARGON2_ITERATIONS on a plan with a small CPU limit (README "The Workers CPU limit").
//
// Serves build/ under plain Miniflare (local workerd) as bench/timing.mjs does. For each setting
// it registers one user, then times ROUNDS (default 30) logins (`POST /auth/jwt/create/`: one
// argon2id verification) one at a time, and as a baseline the same number of
// `POST /auth/jwt/verify/` calls (no hash). It prints the medians and their difference, about the
// hash's time on this machine; Cloudflare's machines differ, so treat them as relative. The
// minimums are printed too: on a shared machine they are the steadier figure.
// Run: `npm run bench:argon2` (after a build); `SETTINGS=19456:2,4096:3` picks the settings.
import { randomBytes } from "node:crypto";
import { childPids, procStat } from "./proc.mjs";
import { discardOutput, startWorker } from "./worker.mjs";
import { median } from "./stats.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 30);
const SETTINGS = process.env.SETTINGS
  ? process.env.SETTINGS.split(",").map((s) => s.split(":").map(Number))
  : [
  [19456, 2],
  [12288, 3],
  [9216, 4],
  [7168, 5],
  [4096, 3],
  [4096, 1],
  [2048, 1],
];
const min = (xs) => Math.min(...xs);

/** The workerd processes this process started. */
const workerdChildren = () => childPids(process.pid, "workerd");


async function measure(memory, iterations) {
  const before = new Set(workerdChildren());
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
    // Server CPU per request: the same requests again in two runs of ROUNDS, read around each.
    const mine = workerdChildren().filter((pid) => !before.has(pid));
    const cpu = () => mine.reduce((sum, pid) => sum + (procStat(pid)?.cpuMs ?? 0), 0);
    let cpuLogin = NaN;
    let cpuVerify = NaN;
    if (mine.length === 1) {
      let start = cpu();
      for (let i = 0; i < ROUNDS; i++) await post("/auth/jwt/create/", { username: "bench", password });
      cpuLogin = (cpu() - start) / ROUNDS;
      start = cpu();
      for (let i = 0; i < ROUNDS; i++) await post("/auth/jwt/verify/", { token });
      cpuVerify = (cpu() - start) / ROUNDS;
    }
    return {
      login: median(login),
      verify: median(verify),
      loginMin: min(login),
      verifyMin: min(verify),
      cpuLogin,
      cpuVerify,
    };
  } finally {
    await mf.dispose();
  }
}

console.log(`${ROUNDS} logins per setting, medians (minimums) in ms (local workerd)\n`);
console.log(
  "| ARGON2_MEMORY_KIB | ARGON2_ITERATIONS | login | jwt/verify (no hash) | difference ≈ the hash | server CPU ms: login − verify ≈ the hash |",
);
console.log("|---|---|---|---|---|---|");
for (const [memory, iterations] of SETTINGS) {
  const m = await measure(memory, iterations);
  const cell = (a, b) => `${a.toFixed(1)} (${b.toFixed(1)})`;
  console.log(
    `| ${memory} | ${iterations} | ${cell(m.login, m.loginMin)} | ${cell(m.verify, m.verifyMin)} | ` +
      `${cell(m.login - m.verify, m.loginMin - m.verifyMin)} | ` +
      `${m.cpuLogin.toFixed(1)} − ${m.cpuVerify.toFixed(1)} = ${(m.cpuLogin - m.cpuVerify).toFixed(1)} |`,
  );
}
