// The bench's better-auth peer (bench/peer.mjs, bench/better-auth/): the bundle serves its flows
// on D1, and the hash parameters the bench prints are the ones that produced the stored hash.
import { Miniflare } from "miniflare";
import { scryptSync } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The bench's own plain ES modules.
import { buildBetterAuth } from "../bench/better-auth/build.mjs";
import { betterAuthWorker, bundledScrypt, hashStrength } from "../bench/peer.mjs";
import { discardOutput } from "../bench/worker.mjs";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

let mf: Miniflare;
let base: string;
let bundle: string;
const password = "Peer-bench-0f3a9c-pass!";

beforeAll(async () => {
  bundle = await buildBetterAuth();
  const port = await freePort();
  mf = new Miniflare({
    ...betterAuthWorker(port),
    compatibilityDate: "2026-04-01",
    d1Databases: ["DB"],
    d1Persist: false,
    host: "127.0.0.1",
    port,
    handleRuntimeStdio: discardOutput,
  });
  base = (await mf.ready).origin;
  const res = await fetch(`${base}/__bench/migrate`, { method: "POST" });
  expect(res.status).toBe(200);
  expect((await res.json()).created).toEqual(expect.arrayContaining(["user", "account", "session"]));
});

afterAll(async () => {
  await mf?.dispose();
});

const post = (path: string, json: unknown) =>
  fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", origin: base },
    body: JSON.stringify(json),
  });

describe("better-auth peer", () => {
  it("stores the hash the bench names: scrypt with the parameters read from the bundle", async () => {
    const scrypt = bundledScrypt(bundle);
    const email = "hash-check@example.com";
    const res = await post("/api/auth/sign-up/email", { name: "hash check", email, password });
    expect(res.status).toBe(200);
    const db = await mf.getD1Database("DB");
    const row = await db
      .prepare(`SELECT a.password AS password FROM account a JOIN "user" u ON u.id = a.userId WHERE u.email = ?1`)
      .bind(email)
      .first<{ password: string }>();
    const [salt, key] = String(row?.password).split(":");
    const again = scryptSync(password.normalize("NFKC"), salt, scrypt.dkLen, {
      N: scrypt.N,
      r: scrypt.r,
      p: scrypt.p,
      maxmem: 4 * scrypt.bytes,
    });
    expect(again.toString("hex")).toBe(key);
    // A different cost gives a different key, so the comparison above can fail.
    const other = scryptSync(password.normalize("NFKC"), salt, scrypt.dkLen, {
      N: scrypt.N / 2,
      r: scrypt.r,
      p: scrypt.p,
      maxmem: 4 * scrypt.bytes,
    });
    expect(other.toString("hex")).not.toBe(key);
  });

  it("signs in and answers the session for its cookie, and nothing without it", async () => {
    const email = "session-check@example.com";
    expect((await post("/api/auth/sign-up/email", { name: "session check", email, password })).status).toBe(200);
    const wrong = await post("/api/auth/sign-in/email", { email, password: `${password}x` });
    expect(wrong.status).toBe(401);
    await wrong.arrayBuffer();
    const res = await post("/api/auth/sign-in/email", { email, password });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .find((c) => c.includes("session_token="));
    expect(cookie).toBeTruthy();
    const session = await fetch(`${base}/api/auth/get-session`, { headers: { cookie: cookie! } });
    expect(session.status).toBe(200);
    expect((await session.json()).user.email).toBe(email);
    const none = await fetch(`${base}/api/auth/get-session`);
    expect(await none.json()).toBeNull();
  });

  it("counts argon2id as at least as strong only at scrypt's memory or more, with t ≥ 2", () => {
    const scrypt = { N: 16384, r: 16, p: 1, dkLen: 64, bytes: 128 * 16 * 16384 };
    expect(hashStrength(scrypt, { m: 19456, t: 2, p: 1 }).atLeastAsStrong).toBe(false);
    expect(hashStrength(scrypt, { m: 32768, t: 2, p: 1 }).atLeastAsStrong).toBe(true);
    expect(hashStrength(scrypt, { m: 32768, t: 1, p: 1 }).atLeastAsStrong).toBe(false);
    expect(hashStrength(scrypt, { m: 65536, t: 3, p: 1 }).atLeastAsStrong).toBe(true);
  });
});
