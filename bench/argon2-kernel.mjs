// argon2id inside workerd against the same hash natively, at the service's cost (OWASP's
// m=19456 t=2 p=1): the figure behind the budget "argon2id in workerd ≤ 1.3× native".
//
// In ROUNDS (default 5) rounds, back to back:
//   - natively, the argon2 crate at opt-level 3 (bench/argon2-native, N hashes, its median): as
//     the service called it before (a fresh allocation per hash) and in reused memory (as
//     edge-argon2id runs: no page faults, only the algorithm);
//   - inside workerd (Miniflare), the probe (src/edge-argon2id/examples/probe.rs): N hashes by
//     edge-argon2id, the SIMD kernel the Worker ships, and N by the argon2 crate's scalar code, the
//     hashing the Worker used before, each in one request: wall time and the workerd process's CPU
//     time (from /proc) per hash.
// Prints the medians over the rounds (minimums in brackets), the ratios and the budget line.
// Run: `npm run bench:argon2-kernel` (about 30 s); ROUNDS and N (default 20) may be set.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { startProbe } from "./probe.mjs";
import { childPids, cpuMeter } from "./proc.mjs";
import { ROOT } from "./worker.mjs";
import { median } from "./stats.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const N = Number(process.env.N ?? 20);
const [M, T] = [19_456, 2];
const BUDGET = 1.3;

const fmt = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)})`;

// The native timer (host toolchain, even on the Debian wasm route) and the probe in workerd.
execFileSync("bash", [join(ROOT, "scripts/build-native-argon2.sh")], { stdio: "inherit" });
const nativeBin = join(ROOT, "bench/argon2-native/target/release/argon2-native");

const before = new Set(childPids(process.pid, "workerd"));
const probe = await startProbe();
const mine = childPids(process.pid, "workerd").filter((pid) => !before.has(pid));
if (mine.length !== 1) throw new Error(`expected one new workerd process, found ${mine.length}`);
const cpu = cpuMeter(() => mine);

/** `n` hashes by the probe's export `name` in one request: { wall, cpu } ms per hash. */
async function inWorkerd(name, n) {
  const [c0, t0] = [cpu(), performance.now()];
  const tag = await probe.call(name, n, M, T);
  if (tag === 0) throw new Error(`${name} failed`);
  return { wall: (performance.now() - t0) / n, cpu: (cpu() - c0) / n, tag };
}

const rows = { native: [], nativeReuse: [], oursWall: [], oursCpu: [], crateWall: [], crateCpu: [] };
const nativeRun = (...extra) =>
  JSON.parse(execFileSync(nativeBin, [String(M), String(T), "1", String(N), ...extra], { encoding: "utf8" }));
try {
  // Warm-up: tier the wasm up to TurboFan and grow its memory before timing.
  const ours = await inWorkerd("hash_ours", 3);
  const theCrate = await inWorkerd("hash_crate", 3);
  if (ours.tag !== theCrate.tag) throw new Error("edge-argon2id and the argon2 crate disagree");
  for (let round = 0; round < ROUNDS; round++) {
    const native = nativeRun();
    rows.native.push(native.median_ms);
    rows.nativeReuse.push(nativeRun("reuse").median_ms);
    const a = await inWorkerd("hash_ours", N);
    const b = await inWorkerd("hash_crate", N);
    rows.oursWall.push(a.wall);
    rows.oursCpu.push(a.cpu);
    rows.crateWall.push(b.wall);
    rows.crateCpu.push(b.cpu);
    console.error(
      `round ${round + 1}/${ROUNDS}: native ${native.median_ms.toFixed(1)} ms, ` +
        `edge-argon2id ${a.cpu.toFixed(1)} ms CPU, argon2 crate in workerd ${b.cpu.toFixed(1)} ms CPU`,
    );
  }
} finally {
  await probe.dispose();
}

const native = median(rows.native);
const ratio = median(rows.oursCpu) / native;
const vs = (xs) => `${(median(xs) / native).toFixed(2)}× · ${(median(xs) / median(rows.nativeReuse)).toFixed(2)}×`;
console.log(`argon2id m=${M} t=${T} p=1, ms per hash: medians of ${ROUNDS} rounds of ${N} hashes (minimums)\n`);
console.log("| where | wall time | server CPU time | / native · / native in reused memory |");
console.log("|---|--:|--:|--:|");
console.log(`| natively: the argon2 crate, opt-level 3 (bench/argon2-native) | ${fmt(rows.native)} | — | 1 |`);
console.log(`| natively, in reused memory (no allocation per hash) | ${fmt(rows.nativeReuse)} | — | — |`);
console.log(
  `| workerd: the argon2 crate's scalar code (what the Worker used before) | ${fmt(rows.crateWall)} | ` +
    `${fmt(rows.crateCpu)} | ${vs(rows.crateCpu)} |`,
);
console.log(
  `| workerd: edge-argon2id, the simd128 kernel (what the Worker runs) | ${fmt(rows.oursWall)} | ` +
    `${fmt(rows.oursCpu)} | ${vs(rows.oursCpu)} |`,
);
console.log(
  `\nbudget: argon2id in workerd ≤ ${BUDGET}× native (server CPU median / native median): ` +
    `${ratio <= BUDGET ? "met" : "not met"} (${ratio.toFixed(2)}×)`,
);
