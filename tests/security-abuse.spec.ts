// Abuse protection (issue 5 "Abuse protection"; docs/security.md#throttling): rate limits per
// client IP and per account or address with DRF's 429, the e-mail bombing cap, timing-safe login,
// the security headers on every answer, and CORS for configured origins only.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Reply, spawnApp, TestApp, unique } from "./helpers";

const DAY = 86_400;
const THROTTLED = /^Request was throttled\. Expected available in (\d+) seconds?\.$/;

let ipCounter = 0;
/** A client address no other test in this file uses. */
function freshIp(): string {
  ipCounter += 1;
  return `198.51.${ipCounter >> 8}.${ipCounter & 255}`;
}

function from(ip: string): Record<string, string> {
  return { "CF-Connecting-IP": ip };
}

/** Asserts DRF's 429 with a truthful Retry-After within `window`. */
function expectThrottled(res: Reply, window: number, label = ""): number {
  expect(res.status, `${label}: ${res.status} ${res.text}`).toBe(429);
  expect(Object.keys(res.body)).toEqual(["detail"]);
  const m = THROTTLED.exec(res.body.detail);
  expect(m, res.body.detail).not.toBeNull();
  const wait = Number(m![1]);
  expect(wait).toBeGreaterThanOrEqual(1);
  expect(wait).toBeLessThanOrEqual(window);
  expect(res.headers.get("retry-after")).toBe(String(wait));
  expect(res.body.detail.endsWith(wait === 1 ? "1 second." : `${wait} seconds.`)).toBe(true);
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("cache-control")).toBe("no-store");
  return wait;
}

function expectNotThrottled(res: Reply, label = ""): void {
  expect(res.status, `${label}: ${res.text}`).not.toBe(429);
  expect(res.status, `${label}: ${res.text}`).toBeLessThan(500);
}

// ---- rate limits ----

