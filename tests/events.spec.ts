// The security event log: GET /auth/users/me/events/ (and users/{id}/events/ for staff).
// Events are written right after the answer, so the reads below wait for them to appear.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHmac } from "node:crypto";
import { expectNoContent, signedIn, spawnApp, TestApp } from "./helpers";

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

/** The caller's events once at least `count` are there (they are written after each answer). */
async function eventsOf(auth: string, count: number, query = ""): Promise<any> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const res = await app.call(`/auth/users/me/events/${query}`, { auth });
    expect(res.status).toBe(200);
    if (res.body.results.length >= count || Date.now() > deadline) return res.body;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("GET /auth/users/me/events/", () => {
  test("logins_failed_logins_and_changes_are_recorded_newest_first", async () => {
    const me = await signedIn(app);
    const bad = await app.post("/auth/jwt/create/", { username: me.username, password: "wrong-pw-1" });
    expect(bad.status).toBe(401);
    expectNoContent(
      await app.post("/auth/users/set_password/", { current_password: me.password, new_password: "Fresh-pw-13579" }, { auth: me.auth }),
    );
    const body = await eventsOf(me.auth, 4);
    expect(body.results.map((e: any) => e.kind)).toEqual([
      "password_changed",
      "login_failed",
      "login_succeeded",
      "account_activated",
    ]);
    const [latest] = body.results;
    expect(Object.keys(latest).sort()).toEqual(["at", "country", "id", "ip", "kind", "session", "user_agent"]);
    expect(Math.abs(latest.at - Date.now() / 1000)).toBeLessThan(60);
    expect(body.next).toBeNull();
  });

  test("the_login_event_names_its_session_and_a_logout_ends_it", async () => {
    const me = await signedIn(app);
    expect((await app.post("/auth/jwt/blacklist/", { refresh: me.refresh })).status).toBe(200);
    // The ended session's access token is dead; read the log from a new sign-in.
    const again = await app.jwtCreate(me.username, me.password);
    const body = await eventsOf(`Bearer ${again.access}`, 4);
    body.results.shift();
    const [ended, login] = body.results;
    expect(ended.kind).toBe("session_ended");
    expect(login.kind).toBe("login_succeeded");
    expect(ended.session).toMatch(/^[0-9a-f]{16}$/);
    expect(ended.session).toBe(login.session);
  });

  test("pages_follow_the_cursor_and_bad_parameters_are_a_400", async () => {
    const me = await signedIn(app);
    for (let i = 0; i < 3; i++) await app.post("/auth/jwt/create/", { username: me.username, password: "wrong-pw-1" });
    await eventsOf(me.auth, 5);
    const first = await eventsOf(me.auth, 2, "?limit=2");
    expect(first.results).toHaveLength(2);
    expect(first.next).toBe(String(first.results[1].id));
    const second = (await app.call(`/auth/users/me/events/?limit=2&cursor=${first.next}`, { auth: me.auth })).body;
    expect(second.results[0].id).toBeLessThan(first.results[1].id);
    const bad = await app.call("/auth/users/me/events/?limit=abc&cursor=-1", { auth: me.auth });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ cursor: ["A valid integer is required."], limit: ["A valid integer is required."] });
  });

  test("anonymous_callers_are_refused", async () => {
    const res = await app.call("/auth/users/me/events/");
    expect(res.status).toBe(401);
  });
});

describe("GET /auth/users/{id}/events/", () => {
  test("staff_read_anyones_log_and_others_get_404", async () => {
    const owner = await signedIn(app);
    const other = await signedIn(app);
    await eventsOf(owner.auth, 2);
    const hidden = await app.call(`/auth/users/${owner.id}/events/`, { auth: other.auth });
    expect(hidden.status).toBe(404);
    await app.sql("UPDATE users SET is_staff = 1 WHERE id = ?", other.id);
    const seen = await app.call(`/auth/users/${owner.id}/events/`, { auth: other.auth });
    expect(seen.status).toBe(200);
    expect(seen.body.results.map((e: any) => e.kind)).toContain("login_succeeded");
  });
});

