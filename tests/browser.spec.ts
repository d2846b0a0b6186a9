// A real browser against cookie mode: headless Chromium (playwright-core, /usr/bin/chromium)
// drives examples/spa/, served from one 127.0.0.1 port, against the Worker under Miniflare on
// another, with a third port playing the attacking site. Two ports of one host are two origins
// but one site, so the SameSite=Strict cookies travel and only the CSRF rules stand between the
// third origin and the API: exactly what this checks. Chromium treats http://127.0.0.1 as a secure
// context, so the production defaults (Secure, __Host- and __Secure- names) run unchanged.
import { afterAll, beforeAll, expect, test } from "vitest";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BrowserContext, Page } from "playwright-core";
import { Browser, launchChromium } from "./chromium";
import { spawnApp, TestApp, unique } from "./helpers";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, ".cache/test-output");
const ACCESS = "__Host-access";
const REFRESH = "__Secure-refresh";

/** Serves `handler` on a free 127.0.0.1 port; resolves to the server and its origin. */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

let app: TestApp;
let api: string;
let spa: { server: Server; origin: string };
let evil: { server: Server; origin: string };
let context: BrowserContext;
let page: Page;
let browser: Browser;

beforeAll(async () => {
  spa = await serve((req, res) => {
    const name = (req.url ?? "/").split("?")[0] === "/app.js" ? "app.js" : "index.html";
    res.setHeader("Content-Type", name.endsWith(".js") ? "text/javascript" : "text/html");
    res.end(readFileSync(join(ROOT, "examples/spa", name)));
  });
  // The attacker's page: a form that posts a password change to the API as soon as it loads.
  evil = await serve((_req, res) => {
    res.setHeader("Content-Type", "text/html");
    res.end(`<form method="post" action="${api}/auth/users/set_password/">
      <input name="current_password" value="guess"><input name="new_password" value="pwned-pwned-1">
      </form><script>document.forms[0].submit()</script>`);
  });
  app = await spawnApp(
    { JWT_AUTH_COOKIE: ACCESS, CORS_ALLOWED_ORIGINS: spa.origin },
    { host: "127.0.0.1", port: 0 },
  );
  api = (await app.mf.ready).origin;
  browser = await launchChromium();
  context = browser.context;
  page = context.pages()[0] ?? (await context.newPage());
});

afterAll(async () => {
  await browser?.close();
  await app?.dispose();
  spa?.server.close();
  evil?.server.close();
});

/** The browser's cookies for the API, by name. */
async function apiCookies() {
  const list = await context.cookies(`${api}/auth/jwt/refresh/`);
  return Object.fromEntries(list.map((c) => [c.name, c]));
}

/** A request from inside the SPA's page (its origin, the browser's cookies). */
function pageFetch(path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  return page.evaluate(
    async ({ url, init }) => {
      const res = await fetch(url, { credentials: "include", ...init });
      return { status: res.status, body: await res.text() };
    },
    { url: `${api}${path}`, init },
  );
}

test(
  "a_browser_signs_in_through_the_example_page_uses_the_cookies_is_protected_from_csrf_and_signs_out",
  async () => {
    const username = unique("browser");
    const email = `${username}@example.com`;
    const password = "correct-horse-battery";
    await page.goto(`${spa.origin}/?api=${encodeURIComponent(`${api}/auth`)}`);
    await expect.poll(() => page.textContent("#status")).toBe("Not signed in.");

    // Register, activate with the e-mailed uid and token, sign in.
    await page.fill("#register [name=username]", username);
    await page.fill("#register [name=email]", email);
    await page.fill("#register [name=password]", password);
    await page.click("#register button");
    await expect.poll(() => page.textContent("#status")).toContain(`Registered ${username}`);
    await app.settle();
    const { uid, token } = app.lastLink(email);
    await page.fill("#activate [name=uid]", uid);
    await page.fill("#activate [name=token]", token);
    await page.click("#activate button");
    await expect.poll(() => page.textContent("#status")).toBe("Activated: you can sign in.");
    await page.fill("#sign-in [name=password]", password);
    await page.click("#sign-in button");
    await expect.poll(() => page.textContent("#status")).toBe("Signed in.");
    // users/me answered through the access cookie: the page never held a token.
    expect(await page.textContent("#who")).toBe(username);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, "browser-signed-in.png") });

    // The cookies are set with the production attributes; scripts see only the CSRF token.
    const signedIn = await apiCookies();
    for (const name of [ACCESS, REFRESH]) {
      expect(signedIn[name]).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict" });
    }
    expect(signedIn[REFRESH].path).toBe("/auth/jwt/");
    expect(signedIn.csrftoken.httpOnly).toBe(false);
    const visible = await page.evaluate(() => document.cookie);
    expect(visible).not.toContain(ACCESS);
    expect(visible).not.toContain(REFRESH);
    expect(visible).not.toContain(signedIn[ACCESS].value);
    const me = await pageFetch("/auth/users/me/");
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body).username).toBe(username);

    // Refresh rotates the refresh cookie; the spent one only ever yields that same successor (a
    // retry inside the grace window), never a second live token.
    await page.click("#refresh");
    await expect.poll(() => page.textContent("#status")).toBe("Session refreshed.");
    const rotated = await apiCookies();
    expect(rotated[REFRESH].value).not.toBe(signedIn[REFRESH].value);
    const spent = await app.post("/auth/jwt/refresh/", { refresh: signedIn[REFRESH].value });
    expect(spent.status).toBe(200);
    expect(spent.headers.get("set-cookie") ?? "").toContain(`${REFRESH}=${rotated[REFRESH].value}`);

    // A state-changing request without the CSRF header is refused, from the SPA's own origin ...
    const noHeader = await pageFetch("/auth/users/set_password/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
    });
    expect(noHeader.status).toBe(403);
    expect(JSON.parse(noHeader.body)).toEqual({ detail: "CSRF Failed: CSRF token missing." });
    // ... and a cross-origin form post from the attacker's page is refused by its Origin.
    await page.goto(`${evil.origin}/`);
    await page.waitForURL(`${api}/auth/users/set_password/`);
    expect(JSON.parse((await page.textContent("body")) ?? "")).toEqual({
      detail: `CSRF Failed: Origin checking failed - ${evil.origin} does not match any trusted origins.`,
    });
    expect((await apiCookies())[REFRESH].value).toBe(rotated[REFRESH].value);

    // Sign out: the cookies are gone and the last refresh token is dead.
    await page.goto(`${spa.origin}/?api=${encodeURIComponent(`${api}/auth`)}`);
    await expect.poll(() => page.textContent("#status")).toBe("Signed in.");
    await page.click("#sign-out");
    await expect.poll(() => page.textContent("#status")).toBe("Signed out.");
    const after = await apiCookies();
    expect(after[ACCESS]).toBeUndefined();
    expect(after[REFRESH]).toBeUndefined();
    expect(after.csrftoken).toBeUndefined();
    const dead = await app.post("/auth/jwt/refresh/", { refresh: rotated[REFRESH].value });
    expect(dead.status).toBe(401);
    expect(dead.body.detail).toBe("Token is blacklisted");
  },
  60_000,
);
