// Bundles bench/better-auth/worker.mjs with esbuild (from node_modules) into
// bench/better-auth/build/index.js, resolving packages as wrangler does for a Worker: the
// "workerd", "worker" and "browser" export conditions, `node:*` left to the runtime
// (nodejs_compat). Skips the work when the bundle is newer than its inputs.
import { build } from "esbuild";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
export const BETTER_AUTH_BUILD = join(HERE, "build");
const OUTFILE = join(BETTER_AUTH_BUILD, "index.js");

/** better-auth's version as installed (the one pinned in package.json). */
export function betterAuthVersion() {
  return JSON.parse(readFileSync(join(ROOT, "node_modules/better-auth/package.json"), "utf8")).version;
}

export async function buildBetterAuth() {
  const inputs = [join(HERE, "worker.mjs"), join(HERE, "build.mjs"), join(ROOT, "package-lock.json")];
  if (existsSync(OUTFILE)) {
    const built = statSync(OUTFILE).mtimeMs;
    if (inputs.every((f) => statSync(f).mtimeMs < built)) return OUTFILE;
  }
  await build({
    entryPoints: [join(HERE, "worker.mjs")],
    outfile: OUTFILE,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    external: ["node:*", "cloudflare:*"],
    logLevel: "warning",
  });
  return OUTFILE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildBetterAuth();
  console.error(`[bench] better-auth ${betterAuthVersion()} bundled into ${out}`);
}