describe("rate limits (issue 5)", () => {
  let app: TestApp;

  /** Registers and activates a user, each step from its own fresh address. */
  async function activeUser(): Promise<{ id: number; username: string; password: string; email: string; uid: string }> {
    const username = unique("rl");
    const password = "Sup3r-secret-pw!";
    const email = `${username}@example.com`;
    const reg = await app.post("/auth/users/", { username, password, email }, { headers: from(freshIp()) });
    expect(reg.status, reg.text).toBe(201);
    const { uid, token } = app.lastLink(email);
    const act = await app.post("/auth/users/activation/", { uid, token }, { headers: from(freshIp()) });
    expect(act.status, act.text).toBe(204);
    return { id: reg.body.id, username, password, email, uid };
  }

  /** Registers a user without activating it: its uid has seen no confirm request yet. */
  async function registeredUser(): Promise<{ uid: string }> {
    const username = unique("rg");
    const email = `${username}@example.com`;
    const reg = await app.post("/auth/users/", { username, password: "Sup3r-secret-pw!", email }, { headers: from(freshIp()) });
    expect(reg.status, reg.text).toBe(201);
    return { uid: app.lastLink(email).uid };
  }

  async function bearerFor(u: { username: string; password: string }): Promise<string> {
    const res = await app.post("/auth/jwt/create/", { username: u.username, password: u.password }, { headers: from(freshIp()) });
    expect(res.status, res.text).toBe(200);
    return `Bearer ${res.body.access}`;
  }

  beforeAll(async () => {
    app = await spawnApp({
      RATE_LIMITS: "on",
      RATE_LIMIT_LOGIN: `3/${DAY}`,
      RATE_LIMIT_LOGIN_ACCOUNT: `5/${DAY}`,
      RATE_LIMIT_REGISTER: `3/${DAY}`,
      RATE_LIMIT_EMAIL: `3/${DAY}`,
      RATE_LIMIT_CONFIRM: `3/${DAY}`,
      RATE_LIMIT_REFRESH: `3/${DAY}`,
    });
  });
  afterAll(async () => {
    await app.dispose();
  });

  for (const path of ["/auth/jwt/create/", "/auth/token/login/"]) {
    const name = path.includes("/jwt/") ? "jwt_create" : "token_login";

    test(`${name}_is_throttled_per_client_ip`, async () => {
      const ip = freshIp();
      for (let i = 0; i < 3; i += 1) {
        expectNotThrottled(await app.post(path, { username: unique("nobody"), password: "x" }, { headers: from(ip) }));
      }
      expectThrottled(await app.post(path, { username: unique("nobody"), password: "x" }, { headers: from(ip) }), DAY, name);
      // Another client is unaffected.
      expectNotThrottled(await app.post(path, { username: unique("nobody"), password: "x" }, { headers: from(freshIp()) }));
    });

    test(`${name}_failures_from_one_client_do_not_lock_the_owner_out_at_another`, async () => {
      const u = await activeUser();
      const guesser = freshIp();
      for (let i = 0; i < 3; i += 1) {
        expectNotThrottled(await app.post(path, { username: u.username, password: "wrong" }, { headers: from(guesser) }));
      }
      // The guesser's client is done, even with the right password: the limit comes before the check.
      expectThrottled(await app.post(path, { username: u.username, password: u.password }, { headers: from(guesser) }), DAY, name);
      const owner = await app.post(path, { username: u.username, password: u.password }, { headers: from(freshIp()) });
      expect(owner.status, owner.text).toBe(200);
    });

    test(`${name}_failures_from_many_clients_are_capped_per_account`, async () => {
      const u = await activeUser();
      for (let i = 0; i < 5; i += 1) {
        expectNotThrottled(await app.post(path, { username: u.username, password: "wrong" }, { headers: from(freshIp()) }));
      }
      // RATE_LIMIT_LOGIN_ACCOUNT failures in all: even the right password is refused, from anywhere.
      expectThrottled(await app.post(path, { username: u.username, password: u.password }, { headers: from(freshIp()) }), DAY, name);
      // Usernames are case-sensitive, as in Django: another spelling is another account's counter.
      expectNotThrottled(await app.post(path, { username: u.username.toUpperCase(), password: "x" }, { headers: from(freshIp()) }));
      // Another account is unaffected.
      const other = await activeUser();
      const ok = await app.post(path, { username: other.username, password: other.password }, { headers: from(freshIp()) });
      expect(ok.status).toBe(200);
    });

    test(`${name}_correct_passwords_never_count_against_the_account`, async () => {
      const u = await activeUser();
      for (let i = 0; i < 8; i += 1) {
        const res = await app.post(path, { username: u.username, password: u.password }, { headers: from(freshIp()) });
        expect(res.status, `login ${i + 1}: ${res.text}`).toBe(200);
      }
    });
  }

  test("throttled_answers_are_the_same_for_known_and_unknown_accounts", async () => {
    const u = await activeUser();
    const ghost = unique("ghost");
    const answers: Reply[][] = [[], []];
    for (const [i, username] of [u.username, ghost].entries()) {
      for (let n = 0; n < 7; n += 1) {
        answers[i].push(await app.post("/auth/jwt/create/", { username, password: "wrong" }, { headers: from(freshIp()) }));
      }
    }
    expect(answers[0].map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(answers[1].map((r) => r.status)).toEqual(answers[0].map((r) => r.status));
    // The wait counts down by the second, so it may differ by one between the two runs.
    const shape = (r: Reply) => JSON.stringify(r.body).replace(/in \d+ seconds/, "in N seconds");
    expect(answers[1].map(shape)).toEqual(answers[0].map(shape));
    const wait = (r: Reply) => Number(r.headers.get("retry-after") ?? 0);
    for (let n = 5; n < 7; n += 1) {
      expect(Math.abs(wait(answers[1][n]) - wait(answers[0][n]))).toBeLessThanOrEqual(1);
    }
  });

  test("jwt_refresh_is_throttled_per_client_ip_and_a_throttled_refresh_spends_nothing", async () => {
    const u = await activeUser();
    const created = await app.post("/auth/jwt/create/", { username: u.username, password: u.password }, { headers: from(freshIp()) });
    expect(created.status, created.text).toBe(200);
    let refresh: string = created.body.refresh;
    const ip = freshIp();
    for (let i = 0; i < 3; i += 1) {
      const res = await app.post("/auth/jwt/refresh/", { refresh }, { headers: from(ip) });
      expect(res.status, res.text).toBe(200);
      refresh = res.body.refresh;
    }
    expectThrottled(await app.post("/auth/jwt/refresh/", { refresh }, { headers: from(ip) }), DAY, "jwt_refresh");
    // A forged token is refused before the throttle is asked: it costs no storage.
    expect((await app.post("/auth/jwt/refresh/", { refresh: "x.y.z" }, { headers: from(ip) })).status).toBe(401);
    // The throttled call spent nothing: the same token still rotates from another client.
    const res = await app.post("/auth/jwt/refresh/", { refresh }, { headers: from(freshIp()) });
    expect(res.status, res.text).toBe(200);
  });

  test("registration_is_throttled_per_client_ip", async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i += 1) {
      const name = unique("reg");
      const res = await app.post("/auth/users/", { username: name, email: `${name}@example.com`, password: "Sup3r-secret-pw!" }, { headers: from(ip) });
      expect(res.status, res.text).toBe(201);
    }
    const name = unique("reg");
    const res = await app.post("/auth/users/", { username: name, email: `${name}@example.com`, password: "Sup3r-secret-pw!" }, { headers: from(ip) });
    expectThrottled(res, DAY, "register");
    expect(await app.sql("SELECT id FROM users WHERE username = ?", name)).toEqual([]);
  });

  test("registration_is_throttled_per_email_address_across_addresses", async () => {
    const email = `${unique("regmail")}@example.com`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const res = await app.post(
        "/auth/users/",
        { username: unique("rm"), email: i % 2 ? email.toUpperCase() : email, password: "Sup3r-secret-pw!" },
        { headers: from(freshIp()) },
      );
      statuses.push(res.status);
      if (res.status === 429) expectThrottled(res, DAY);
    }
    expect(statuses).toEqual([201, 400, 400, 429, 429]);
    expect(app.emailsTo(email).length).toBe(1);
  });

  for (const path of ["/auth/users/reset_password/", "/auth/users/reset_username/", "/auth/users/resend_activation/"]) {
    const name = path.split("/")[3];

    test(`${name}_is_throttled_per_client_ip`, async () => {
      const ip = freshIp();
      for (let i = 0; i < 3; i += 1) {
        const res = await app.post(path, { email: `${unique("n")}@example.com` }, { headers: from(ip) });
        expect(res.status).toBe(204);
      }
      expectThrottled(await app.post(path, { email: `${unique("n")}@example.com` }, { headers: from(ip) }), DAY, name);
      expect((await app.post(path, { email: `${unique("n")}@example.com` }, { headers: from(freshIp()) })).status).toBe(204);
    });

    test(`${name}_is_throttled_per_address_across_client_ips`, async () => {
      const email = `${unique("addr")}@example.com`;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        statuses.push((await app.post(path, { email }, { headers: from(freshIp()) })).status);
      }
      expect(statuses).toEqual([204, 204, 204, 429, 429]);
    });
  }

  test("mail_to_one_address_is_capped_at_rate_limit_email_whatever_the_endpoint_or_client", async () => {
    const victim = await activeUser();
    const before = app.emailsTo(victim.email).length;
    const endpoints = ["/auth/users/reset_password/", "/auth/users/reset_username/"];
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const email = i % 3 === 0 ? victim.email.toUpperCase() : victim.email;
      statuses.push((await app.post(endpoints[i % 2], { email }, { headers: from(freshIp()) })).status);
    }
    const sent = app.emailsTo(victim.email).length - before;
    console.log(`[security-abuse] 30 reset requests to one address from 30 clients: ${sent} e-mails sent`);
    expect(sent).toBe(3);
    expect(statuses.filter((s) => s === 204).length).toBe(3);
    expect(statuses.filter((s) => s === 429).length).toBe(27);
  });

  test("set_password_is_throttled_per_client_ip_and_its_failures_per_account", async () => {
    const setPassword = (auth: string, current: string, ip: string) =>
      app.post("/auth/users/set_password/", { current_password: current, new_password: "Another-pw-11!" }, { auth, headers: from(ip) });

    // Failures from one client: that client is done, the owner elsewhere is not.
    const u = await activeUser();
    const auth = await bearerFor(u);
    const guesser = freshIp();
    for (let i = 0; i < 3; i += 1) {
      const res = await setPassword(auth, "wrong", guesser);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ current_password: ["Invalid password."] });
    }
    expectThrottled(await setPassword(auth, u.password, guesser), DAY, "set_password per account and client");
    expect((await setPassword(auth, u.password, freshIp())).status).toBe(204);

    // Failures from many clients: capped per account (RATE_LIMIT_LOGIN_ACCOUNT).
    const v = await activeUser();
    const vAuth = await bearerFor(v);
    for (let i = 0; i < 5; i += 1) {
      expect((await setPassword(vAuth, "wrong", freshIp())).status).toBe(400);
    }
    expectThrottled(await setPassword(vAuth, v.password, freshIp()), DAY, "set_password per account");

    // Per client: every check counts, three different accounts from one address.
    const ip = freshIp();
    const users = [await activeUser(), await activeUser(), await activeUser(), await activeUser()];
    const auths = [];
    for (const x of users) auths.push(await bearerFor(x));
    for (let i = 0; i < 3; i += 1) {
      expect((await setPassword(auths[i], "wrong", ip)).status).toBe(400);
    }
    expectThrottled(await setPassword(auths[3], users[3].password, ip), DAY, "set_password per ip");
  });

  test("failed_logins_for_a_username_that_is_a_user_id_do_not_throttle_that_users_password_checks", async () => {
    const u = await activeUser();
    const auth = await bearerFor(u);
    // Fail logins for the username "<id>" from many clients until that name is throttled.
    let last: Reply | undefined;
    for (let i = 0; i < 20 && last?.status !== 429; i += 1) {
      last = await app.post("/auth/jwt/create/", { username: String(u.id), password: "wrong" }, { headers: from(freshIp()) });
    }
    expectThrottled(last!, DAY, "the name");
    const res = await app.post("/auth/users/set_password/", { current_password: u.password, new_password: "Another-pw-11!" }, { auth, headers: from(freshIp()) });
    expect(res.status, res.text).toBe(204);
  });

  const confirmBodies: [string, (uid: string) => Record<string, string>][] = [
    ["/auth/users/activation/", (uid) => ({ uid, token: "c1d2e3-0123456789abcdef0123" })],
    ["/auth/users/reset_password_confirm/", (uid) => ({ uid, token: "c1d2e3-0123456789abcdef0123", new_password: "Guess-pw-12!" })],
    ["/auth/users/reset_username_confirm/", (uid) => ({ uid, token: "c1d2e3-0123456789abcdef0123", new_username: unique("g") })],
  ];

  for (const [path, body] of confirmBodies) {
    const name = path.split("/")[3];

    test(`${name}_token_guessing_is_throttled_per_client_ip`, async () => {
      const u = await registeredUser();
      const ip = freshIp();
      for (let i = 0; i < 3; i += 1) {
        const res = await app.post(path, body(u.uid), { headers: from(ip) });
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ token: ["Invalid token for given user."] });
      }
      expectThrottled(await app.post(path, body(u.uid), { headers: from(ip) }), DAY, name);
    });

    test(`${name}_guesses_from_many_clients_do_not_lock_the_users_link`, async () => {
      // The link the user really got: activation, or a reset link for an active user.
      let uid: string;
      let token: string;
      if (path.includes("activation")) {
        const username = unique("lk");
        const email = `${username}@example.com`;
        const reg = await app.post("/auth/users/", { username, password: "Sup3r-secret-pw!", email }, { headers: from(freshIp()) });
        expect(reg.status, reg.text).toBe(201);
        ({ uid, token } = app.lastLink(email));
      } else {
        const u = await activeUser();
        const ask = path.includes("password") ? "/auth/users/reset_password/" : "/auth/users/reset_username/";
        expect((await app.post(ask, { email: u.email }, { headers: from(freshIp()) })).status).toBe(204);
        ({ uid, token } = app.lastLink(u.email));
      }
      // Guesses at that uid (in every spelling Django decodes alike) from many clients.
      const spellings = [uid, `${uid}==`, `${uid}====`];
      for (let i = 0; i < 6; i += 1) {
        const res = await app.post(path, body(spellings[i % 3]), { headers: from(freshIp()) });
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ token: ["Invalid token for given user."] });
      }
      const res = await app.post(path, { ...body(uid), token }, { headers: from(freshIp()) });
      expect(res.status, res.text).toBe(204);
    });
  }

  test("the_confirm_limit_is_shared_by_all_confirm_endpoints", async () => {
    const u = await registeredUser();
    const ip = freshIp();
    for (const [path, body] of confirmBodies) {
      expect((await app.post(path, body(u.uid), { headers: from(ip) })).status).toBe(400);
    }
    expectThrottled(await app.post(confirmBodies[0][0], confirmBodies[0][1](u.uid), { headers: from(ip) }), DAY);
  });

  test("reset_username_confirm_is_throttled_before_it_says_whether_a_username_is_taken", async () => {
    const u = await activeUser();
    const ip = freshIp();
    // No valid uid or token: only the name is probed.
    const probe = () => app.post("/auth/users/reset_username_confirm/", { uid: "x", token: "y", new_username: u.username }, { headers: from(ip) });
    for (let i = 0; i < 3; i += 1) {
      const res = await probe();
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ new_username: ["A user with that username already exists."] });
    }
    expectThrottled(await probe(), DAY, "username probe");
  });

  test("a_throttled_client_adds_no_counter_rows_whatever_it_asks_about", async () => {
    const rows = async (): Promise<number> => (await app.sql("SELECT COUNT(*) AS n FROM throttle"))[0].n;
    const ip = freshIp();
    let before = await rows();
    for (let i = 0; i < 60; i += 1) {
      await app.post("/auth/users/reset_password/", { email: `${unique("flood")}@example.com` }, { headers: from(ip) });
    }
    // The client's row and the three addresses it could ask about before it was throttled.
    expect((await rows()) - before).toBe(4);
    before = await rows();
    for (let i = 0; i < 60; i += 1) {
      await app.post("/auth/jwt/create/", { username: unique("flood"), password: "x" }, { headers: from(ip) });
    }
    // The client's row and at most two per login it could still try.
    expect((await rows()) - before).toBeLessThanOrEqual(7);
  });

  test("concurrent_requests_are_counted_exactly", async () => {
    const ip = freshIp();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => app.post("/auth/jwt/create/", { username: unique("par"), password: "x" }, { headers: from(ip) })),
    );
    expect(answers.filter((r) => r.status === 401).length).toBe(3);
    expect(answers.filter((r) => r.status === 429).length).toBe(17);
  });

  test("ipv6_clients_are_counted_per_64_prefix", async () => {
    const prefix = `2001:db8:${(ipCounter += 1).toString(16)}:1`;
    for (let i = 1; i <= 3; i += 1) {
      expectNotThrottled(await app.post("/auth/jwt/create/", { username: unique("v6"), password: "x" }, { headers: from(`${prefix}::${i}`) }));
    }
    // Another address of the same /64 is the same client.
    expectThrottled(await app.post("/auth/jwt/create/", { username: unique("v6"), password: "x" }, { headers: from(`${prefix}:ffff:ffff:ffff:ffff`) }), DAY);
    // The next /64 is another.
    expectNotThrottled(await app.post("/auth/jwt/create/", { username: unique("v6"), password: "x" }, { headers: from(`2001:db8:${ipCounter.toString(16)}:2::1`) }));
  });

  test("a_hostile_client_address_or_login_name_cannot_break_the_counter", async () => {
    for (const ip of ["", " ", "x".repeat(5000), "1.2.3.4, 5.6.7.8", "::ffff:1.2.3.4", "'; DROP TABLE throttle; --"]) {
      const res = await app.post("/auth/jwt/create/", { username: "x".repeat(4000) + unique(), password: "x" }, { headers: from(ip) });
      expect(res.status, `${JSON.stringify(ip.slice(0, 20))}: ${res.text}`).toBeLessThan(500);
    }
    expect((await app.sql("SELECT COUNT(*) AS n FROM throttle"))[0].n).toBeGreaterThan(0);
  });
});

