// Answer times of known vs unknown accounts, with a slow mail provider: does the answer time
// tell an attacker whether an address or a username exists?
//
// Serves build/ under plain Miniflare with the webhook e-mail backend pointed at a provider that
// takes MAIL_DELAY_MS (default 300) to answer, and the production argon2 cost. For each pair of
// cases it sends ROUNDS (default 40) requests of each, interleaved, one at a time, and prints the
// median answer time of both and their difference. Run: `npm run bench:timing` (after a build).
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { startWorker } from "./worker.mjs";
import { median } from "./stats.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 40);
const MAIL_DELAY_MS = Number(process.env.MAIL_DELAY_MS ?? 300);
const WEBHOOK = "http://mail.bench/send";

const mf = await startWorker(
  {
    SIGNING_KEY: randomBytes(48).toString("base64url"),
    EMAIL_BACKEND: "webhook",
    EMAIL_WEBHOOK_URL: WEBHOOK,
    PROTOCOL: "https",
    RATE_LIMITS: "off",
  },
  {
    outboundService: async () => {
      await new Promise((r) => setTimeout(r, MAIL_DELAY_MS));
      return new Response("{}", { status: 200 });
    },
  },
);
const db = await mf.getD1Database("DB");

async function post(path, json) {
  const started = performance.now();
  const res = await mf.dispatchFetch(`http://localhost${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(json),
  });
  await res.arrayBuffer();
  return { ms: performance.now() - started, status: res.status };
}

// Accounts: an active one, one waiting for activation, one with a Django hash (870,000
// iterations, Django 5.2's default), one with an unusable password.
const password = "Bench-pw-24680";
const salt = randomBytes(8).toString("hex");
const django = `pbkdf2_sha256$870000$${salt}$${pbkdf2Sync(password, salt, 870000, 32, "sha256").toString("base64")}`;
const insert = "INSERT INTO users (username, email, email_key, password, is_active, activation_pending, date_joined) VALUES (?, ?, ?, ?, ?, ?, 0)";
const reg = await post("/auth/users/", { username: "known", email: "known@example.com", password });
if (reg.status !== 201) throw new Error(`register: ${reg.status}`);
await db.prepare("UPDATE users SET is_active = 1, activation_pending = 0 WHERE username = 'known'").run();
await post("/auth/users/", { username: "waiting", email: "waiting@example.com", password });
await db.prepare(insert).bind("migrated", "migrated@example.com", "migrated@example.com", django, 1, 0).run();
await db.prepare(insert).bind("unusable", "unusable@example.com", "unusable@example.com", "!no-password", 1, 0).run();


const pairs = [
  ["reset_password", "/auth/users/reset_password/", { email: "known@example.com" }, { email: "nobody@example.com" }],
  ["resend_activation", "/auth/users/resend_activation/", { email: "waiting@example.com" }, { email: "nobody@example.com" }],
  ["reset_username", "/auth/users/reset_username/", { email: "known@example.com" }, { email: "nobody@example.com" }],
  ["jwt/create, wrong password", "/auth/jwt/create/", { username: "known", password: "wrong-pw-1" }, { username: "nobody", password: "wrong-pw-1" }],
  ["jwt/create, unusable password", "/auth/jwt/create/", { username: "unusable", password: "wrong-pw-1" }, { username: "nobody", password: "wrong-pw-1" }],
  ["jwt/create, Django hash (first try)", "/auth/jwt/create/", { username: "migrated", password: "wrong-pw-1" }, { username: "nobody", password: "wrong-pw-1" }],
];

console.log(`mail provider delay ${MAIL_DELAY_MS} ms, ${ROUNDS} rounds per case, production argon2 cost\n`);
console.log("| endpoint | known (median ms) | unknown (median ms) | difference |");
console.log("|---|---|---|---|");
for (const [name, path, known, unknown] of pairs) {
  const a = [];
  const b = [];
  for (let i = 0; i < ROUNDS; i++) {
    a.push((await post(path, known)).ms);
    b.push((await post(path, unknown)).ms);
  }
  const [ma, mb] = [median(a), median(b)];
  const diff = ((ma - mb) / Math.min(ma, mb)) * 100;
  console.log(`| ${name} | ${ma.toFixed(1)} | ${mb.toFixed(1)} | ${diff >= 0 ? "+" : ""}${diff.toFixed(0)}% |`);
}
await mf.dispose();
