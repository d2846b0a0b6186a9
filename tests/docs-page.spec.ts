// The docs page in a real browser: headless Chromium loads /auth/docs/ from the Worker served on
// 127.0.0.1, the page fetches /auth/schema/ under its own CSP and renders every operation; the
// test asserts every path and method of the document appears, that the browser reported no CSP
// violation or script error, and saves a screenshot to .cache/test-logs/docs-page.png.
import { afterAll, beforeAll, expect, test } from "vitest";
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Browser, launchChromium } from "./chromium";
import { spawnApp, TestApp } from "./helpers";
import { DOCUMENT_PATH } from "./openapi-check";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SHOT = join(ROOT, ".cache/test-logs/docs-page.png");
const doc = JSON.parse(readFileSync(DOCUMENT_PATH, "utf8"));
const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];

let app: TestApp;
let api: string;
let browser: Browser;

beforeAll(async () => {
  app = await spawnApp({}, { host: "127.0.0.1", port: 0 });
  api = (await app.mf.ready).origin;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.dispose();
});

test("the_docs_page_renders_every_operation_of_the_document", async () => {
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));

  const res = await page.goto(`${api}/auth/docs/`);
  expect(res?.status()).toBe(200);
  await page.waitForSelector("body[data-rendered=true]", { timeout: 15_000 });

  const rendered: string[] = await page.$$eval("details.op[data-path]", (nodes) =>
    nodes.map((n) => `${(n as HTMLElement).dataset.method} ${(n as HTMLElement).dataset.path}`),
  );
  const expected: string[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) if (item[method]) expected.push(`${method} ${path}`);
  }
  expect(new Set(rendered)).toEqual(new Set(expected));
  const text = await page.textContent("#operations");
  for (const path of Object.keys(doc.paths)) expect(text).toContain(path);
  const schemas = await page.$$eval("#schemas details", (nodes) => nodes.map((n) => n.id));
  expect(schemas).toEqual(Object.keys(doc.components.schemas).map((n) => `schema-${n}`));
  expect(await page.textContent("#error")).toBe("");
  expect(problems).toEqual([]);
  // Self-contained: the page and the document, nothing from elsewhere.
  expect([...new Set(requests)].sort()).toEqual([`${api}/auth/docs/`, `${api}/auth/schema/`]);

  // Open one operation so the screenshot shows a request body and responses with schemas.
  await page.click('details.op[data-path="/auth/jwt/create/"][data-method="post"] > summary');
  expect(await page.isVisible('details.op[data-path="/auth/jwt/create/"][data-method="post"] .resp')).toBe(true);
  mkdirSync(dirname(SHOT), { recursive: true });
  rmSync(SHOT, { force: true });
  await page.screenshot({ path: SHOT, fullPage: false });
  expect(statSync(SHOT).size).toBeGreaterThan(20_000);
});

test("an_inline_script_the_csp_does_not_name_is_refused", async () => {
  // The page's CSP admits its own script by hash only: an injected inline script must not run.
  const page = await browser.context.newPage();
  const violations: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") violations.push(m.text());
  });
  await page.goto(`${api}/auth/docs/`);
  await page.waitForSelector("body[data-rendered=true]");
  const ran = await page.evaluate(() => {
    (window as any).injected = false;
    const s = document.createElement("script");
    s.textContent = "window.injected = true";
    document.body.appendChild(s);
    return (window as any).injected;
  });
  expect(ran).toBe(false);
  expect(violations.join("\n")).toMatch(/Content Security Policy/);
  await page.close();
});
