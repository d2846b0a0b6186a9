// The built Worker (build/) under plain Miniflare, as the single-process benches serve it:
// local workerd, D1 and KV in memory, the migrations applied.
import { Miniflare } from "miniflare";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The statements of migrations/*.sql in order, comments stripped. */
export function migrations() {
  const out = [];
  for (const file of readdirSync(join(ROOT, "migrations")).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = readFileSync(join(ROOT, "migrations", file), "utf8")
      .split("\n")
      .map((l) => l.replace(/--.*$/, ""))
      .join("\n");
    for (const stmt of sql.split(";")) if (stmt.trim()) out.push(stmt.trim());
  }
  return out;
}

/** Reads the Worker's stdout and stderr and drops them: one JSON line a request would fill an
 * unread pipe and stall workerd mid-run. */
export function discardOutput(stdout, stderr) {
  stdout.resume();
  stderr.resume();
}

/** A Miniflare serving build/ with `bindings` (and any other `options`), migrations applied. */
export async function startWorker(bindings, options = {}) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(ROOT, "build/index.js"),
    modulesRoot: join(ROOT, "build"),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-04-01",
    d1Databases: ["DB"],
    kvNamespaces: ["AUTH_KV"],
    d1Persist: false,
    kvPersist: false,
    bindings,
    ...options,
  });
  const db = await mf.getD1Database("DB");
  await db.batch(migrations().map((stmt) => db.prepare(stmt)));
  return mf;
}
