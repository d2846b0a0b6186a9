// The argon2id kernel's probe (src/edge-argon2id/examples/probe.rs) inside workerd: built for
// wasm32 with the Worker's target features by scripts/build-probe.sh, served by a plain Miniflare
// whose one route calls an export. Used by bench/argon2-kernel.mjs and tests/argon2-simd.spec.ts.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { ROOT } from "./worker.mjs";

/** Builds the probe (quick when it is up to date) and starts it: `call(name, ...ints)` runs the
 * export `name` and returns its u32 result. */
export async function startProbe() {
  const out = execFileSync("bash", [join(ROOT, "scripts/build-probe.sh")], { encoding: "utf8" });
  const wasm = out.trim().split("\n").pop();
  const mf = new Miniflare({
    compatibilityDate: "2026-04-01",
    modules: [
      {
        type: "ESModule",
        path: "probe.mjs",
        contents: `
          import module from "./probe.wasm";
          const probe = new WebAssembly.Instance(module, {}).exports;
          export default {
            fetch(request) {
              const url = new URL(request.url);
              const args = url.searchParams.get("args").split(",").map(Number);
              return new Response(String(probe[url.pathname.slice(1)](...args) >>> 0));
            },
          };`,
      },
      { type: "CompiledWasm", path: "probe.wasm", contents: readFileSync(wasm) },
    ],
  });
  await mf.ready;
  const call = async (name, ...args) => {
    const res = await mf.dispatchFetch(`http://probe/${name}?args=${args.join(",")}`);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`probe ${name}: ${res.status} ${text}`);
    return Number(text);
  };
  return { call, dispose: () => mf.dispose() };
}