describe("throttle windows", () => {
  test("retry_after_is_truthful_the_window_resets", async () => {
    const app = await spawnApp({ RATE_LIMITS: "on", RATE_LIMIT_LOGIN: "2/2" });
    try {
      const call = () => app.post("/auth/jwt/create/", { username: "same", password: "x" }, { headers: from("192.0.2.1") });
      let res = await call();
      while (res.status !== 429) res = await call();
      const wait = expectThrottled(res, 2);
      await new Promise((r) => setTimeout(r, wait * 1000 + 150));
      expect((await call()).status).toBe(401);
    } finally {
      await app.dispose();
    }
  });

  test("rate_limits_off_never_throttles", async () => {
    const app = await spawnApp({ RATE_LIMITS: "off", RATE_LIMIT_LOGIN: "1/3600" });
    try {
      for (let i = 0; i < 15; i += 1) {
        const res = await app.post("/auth/jwt/create/", { username: "same", password: "x" }, { headers: from("192.0.2.1") });
        expect(res.status).toBe(401);
      }
    } finally {
      await app.dispose();
    }
  });
});

// ---- timing-safe login: an unknown account costs the same argon2 work as a wrong password ----

describe("login timing does not reveal accounts", () => {
  test("unknown_user_login_costs_an_argon2_verify", async () => {
    // The shipped argon2 cost (m=19456 KiB, t=2, p=1), not the test suite's cheap one.
    const app = await spawnApp({ ARGON2_MEMORY_KIB: "19456", ARGON2_ITERATIONS: "2", ARGON2_PARALLELISM: "1" });
    try {
      const u = await app.createActiveUser();
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const time = async (path: string, username: string) => {
        const t0 = performance.now();
        const res = await app.post(path, { username, password: "Wrong-password-1" });
        const ms = performance.now() - t0;
        expect(res.status).toBeGreaterThanOrEqual(400);
        return ms;
      };
      for (const path of ["/auth/jwt/create/", "/auth/token/login/"]) {
        await time(path, u.username); // warm-up
        const known: number[] = [];
        const unknown: number[] = [];
        for (let i = 0; i < 10; i += 1) {
          known.push(await time(path, u.username));
          unknown.push(await time(path, unique("ghost")));
        }
        const k = median(known);
        const n = median(unknown);
        console.log(`[security-abuse] ${path}: median wrong-password ${k.toFixed(1)} ms, unknown-user ${n.toFixed(1)} ms (ratio ${(n / k).toFixed(2)})`);
        expect(n).toBeGreaterThanOrEqual(0.5 * k);
        expect(n).toBeLessThanOrEqual(2 * k);
      }
    } finally {
      await app.dispose();
    }
  });

  test("unknown_and_known_accounts_get_the_same_answer", async () => {
    const app = await spawnApp();
    try {
      const u = await app.createActiveUser();
      const inactive = unique("inact");
      await app.register(inactive, "Sup3r-secret-pw!", `${inactive}@example.com`);
      for (const [path, expected] of [
        ["/auth/jwt/create/", { status: 401, body: { detail: "No active account found with the given credentials" } }],
        ["/auth/token/login/", { status: 400, body: { non_field_errors: ["Unable to log in with provided credentials."] } }],
      ] as const) {
        for (const [username, password] of [
          [u.username, "wrong"],
          [unique("ghost"), "wrong"],
          [inactive, "Sup3r-secret-pw!"],
        ]) {
          const res = await app.post(path, { username, password });
          expect(res.status, `${path} ${username}`).toBe(expected.status);
          expect(res.body).toEqual(expected.body);
        }
      }
      // reset/resend: 204 and no mail for unknown addresses, like known ones.
      for (const path of ["/auth/users/reset_password/", "/auth/users/reset_username/", "/auth/users/resend_activation/"]) {
        const ghost = `${unique("ghost")}@example.com`;
        const res = await app.post(path, { email: ghost });
        expect(res.status).toBe(204);
        expect(res.text).toBe("");
        expect(app.emailsTo(ghost)).toEqual([]);
      }
    } finally {
      await app.dispose();
    }
  });
});

