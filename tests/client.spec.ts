// The typed client (clients/typescript/): its committed types equal a fresh openapi-typescript
// generation from the document, tsc accepts the sign-in / users/me / refresh sample and refuses a
// deliberately wrong one line by line, and the sample runs against the Worker with every answer
// checked against the document like TestApp.call's.
import { afterAll, beforeAll, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "../clients/typescript/client";
import { signInReadMeRefresh, sessionsAndEvents } from "../clients/typescript/examples/session";
import { documentChecker } from "./openapi-check";
import { spawnApp, TestApp } from "./helpers";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLIENT = join(ROOT, "clients/typescript");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");

function tsc(project: string) {
  const run = spawnSync(process.execPath, [TSC, "-p", join(CLIENT, project)], { encoding: "utf8", timeout: 120_000 });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

test("the_committed_types_are_a_fresh_generation_from_the_document", () => {
  const out = join(ROOT, ".cache/openapi-client/schema.d.ts");
  mkdirSync(dirname(out), { recursive: true });
  const run = spawnSync(
    process.execPath,
    [join(ROOT, "node_modules/openapi-typescript/bin/cli.js"), join(ROOT, "openapi/openapi.json"), "-o", out],
    { encoding: "utf8", timeout: 120_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  expect(readFileSync(join(CLIENT, "schema.d.ts"), "utf8")).toBe(readFileSync(out, "utf8"));
});

test("tsc_accepts_the_sign_in_users_me_refresh_sample", () => {
  const { status, out } = tsc("tsconfig.json");
  expect(out).toBe("");
  expect(status).toBe(0);
});

test("tsc_refuses_every_wrong_line_of_the_negative_sample", () => {
  const { status, out } = tsc("tsconfig.wrong.json");
  expect(status).not.toBe(0);
  const lines = readFileSync(join(CLIENT, "test/wrong.ts"), "utf8").split("\n");
  const marked = lines.flatMap((l, i) => {
    const m = l.match(/\/\/ WRONG (TS\d+)/);
    return m ? [{ line: i + 1, code: m[1] }] : [];
  });
  expect(marked.length).toBeGreaterThanOrEqual(4);
  for (const { line, code } of marked) {
    expect(out, `line ${line}`).toMatch(new RegExp(`wrong\\.ts\\(${line},\\d+\\): error ${code}`));
  }
  // Nothing else fails: the errors are exactly the marked ones.
  expect(out.match(/error TS\d+/g)?.length).toBe(marked.length);
});

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app?.dispose();
});

/** The client's fetch: the Worker under Miniflare, each answer checked against the document. */
async function checkedFetch(input: string, init: RequestInit): Promise<Response> {
  const res = await app.mf.dispatchFetch(input, init as any);
  const text = await res.text();
  const url = new URL(input);
  documentChecker().check({
    method: init.method ?? "GET",
    path: url.pathname + url.search,
    status: res.status,
    headers: res.headers as unknown as Headers,
    text,
  });
  return new Response(res.status === 204 ? null : text, { status: res.status, headers: res.headers as any });
}

test("the_typed_sample_runs_against_the_worker", async () => {
  const user = await app.createActiveUser();
  const api = createClient({ baseUrl: "http://localhost", fetch: checkedFetch });
  const session = await signInReadMeRefresh(api, user.username, user.password);
  expect(session.user).toEqual({ id: user.id, username: user.username, email: user.email });
  expect(session.access.split(".")).toHaveLength(3);
  const more = await sessionsAndEvents(api, `Bearer ${session.access}`, user.id);
  expect(more.sessions.length).toBe(1);
  await expect(signInReadMeRefresh(api, user.username, "wrong")).rejects.toThrow(/sign-in refused: 401/);
  await expect(signInReadMeRefresh(api, "", "")).rejects.toThrow(/may not be blank/);
});
