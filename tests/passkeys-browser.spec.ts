// Passkeys in a real browser: headless Chromium with DevTools virtual authenticators (CTAP2,
// internal transport, resident keys, user verification) runs navigator.credentials.create() and
// .get() on a page at http://localhost:PORT (a secure context; the RP id "localhost" is its host).
// The page's server passes /auth/ through to the Worker under Miniflare, so the page and the API
// are one origin, as a site that serves its frontend and its API together has them. The page
// does what a djoser frontend does: it decodes djoser's options into the WebAuthn dictionaries
// and sends the answer back in djoser's encodings (base64url, a hex signature).
//
// The ceremony: sign up with a passkey on authenticator A, sign in with it, lose A, add a second
// passkey on authenticator B while signed in, remove the first, sign in with the second (by name
// and discoverably, without one). Then, on a fresh tab, an RS256 passkey: the page offers only
// -257 of the options' algorithms, so the virtual authenticator makes an RSA key.
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPrivateKey } from "node:crypto";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { CDPSession, Page } from "playwright-core";
import { Browser, launchChromium } from "./chromium";
import { spawnApp, TestApp, unique } from "./helpers";

const PAGE = `<!doctype html><meta charset="utf-8"><title>passkeys</title>
<script>
const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const dec = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4)), (c) => c.charCodeAt(0));
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
async function api(path, body, auth) {
  const headers = { "Content-Type": "application/json" };
  if (auth) headers.Authorization = auth;
  const res = await fetch("/auth/webauthn/" + path, { method: body === undefined ? "GET" : "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
function creation(o) {
  return { ...o, challenge: dec(o.challenge), user: { ...o.user, id: new TextEncoder().encode(o.user.id) },
    excludeCredentials: o.excludeCredentials.map((c) => ({ ...c, id: dec(c.id) })) };
}
async function create(options) {
  const cred = await navigator.credentials.create({ publicKey: creation(options) });
  return { clientData: enc(cred.response.clientDataJSON), attObj: enc(cred.response.attestationObject) };
}
window.signUp = async (username, algs) => {
  const options = await api("signup_request/", { username, display_name: "Browser " + username });
  if (options.status !== 200) return options;
  const o = options.body;
  const offered = algs ? { ...o, pubKeyCredParams: o.pubKeyCredParams.filter((p) => algs.includes(p.alg)) } : o;
  return api("signup/" + o.user.id + "/", { username, ...(await create(offered)) });
};
window.addPasskey = async (auth, name) => {
  const options = await api("credentials/", {}, auth);
  if (options.status !== 200) return options;
  return api("credentials/", { ...(await create(options.body)), name }, auth);
};
window.signIn = async (username) => {
  const options = await api("login_request/", username === null ? {} : { username });
  if (options.status !== 200) return options;
  const o = options.body;
  const got = await navigator.credentials.get({ publicKey: { ...o, challenge: dec(o.challenge),
    allowCredentials: o.allowCredentials.map((c) => ({ ...c, id: dec(c.id) })) } });
  const body = { id: enc(got.rawId), clientData: enc(got.response.clientDataJSON),
    authData: enc(got.response.authenticatorData), signature: hex(got.response.signature) };
  if (got.response.userHandle) body.userHandle = enc(got.response.userHandle);
  if (username !== null) body.username = username;
  return api("login/", body);
};
window.passkeys = (auth) => api("credentials/", undefined, auth);
window.removePasskey = async (auth, id) => {
  const res = await fetch("/auth/webauthn/credentials/" + id + "/", { method: "DELETE", headers: { Authorization: auth } });
  return { status: res.status };
};
</script><p id="ready">ready</p>`;

let app: TestApp;
let site: Server;
let origin: string;
let browser: Browser;
let page: Page;
let cdp: CDPSession;

/** Passes a request through to the Worker. */
async function passThrough(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
  const method = req.method ?? "GET";
  const answer = await app.mf.dispatchFetch(`${origin}${req.url}`, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : Buffer.concat(chunks),
  });
  res.statusCode = answer.status;
  answer.headers.forEach((value, key) => res.setHeader(key, value));
  res.end(Buffer.from(await answer.arrayBuffer()));
}

beforeAll(async () => {
  site = createServer((req, res) => {
    if ((req.url ?? "/").startsWith("/auth/")) {
      passThrough(req, res).catch((e) => {
        res.statusCode = 502;
        res.end(String(e));
      });
      return;
    }
    res.setHeader("Content-Type", "text/html");
    res.end(PAGE);
  });
  await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
  const address = site.address();
  if (!address || typeof address === "string") throw new Error("no port");
  origin = `http://localhost:${address.port}`;
  app = await spawnApp({
    WEBAUTHN_RP_ID: "localhost",
    WEBAUTHN_ORIGIN: origin,
    WEBAUTHN_USER_VERIFICATION: "true",
    SEND_ACTIVATION_EMAIL: "false",
    SEND_CONFIRMATION_EMAIL: "false",
  });
  browser = await launchChromium();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  cdp = await browser.context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
});

