// npm run admin -- disable|enable|delete|set-staff|logout USERNAME [--off] [--remote]
// npm run createsuperuser -- [--username NAME] [--email ADDRESS] [--remote]
//
// The account operations Django's admin and manage.py gave a djoser operator, on local D1 (as
// `npm run dev` uses it) or, with --remote, the deployed one. The SQL comes from the host binary
// src/bin/djoser-admin.rs; see README "Deploying" and docs/migration.md.
//   disable    inactive, not waiting for activation (no link re-enables it), every session ended
//   enable     active again
//   delete     the user and its DRF token
//   set-staff  staff (--off: not staff)
//   logout     every JWT refused and the DRF token deleted
// createsuperuser prompts for what its flags leave out; the password may also come from
// DJOSER_SUPERUSER_PASSWORD (for scripts, as Django's DJANGO_SUPERUSER_PASSWORD).
import { createInterface } from "node:readline/promises";
import { die, execute, rows, runBinary, takeTarget, targetName } from "./d1.mjs";

const VERBS = ["disable", "enable", "delete", "set-staff", "logout"];
const USAGE =
  "usage: npm run admin -- disable|enable|delete|set-staff|logout USERNAME [--off] [--remote]\n" +
  "       npm run createsuperuser -- [--username NAME] [--email ADDRESS] [--remote]";

const args = process.argv.slice(2);
const target = takeTarget(args);

function sqlFrom(run) {
  if (run.status !== 0) die(run.stderr.trim() || `djoser-admin failed (status ${run.status})`);
  return run.stdout;
}

async function ask(question) {
  if (!process.stdin.isTTY) die(`${question} is needed: pass it as a flag`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(`${question}: `)).trim();
  } finally {
    rl.close();
  }
}

async function createsuperuser(flags) {
  const given = {};
  for (let i = 0; i < flags.length; i += 1) {
    const name = { "--username": "username", "--email": "email" }[flags[i]];
    if (!name || flags[i + 1] === undefined) die(USAGE);
    given[name] = flags[(i += 1)];
  }
  const username = given.username ?? (await ask("Username"));
  const email = given.email ?? (await ask("Email address"));
  let password = process.env.DJOSER_SUPERUSER_PASSWORD;
  if (password === undefined) {
    password = await ask("Password (shown as typed)");
    if ((await ask("Password (again)")) !== password) die("Error: Your passwords didn't match.");
  }
  const sql = sqlFrom(
    runBinary("djoser-admin", ["createsuperuser", username, email], {
      DJOSER_SUPERUSER_PASSWORD: password,
    }),
  );
  execute(target, { command: sql }, (message) => {
    if (/users\.username/.test(message)) die(`Error: That username is already taken.`);
    if (/users\.email_key/.test(message)) die(`Error: That e-mail address is already taken.`);
    die(`wrangler d1 execute failed on ${targetName(target)}:\n${message}`);
  });
  process.stdout.write(`Superuser ${username} created successfully in ${targetName(target)}.\n`);
}

async function main() {
  const [verb, ...rest] = args;
  if (verb === "createsuperuser") return createsuperuser(rest);
  if (!VERBS.includes(verb) || !rest[0] || rest[0].startsWith("--")) die(USAGE);
  const [username, ...flags] = rest;
  const sql = sqlFrom(runBinary("djoser-admin", ["verb", verb, username, ...flags]));
  const [found] = rows(execute(target, { command: sql }));
  if (!found || found.length === 0) die(`no user named ${JSON.stringify(username)} in ${targetName(target)}; nothing changed`);
  const user = found[0];
  const done = {
    disable: "disabled (sessions ended)",
    enable: "enabled",
    delete: "deleted",
    "set-staff": flags.includes("--off") ? "no longer staff" : "made staff",
    logout: "signed out everywhere",
  }[verb];
  process.stdout.write(`user ${user.id} (${user.username}) ${done} in ${targetName(target)}\n`);
}

await main();
