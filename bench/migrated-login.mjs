// The first login of a user moved over from Django, per hash format, inside workerd: the
// Worker verifies the Django hash (pbkdf2_sha256 at Django 5.2's 1,000,000 rounds, argon2 at
// Django's m=100 MiB/t=2/p=8, bcrypt_sha256 at cost 12) and re-hashes it to argon2id at the
// shipped cost; the second login pays argon2id only. The hashes are the fixture's, made by
// real Django (tests/fixtures/django). The work is pure computation in one request, so its
// answer time is its CPU time; the best of ROUNDS (default 5) is printed, the least disturbed
// by other processes. Run: `bash scripts/build.sh && node bench/migrated-login.mjs`.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startWorker } from "./worker.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const FIXTURE = join(ROOT, "tests", "fixtures", "django");
const dump = JSON.parse(readFileSync(join(FIXTURE, "dump.json"), "utf8"));
const known = JSON.parse(readFileSync(join(FIXTURE, "known.json"), "utf8"));

const mf = await startWorker({
  SIGNING_KEY: randomBytes(48).toString("base64url"),
  EMAIL_BACKEND: "console",
  RATE_LIMITS: "off",
});
const db = await mf.getD1Database("DB");

async function login(username, password) {
  const started = performance.now();
  const res = await mf.dispatchFetch("http://localhost/auth/jwt/create/", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  await res.text();
  if (res.status !== 200) throw new Error(`${username}: ${res.status}`);
  return performance.now() - started;
}

let n = 0;
for (const hasher of ["pbkdf2_sha256", "argon2", "bcrypt_sha256"]) {
  const [name, user] = Object.entries(known.users).find(([, u]) => u.hasher === hasher);
  const hash = dump.find((r) => r.model === "auth.user" && r.fields.username === name).fields.password;
  const first = [];
  const second = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    n += 1;
    await db
      .prepare("INSERT INTO users (username, password, is_active, date_joined) VALUES (?, ?, 1, 0)")
      .bind(`u${n}`, hash)
      .run();
    first.push(await login(`u${n}`, user.password));
    second.push(await login(`u${n}`, user.password));
  }
  const best = (xs) => Math.min(...xs).toFixed(0);
  console.log(`${hasher.padEnd(14)} first login ${best(first)} ms, next login (argon2id) ${best(second)} ms`);
}
await mf.dispose();