afterAll(async () => {
  await browser?.close();
  await app?.dispose();
  site?.close();
});

async function authenticator(session = cdp): Promise<string> {
  const { authenticatorId } = await session.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return authenticatorId;
}

test(
  "a_browser_signs_up_with_a_passkey_adds_a_second_removes_the_first_and_signs_in_with_the_other",
  async () => {
    await page.goto(`${origin}/`);
    await expect.poll(() => page.textContent("#ready")).toBe("ready");
    const username = unique("browserpk");

    const a = await authenticator();
    const signedUp = await page.evaluate((u) => (window as any).signUp(u), username);
    expect(signedUp.status, JSON.stringify(signedUp.body)).toBe(201);
    expect(signedUp.body.username).toBe(username);
    const onA = (await cdp.send("WebAuthn.getCredentials", { authenticatorId: a })).credentials;
    expect(onA).toHaveLength(1);

    const first = await page.evaluate((u) => (window as any).signIn(u), username);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const auth = `Token ${first.body.auth_token}`;

    // Authenticator A is lost; B joins, and the signed-in user registers a passkey on it.
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: a });
    const b = await authenticator();
    const added = await page.evaluate(([t]) => (window as any).addPasskey(t, "second device"), [auth]);
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body.name).toBe("second device");
    const onB = (await cdp.send("WebAuthn.getCredentials", { authenticatorId: b })).credentials;
    expect(onB).toHaveLength(1);
    expect(onB[0].isResidentCredential).toBe(true);

    const list = await page.evaluate(([t]) => (window as any).passkeys(t), [auth]);
    expect(list.body.map((p: any) => p.credential_id)).toEqual([
      Buffer.from(onA[0].credentialId, "base64").toString("base64url"),
      Buffer.from(onB[0].credentialId, "base64").toString("base64url"),
    ]);
    const removed = await page.evaluate(([t, id]) => (window as any).removePasskey(t, id), [auth, list.body[0].id]);
    expect(removed.status).toBe(204);

    // Sign in with the other passkey: by name, then discoverably (no name at all).
    const byName = await page.evaluate((u) => (window as any).signIn(u), username);
    expect(byName.status, JSON.stringify(byName.body)).toBe(201);
    const discoverable = await page.evaluate(() => (window as any).signIn(null));
    expect(discoverable.status, JSON.stringify(discoverable.body)).toBe(201);
    const me = await app.call("/auth/users/me/", { auth: `Token ${discoverable.body.auth_token}` });
    expect(me.body.username).toBe(username);

    // The counter moved with each sign-in and the remaining passkey is the one on B.
    const rows = await app.sql("SELECT credential_id, sign_count FROM webauthn_credentials WHERE user_id = ?", signedUp.body.id);
    expect(rows).toHaveLength(1);
    expect(rows[0].credential_id).toBe(list.body[1].credential_id);
    expect(rows[0].sign_count).toBeGreaterThanOrEqual(2);
  },
  60_000,
);

test(
  "a_browser_signs_up_and_in_with_an_rs256_passkey",
  async () => {
    // A tab of its own: virtual authenticators belong to a tab, and the first test's B is still on
    // the first one.
    const tab = await browser.context.newPage();
    const session = await browser.context.newCDPSession(tab);
    await session.send("WebAuthn.enable");
    const id = await authenticator(session);
    await tab.goto(`${origin}/`);
    await expect.poll(() => tab.textContent("#ready")).toBe("ready");
    const username = unique("browserrsa");

    const signedUp = await tab.evaluate(([u]) => (window as any).signUp(u, [-257]), [username]);
    expect(signedUp.status, JSON.stringify(signedUp.body)).toBe(201);
    const made = (await session.send("WebAuthn.getCredentials", { authenticatorId: id })).credentials;
    expect(made).toHaveLength(1);
    const key = createPrivateKey({ key: Buffer.from(made[0].privateKey, "base64"), format: "der", type: "pkcs8" });
    expect(key.asymmetricKeyType).toBe("rsa");
    // What the Worker stored is that key's public half: its modulus is in the COSE key.
    const n = Buffer.from((key.export({ format: "jwk" }) as { n: string }).n, "base64url");
    const rows = await app.sql("SELECT public_key FROM webauthn_credentials WHERE user_id = ?", signedUp.body.id);
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0].public_key as string, "base64url").includes(n)).toBe(true);

    // Signed in twice (djoser's signup options ask for no resident key, so by name).
    for (let i = 0; i < 2; i++) {
      const signedIn = await tab.evaluate((u) => (window as any).signIn(u), username);
      expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(201);
      const me = await app.call("/auth/users/me/", { auth: `Token ${signedIn.body.auth_token}` });
      expect(me.body.username).toBe(username);
    }
    const counted = await app.sql("SELECT sign_count FROM webauthn_credentials WHERE user_id = ?", signedUp.body.id);
    expect(counted[0].sign_count).toBeGreaterThanOrEqual(2);
    await tab.close();
  },
  60_000,
);
