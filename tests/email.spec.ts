// E-mail delivery: the webhook, resend and console backends, and what a provider outage does.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawnApp, TestApp, unique } from "./helpers";

const REGISTER = (username: string) => ({
  username,
  password: "Sturdy-pass-4821",
  email: `${username}@example.com`,
});

describe("webhook backend", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ EMAIL_WEBHOOK_SECRET: "hook-secret-123" });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("webhook_gets_json_with_bearer_secret_and_every_field", async () => {
    // Arrange
    const username = unique("hook");
    // Act
    const res = await app.post("/auth/users/", REGISTER(username));
    // Assert
    expect(res.status).toBe(201);
    const sent = app.outboundRequests.filter((r) => r.url === "http://mail.test/send");
    expect(sent.length).toBe(1);
    expect(sent[0].headers["authorization"]).toBe("Bearer hook-secret-123");
    expect(sent[0].headers["content-type"]).toBe("application/json");
    const body = JSON.parse(sent[0].body);
    expect(Object.keys(body)).toEqual(["from", "to", "subject", "text", "html", "kind"]);
    expect(body).toMatchObject({
      from: "webmaster@localhost",
      to: [`${username}@example.com`],
      subject: "Account activation on Djoser Reference",
      kind: "activation",
    });
    expect(body.text).toMatch(/http:\/\/localhost:3000\/activate\/[^/]+\/[0-9a-z]+-[0-9a-f]{32}/);
    expect(body.html).toContain("<a href=");
  });

  test("a_provider_5xx_is_retried_once_and_the_registration_still_stands", async () => {
    // Arrange
    app.mailStatus = 503;
    const username = unique("down");
    const before = app.outboundRequests.length;
    try {
      // Act
      const res = await app.post("/auth/users/", REGISTER(username));
      // Assert
      expect(res.status).toBe(201);
      expect(app.outboundRequests.length - before).toBe(2);
      expect(await app.sql("SELECT username FROM users WHERE username = ?", username)).toEqual([{ username }]);
    } finally {
      app.mailStatus = 200;
    }
    // The user asks again once the provider is back.
    const again = await app.post("/auth/users/resend_activation/", { email: `${username}@example.com` });
    expect(again.status).toBe(204);
    expect(app.emailsTo(`${username}@example.com`).length).toBe(3);
  });

  test("a_provider_4xx_is_not_retried", async () => {
    app.mailStatus = 422;
    const before = app.outboundRequests.length;
    try {
      const res = await app.post("/auth/users/", REGISTER(unique("bad")));
      expect(res.status).toBe(201);
      expect(app.outboundRequests.length - before).toBe(1);
    } finally {
      app.mailStatus = 200;
    }
  });
});

describe("resend backend", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ EMAIL_BACKEND: "resend", RESEND_API_KEY: "re_test_key", DEFAULT_FROM_EMAIL: "auth@example.com" });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("resend_api_gets_the_message_with_the_api_key", async () => {
    const username = unique("resend");
    const res = await app.post("/auth/users/", REGISTER(username));
    expect(res.status).toBe(201);
    const sent = app.outboundRequests.filter((r) => r.url === "https://api.resend.com/emails");
    // The test network answers 599, so the send is retried once, then logged.
    expect(sent.length).toBe(2);
    expect(sent[0].headers["authorization"]).toBe("Bearer re_test_key");
    const body = JSON.parse(sent[0].body);
    expect(Object.keys(body)).toEqual(["from", "to", "subject", "text", "html"]);
    expect(body.from).toBe("auth@example.com");
    expect(body.to).toEqual([`${username}@example.com`]);
  });
});

describe("console backend", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ EMAIL_BACKEND: "console" });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("console_backend_logs_the_whole_message_and_makes_no_request", async () => {
    const username = unique("cons");
    const res = await app.post("/auth/users/", REGISTER(username));
    expect(res.status).toBe(201);
    await new Promise((r) => setTimeout(r, 200));
    const log = app.logs.join("\n");
    expect(log).toContain(`To: ${username}@example.com`);
    expect(log).toContain("Subject: Account activation on Djoser Reference");
    expect(log).toMatch(/activate\/[^/\s]+\/[0-9a-z]+-[0-9a-f]{32}/);
    expect(app.outboundRequests.length).toBe(0);
  });
});

describe("cloudflare backend", () => {
  const cloudflare = { EMAIL_BACKEND: "cloudflare" };

  test("send_email_binding_takes_the_message_without_error", async () => {
    const app = await spawnApp(cloudflare, { email: { send_email: [{ name: "EMAIL" }] } });
    try {
      const res = await app.post("/auth/users/", REGISTER(unique("cf")));
      expect(res.status).toBe(201);
      await new Promise((r) => setTimeout(r, 200));
      expect(app.logs.filter((l) => l.includes("not sent"))).toEqual([]);
      expect(app.outboundRequests.length).toBe(0);
    } finally {
      await app.dispose();
    }
  });

  test("a_missing_send_email_binding_is_logged_and_the_registration_stands", async () => {
    const app = await spawnApp(cloudflare);
    try {
      const username = unique("cfmissing");
      const res = await app.post("/auth/users/", REGISTER(username));
      expect(res.status).toBe(201);
      await new Promise((r) => setTimeout(r, 200));
      expect(app.logs.some((l) => l.includes("e-mail activation to user") && l.includes("not sent"))).toBe(true);
      expect(await app.sql("SELECT username FROM users WHERE username = ?", username)).toEqual([{ username }]);
    } finally {
      await app.dispose();
    }
  });
});

describe("configuration", () => {
  test("webhook_backend_without_url_is_a_configuration_error", async () => {
    const app = await spawnApp({ EMAIL_WEBHOOK_URL: "" });
    try {
      const res = await app.call("/auth/");
      expect(res.status).toBe(500);
      expect(res.body.detail).toMatch(/EMAIL_WEBHOOK_URL/);
    } finally {
      await app.dispose();
    }
  });
});
