// The argon2id crate's wasm SIMD kernel inside workerd, against the argon2 crate (the hashing the
// service used before): the probe (src/edge-argon2id/examples/probe.rs), built for wasm32 with the
// Worker's target features, runs both on random inputs in the same isolate and counts the cases
// where they disagree. The host unit tests cover the portable kernel; this is the one the Worker
// runs.
import { randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startProbe } from "../bench/probe.mjs";

let probe: Awaited<ReturnType<typeof startProbe>> | undefined;

/** The probe's export `name` with integer arguments. */
const call = (name: string, ...args: number[]) => probe!.call(name, ...args);

beforeAll(async () => {
  probe = await startProbe();
}, 300_000);

afterAll(async () => {
  await probe?.dispose();
});

describe("argon2id SIMD kernel inside workerd", () => {
  test("it_agrees_with_the_argon2_crate_on_random_hashes_and_compressions", async () => {
    // Each case: a whole hash (any variant, version, 1-4 lanes, small cost, password, salt,
    // secret, associated data and tag length) and one compression of random blocks.
    for (let round = 0; round < 3; round++) {
      const seed = randomInt(2 ** 31);
      expect(await call("selftest", seed, 40, 0), `seed ${seed}`).toBe(0);
    }
  });

  test("a_corrupted_tag_is_counted_so_the_comparison_can_fail", async () => {
    expect(await call("selftest", randomInt(2 ** 31), 3, 1)).toBeGreaterThanOrEqual(1);
  });

  test("the_services_cost_gives_the_crates_tag", async () => {
    // OWASP's m=19456 t=2 p=1, the shipped ARGON2_MEMORY_KIB and ARGON2_ITERATIONS.
    const ours = await call("hash_ours", 1, 19_456, 2);
    expect(ours).not.toBe(0);
    expect(ours).toBe(await call("hash_crate", 1, 19_456, 2));
  });
});
