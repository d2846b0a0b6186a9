// What the operator scripts share: the D1 target from the command line, `wrangler d1 execute`
// against it, and the host binaries (src/bin/) that turn input into SQL.
import { spawnSync } from "node:child_process";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const ENV = {
  ...process.env,
  PATH: `${join(homedir(), ".cargo", "bin")}:${process.env.PATH}`,
  // No telemetry, as scripts/bootstrap.sh sets it.
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_LOG_PATH: join(ROOT, ".cache", "wrangler-logs"),
};

/** Prints `message` and ends the process with status 1. */
export function die(message) {
  process.stderr.write(`${message.trimEnd()}\n`);
  process.exit(1);
}

/**
 * Takes `--remote` and `--persist-to DIR` out of `args` (in place): the D1 the command works on.
 * Local (wrangler's `.wrangler/state`, as `npm run dev` uses it) unless `--remote`.
 */
export function takeTarget(args) {
  const target = { remote: false, persistTo: null };
  for (let i = 0; i < args.length; i += 1) {
    if (args[i] === "--remote") {
      target.remote = true;
      args.splice(i, 1);
      i -= 1;
    } else if (args[i] === "--persist-to") {
      if (!args[i + 1]) die("--persist-to takes a folder");
      target.persistTo = args[i + 1];
      args.splice(i, 2);
      i -= 1;
    }
  }
  if (target.remote && target.persistTo) die("--persist-to is for local D1 only");
  return target;
}

/** The target as a word for messages. */
export function targetName(target) {
  return target.remote ? "remote D1" : `local D1${target.persistTo ? ` in ${target.persistTo}` : ""}`;
}

/**
 * Runs `wrangler d1 execute DB` with `--command SQL` or `--file PATH` on the target; returns the
 * parsed JSON answer (one result per statement). A failure ends the process with wrangler's
 * message, or calls `onError(message)` when given.
 */
export function execute(target, what, onError) {
  const args = ["d1", "execute", "DB", "--json", "--yes"];
  args.push(...(target.remote ? ["--remote"] : ["--local"]));
  if (target.persistTo) args.push("--persist-to", target.persistTo);
  args.push(...(what.file ? ["--file", what.file] : ["--command", what.command]));
  const run = spawnSync(join(ROOT, "node_modules", ".bin", "wrangler"), args, {
    cwd: ROOT,
    env: ENV,
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
  const output = `${run.stdout ?? ""}`;
  if (run.status !== 0) {
    let message = `${output}\n${run.stderr ?? ""}`.trim();
    try {
      message = JSON.parse(output).error?.text ?? message;
    } catch {
      // not JSON: wrangler's own text
    }
    if (onError) return onError(message);
    die(`wrangler d1 execute failed on ${targetName(target)}:\n${message}`);
  }
  try {
    return JSON.parse(output);
  } catch {
    die(`wrangler d1 execute answered no JSON:\n${output}`);
  }
}

/** The rows of each statement's result. */
export function rows(answer) {
  return (Array.isArray(answer) ? answer : [answer]).map((r) => r.results ?? []);
}

/**
 * Runs the host binary `name` (src/bin/NAME.rs, built on first use) with `args`; returns
 * `{status, stdout, stderr}`.
 */
export function runBinary(name, args, extraEnv = {}) {
  const run = spawnSync("cargo", ["run", "--quiet", "--bin", name, "--", ...args], {
    cwd: ROOT,
    env: { ...ENV, ...extraEnv },
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
  if (run.error) die(`cannot run cargo: ${run.error.message}`);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