describe("retention", () => {
  test("the_scheduled_purge_drops_events_older_than_the_retention", async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const [kind, at] of [["login_succeeded", now - 91 * 86400], ["login_failed", now - 89 * 86400]] as const) {
      await app.sql(
        "INSERT INTO events (at, user_id, kind, ip, user_agent) VALUES (?, 999999, ?, 'x', 'x')",
        at,
        kind,
      );
    }
    await (await app.mf.getWorker()).scheduled({ cron: "17 * * * *" });
    const left = await app.sql("SELECT kind FROM events WHERE user_id = 999999");
    expect(left).toEqual([{ kind: "login_failed" }]);
  });
});

describe("throttled events", () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await spawnApp({ RATE_LIMITS: "on", RATE_LIMIT_LOGIN_ACCOUNT: "3/3600", RATE_LIMIT_LOGIN: "50/60" });
  });
  afterAll(async () => {
    await limited.dispose();
  });

  test("an_account_guessed_at_from_many_addresses_records_one_throttled_event", async () => {
    const me = await signedIn(limited);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await limited.post(
        "/auth/jwt/create/",
        { username: me.username, password: `wrong-${i}` },
        { headers: { "CF-Connecting-IP": `198.51.100.${i + 1}` } },
      );
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, ...Array(9).fill(429)]);
    // The owner, from elsewhere, reads the log through the session opened before the attack.
    const deadline = Date.now() + 3000;
    let kinds: string[] = [];
    while (Date.now() < deadline) {
      const res = await limited.call("/auth/users/me/events/", { auth: me.auth });
      kinds = res.body.results.map((e: any) => e.kind);
      if (kinds.includes("throttled") && kinds.filter((k) => k === "login_failed").length === 3) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // Let any straggling writes land, then count: one throttled event for nine refusals.
    await new Promise((r) => setTimeout(r, 200));
    const rows = await limited.sql("SELECT kind FROM events WHERE user_id = ? AND kind = 'throttled'", me.id);
    expect(rows.length).toBe(1);
    expect(kinds[0]).toBe("throttled");
  });
});

describe("EVENTS_WEBHOOK_URL", () => {
  const HOOK = "http://hooks.test/events";
  const SECRET = "events-webhook-secret-0123456789abcdef";
  let hooked: TestApp;
  beforeAll(async () => {
    hooked = await spawnApp({ EVENTS_WEBHOOK_URL: HOOK, EVENTS_WEBHOOK_SECRET: SECRET });
    hooked.receivers.set(HOOK, 204);
  });
  afterAll(async () => {
    await hooked.dispose();
  });

  test("each_stored_event_is_posted_after_the_answer_signed_over_time_and_body", async () => {
    const me = await signedIn(hooked);
    const bad = await hooked.post("/auth/jwt/create/", { username: me.username, password: "wrong-pw-1" });
    expect(bad.status).toBe(401);
    await hooked.settle();
    const deliveries = hooked.outboundRequests.filter((r) => r.url === HOOK);
    const stored = await hooked.sql("SELECT id, kind FROM events WHERE user_id = ? ORDER BY id", me.id);
    expect(deliveries.map((d) => JSON.parse(d.body).kind)).toEqual(stored.map((e: any) => e.kind));
    expect(stored.map((e: any) => e.kind)).toEqual(["account_activated", "login_succeeded", "login_failed"]);
    for (const [i, d] of deliveries.entries()) {
      const event = JSON.parse(d.body);
      expect(event.id).toBe(stored[i].id);
      expect(event.user_id).toBe(me.id);
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(d.headers["x-event-signature"]);
      expect(m, d.headers["x-event-signature"]).not.toBeNull();
      expect(Math.abs(Number(m![1]) - Date.now() / 1000)).toBeLessThan(60);
      const expected = createHmac("sha256", SECRET).update(`${m![1]}.${d.body}`).digest("hex");
      expect(m![2]).toBe(expected);
      expect(d.headers["content-type"]).toBe("application/json");
    }
  });

  test("a_failing_receiver_is_logged_and_changes_no_answer", async () => {
    hooked.receivers.set(HOOK, 500);
    try {
      const me = await signedIn(hooked);
      await hooked.settle();
      expect(me.access).toBeTruthy();
      const failures = hooked.logs.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      expect(failures.some((f) => f.event === "event_webhook_failed" && /answered 500/.test(f.error))).toBe(true);
    } finally {
      hooked.receivers.set(HOOK, 204);
    }
  });
});