// ---- security headers and CORS (docs/security.md#security-headers-and-cors) ----

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cache-control": "no-store",
};

function expectSecurityHeaders(res: Reply, label: string): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    expect(res.headers.get(name), `${label}: ${name}`).toBe(value);
  }
}

describe("security headers", () => {
  test("every_kind_of_answer_carries_the_security_headers", async () => {
    const app = await spawnApp({ RATE_LIMITS: "on", RATE_LIMIT_LOGIN: "1/86400", CORS_ALLOWED_ORIGINS: "https://app.example.com" });
    try {
      const u = await app.createActiveUser();
      const pair = await app.jwtCreate(u.username, u.password);
      const auth = `Bearer ${pair.access}`;
      const seen = new Set<number>();
      const name = unique("h");
      const answers: [string, Promise<Reply>][] = [
        ["root 200", app.call("/auth/")],
        ["HEAD root", app.call("/auth/", { method: "HEAD" })],
        ["me 200", app.call("/auth/users/me/", { auth })],
        ["register 201", app.post("/auth/users/", { username: name, email: `${name}@example.com`, password: "Sup3r-secret-pw!" })],
        ["reset 204", app.post("/auth/users/reset_password/", { email: "x@example.com" })],
        ["400", app.post("/auth/jwt/verify/", {})],
        ["401", app.call("/auth/users/me/")],
        ["401 bad token", app.call("/auth/users/me/", { auth: "Bearer x" })],
        ["404", app.call("/nope")],
        ["405", app.call("/auth/jwt/create/", { method: "GET" })],
        ["413", app.call("/auth/jwt/create/", { method: "POST", body: "x".repeat(70_000), headers: { "Content-Type": "application/json" } })],
        ["415", app.call("/auth/jwt/create/", { method: "POST", body: "x", headers: { "Content-Type": "text/plain" } })],
        ["OPTIONS 200", app.call("/auth/jwt/create/", { method: "OPTIONS" })],
        ["preflight 204", app.call("/auth/jwt/create/", { method: "OPTIONS", headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" } })],
        ["jwt refresh 200", app.post("/auth/jwt/refresh/", { refresh: pair.refresh })],
      ];
      for (const [label, pending] of answers) {
        const res = await pending;
        seen.add(res.status);
        expectSecurityHeaders(res, label);
      }
      // Tokens: jwt/create and token/login answers must not be cached either; the login limit
      // of one then gives a 429 for the second login.
      const created = await app.post("/auth/jwt/create/", { username: u.username, password: u.password });
      expect(created.status).toBe(429);
      expectSecurityHeaders(created, "429");
      seen.add(created.status);
      expect([...seen].sort()).toEqual([200, 201, 204, 400, 401, 404, 405, 413, 415, 429]);
    } finally {
      await app.dispose();
    }
  });

  test("token_answers_are_never_cacheable", async () => {
    const app = await spawnApp();
    try {
      const u = await app.createActiveUser();
      const created = await app.post("/auth/jwt/create/", { username: u.username, password: u.password });
      const refreshed = await app.post("/auth/jwt/refresh/", { refresh: created.body.refresh });
      const login = await app.post("/auth/token/login/", { username: u.username, password: u.password });
      for (const [label, res] of [["jwt/create", created], ["jwt/refresh", refreshed], ["token/login", login]] as const) {
        expect(res.status, label).toBe(200);
        expect(res.headers.get("cache-control"), label).toBe("no-store");
        expect(res.headers.get("vary"), label).toContain("Origin");
      }
    } finally {
      await app.dispose();
    }
  });
});

describe("CORS", () => {
  const LISTED = "https://app.example.com";
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ CORS_ALLOWED_ORIGINS: `${LISTED}, https://admin.example.com/` });
  });
  afterAll(async () => {
    await app.dispose();
  });

  const LOOK_ALIKES = [
    "https://evil.example",
    "http://app.example.com",
    "https://app.example.com.evil.test",
    "https://evil-app.example.com",
    "https://app.example.com:8443",
    "https://sub.app.example.com",
    "null",
  ];

  function expectNoGrant(res: Reply, label: string): void {
    for (const h of ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers", "access-control-allow-credentials"]) {
      expect(res.headers.get(h), `${label}: ${h}`).toBeNull();
    }
  }

  test("a_listed_origin_gets_the_grant_on_answers_and_errors", async () => {
    for (const origin of [LISTED, "https://admin.example.com"]) {
      for (const res of [
        await app.call("/auth/", { headers: { Origin: origin } }),
        await app.post("/auth/jwt/verify/", { token: "x" }, { headers: { Origin: origin } }),
        await app.call("/auth/users/me/", { headers: { Origin: origin } }),
      ]) {
        expect(res.headers.get("access-control-allow-origin")).toBe(origin);
        expect(res.headers.get("access-control-expose-headers")).toBe("Retry-After, WWW-Authenticate");
        expect(res.headers.get("vary")).toContain("Origin");
        expect(res.headers.get("access-control-allow-credentials")).toBeNull();
      }
    }
  });

  test("unlisted_and_look_alike_origins_get_no_grant", async () => {
    for (const origin of LOOK_ALIKES) {
      expectNoGrant(await app.call("/auth/", { headers: { Origin: origin } }), origin);
      expectNoGrant(await app.post("/auth/jwt/create/", { username: "a", password: "b" }, { headers: { Origin: origin } }), origin);
    }
    expectNoGrant(await app.call("/auth/"), "no origin");
  });

  test("a_preflight_from_a_listed_origin_is_204_with_the_routes_methods", async () => {
    for (const [path, methods] of [
      ["/auth/jwt/create/", "POST, OPTIONS"],
      ["/auth/users/me/", "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"],
      ["/auth/users/", "GET, POST, PUT, PATCH, HEAD, OPTIONS"],
      ["/auth/token/logout/", "POST, OPTIONS"],
    ]) {
      const res = await app.call(path, {
        method: "OPTIONS",
        headers: { Origin: LISTED, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type" },
      });
      expect(res.status, path).toBe(204);
      expect(res.text).toBe("");
      expect(res.headers.get("access-control-allow-origin")).toBe(LISTED);
      expect(res.headers.get("access-control-allow-methods")).toBe(methods);
      const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/,\s*/);
      expect(allowed).toEqual(expect.arrayContaining(["authorization", "content-type"]));
      expect(res.headers.get("access-control-max-age")).toBe("86400");
      expect(res.headers.get("vary")).toContain("Origin");
      expectSecurityHeaders(res, `preflight ${path}`);
    }
  });

  test("a_preflight_from_an_unlisted_origin_gets_no_grant", async () => {
    for (const origin of LOOK_ALIKES) {
      for (const path of ["/auth/jwt/create/", "/auth/users/me/"]) {
        const res = await app.call(path, { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "POST" } });
        expectNoGrant(res, `${origin} ${path}`);
        // Answered as a plain OPTIONS request (DRF metadata, or 401 on the users routes).
        expect([200, 401]).toContain(res.status);
      }
    }
  });

  test("a_preflight_to_an_unknown_path_gets_no_grant", async () => {
    const res = await app.call("/auth/nope/", { method: "OPTIONS", headers: { Origin: LISTED, "Access-Control-Request-Method": "POST" } });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Not found." });
    expect(res.headers.get("access-control-allow-methods")).toBeNull();
  });

  test("no_origin_is_granted_when_none_is_configured", async () => {
    const closed = await spawnApp();
    try {
      const res = await closed.call("/auth/jwt/create/", { method: "OPTIONS", headers: { Origin: LISTED, "Access-Control-Request-Method": "POST" } });
      expectNoGrant(res, "default config preflight");
      expectNoGrant(await closed.call("/auth/", { headers: { Origin: LISTED } }), "default config GET");
    } finally {
      await closed.dispose();
    }
  });
});
