// npm run import-djoser -- DUMP.json [--remote] [--dry-run] [--duplicate-emails=MODE]
//                                    [--batch-bytes N] [--persist-to DIR]
//
// Moves a djoser deployment's users into D1: the output of Django's
//   manage.py dumpdata auth.user authtoken.token token_blacklist
// (token_blacklist optional). The dump is checked whole, then against what D1 holds, before
// anything is written; then the statements go in batches of at most N bytes (default 90,000),
// each an idempotent `wrangler d1 execute --file`. A re-run writes nothing new. See
// docs/migration.md.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { die, execute, rows, runBinary, takeTarget, targetName } from "./d1.mjs";

const USAGE =
  "usage: npm run import-djoser -- DUMP.json [--remote] [--dry-run] " +
  "[--duplicate-emails=refuse|keep-first-clear-others] [--batch-bytes N] [--persist-to DIR]";
const say = (line) => process.stdout.write(`[import] ${line}\n`);

const args = process.argv.slice(2);
const target = takeTarget(args);
let dump = null;
let dryRun = false;
const planArgs = [];
for (let i = 0; i < args.length; i += 1) {
  const arg = args[i];
  if (arg === "--dry-run") dryRun = true;
  else if (arg.startsWith("--duplicate-emails=")) planArgs.push(arg);
  else if (arg === "--batch-bytes") planArgs.push(arg, args[(i += 1)] ?? "");
  else if (arg.startsWith("--") || dump) die(USAGE);
  else dump = resolve(arg);
}
if (!dump) die(USAGE);

const work = mkdtempSync(join(tmpdir(), "djoser-import-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

/** Plans the import against `existing`; a dump that cannot be imported ends the process. */
function plan(existing, out) {
  const state = join(work, "existing.json");
  writeFileSync(state, JSON.stringify(existing));
  const run = runBinary("djoser-import", [dump, "--existing", state, "--out", out, ...planArgs]);
  if (run.status !== 0) die(run.stderr || `djoser-import failed (status ${run.status})`);
  return JSON.parse(run.stdout);
}

/** What D1 holds, as the plan needs it. */
function existingState() {
  const [users, tokens, families] = rows(
    execute(target, {
      command:
        "SELECT id, username, email_key FROM users; SELECT key, user_id FROM auth_tokens; " +
        "SELECT family FROM revoked_families;",
    }),
  );
  return { users, tokens, families };
}

// 1. The dump alone, before D1 is asked anything.
plan({ users: [], tokens: [], families: [] }, join(work, "check"));
// 2. Against D1.
say(`reading what ${targetName(target)} holds`);
const out = join(work, "batches");
const summary = plan(existingState(), out);

const report = (s) => {
  say(`users: ${s.users.new} new, ${s.users.present} already there`);
  say(
    `DRF tokens: ${s.tokens.new} new, ${s.tokens.present} already there` +
      (s.tokens.superseded.length ? `, ${s.tokens.superseded.length} superseded by a newer key in D1` : ""),
  );
  say(
    `blacklisted refresh tokens: ${s.blacklisted.new} new, ${s.blacklisted.present} already ` +
      `refused, ${s.blacklisted.expired} expired (nothing to keep)`,
  );
  say(`outstanding refresh tokens: ${s.outstanding_live} still valid (accepted as issued)`);
  for (const u of s.unusable) {
    say(`unusable password: user ${u.id} (${u.username}): ${u.reason}; they reset it`);
  }
  for (const u of s.cleared_emails) {
    say(`e-mail cleared: user ${u.id} (${u.username}) had ${u.email}, a duplicate`);
  }
};
report(summary);

if (dryRun) {
  say(`dry run: ${summary.statements} statements in ${summary.batches} batches; nothing written`);
  process.exit(0);
}
const files = readdirSync(out).filter((f) => f.endsWith(".sql")).sort();
files.forEach((file, i) => {
  say(`writing batch ${i + 1}/${files.length} to ${targetName(target)}`);
  execute(target, { file: join(out, file) });
});
// 3. Check: planning again finds nothing left to write.
if (files.length > 0) {
  const after = plan(existingState(), join(work, "after"));
  const left = after.users.new + after.tokens.new + after.blacklisted.new;
  if (left > 0) {
    die(`[import] ${left} rows are still missing after the write (a concurrent change?); run it again`);
  }
}
say(
  `done: ${summary.users.new} users, ${summary.tokens.new} DRF tokens and ` +
    `${summary.blacklisted.new} blacklisted tokens written in ${files.length} batches`,
);
