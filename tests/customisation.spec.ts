// djoser's customisation points as settings (docs/customisation.md): user fields, PERMISSIONS_*,
// e-mail templates in KV with the webhook's context, and ACCESS_TOKEN_CLAIMS.
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decodeJwt, signedIn, spawnApp, TestApp, unique } from "./helpers";

const PASSWORD = "Sturdy-pass-4821";

/** Django's pbkdf2_sha256 encoding (few iterations: the format is what matters). */
function djangoHash(password: string): string {
  const salt = randomBytes(8).toString("hex");
  const hash = pbkdf2Sync(password, salt, 1000, 32, "sha256").toString("base64");
  return `pbkdf2_sha256$1000$${salt}$${hash}`;
}

/** Stores an active user straight in D1 (for closed registration); returns its id. */
async function insertUser(app: TestApp, username: string, staff = false): Promise<number> {
  const rows = await app.sql(
    "INSERT INTO users (username, email, email_key, password, is_active, is_staff, date_joined) " +
      "VALUES (?1, ?2, ?2, ?3, 1, ?4, 0) RETURNING id",
    username,
    `${username}@example.com`,
    djangoHash(PASSWORD),
    staff ? 1 : 0,
  );
  return rows[0].id;
}

async function bearer(app: TestApp, username: string): Promise<string> {
  const { access } = await app.jwtCreate(username, PASSWORD);
  return `Bearer ${access}`;
}

async function userCount(app: TestApp): Promise<number> {
  return (await app.sql("SELECT COUNT(*) AS n FROM users"))[0].n;
}

/** The e-mails to `to` of `kind`, waiting up to 3 s: with overrides on, the mailer reads KV
 * before it posts, which `settle()` (it watches outbound requests only) cannot see. */
async function mailsOf(app: TestApp, to: string, kind: string): Promise<any[]> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const found = app.emailsTo(to).filter((m: any) => m.kind === kind);
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const NOT_AUTHENTICATED = { detail: "Authentication credentials were not provided." };
const FORBIDDEN = { detail: "You do not have permission to perform this action." };

describe("user fields", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({
      USER_EXTRA_FIELDS: '{"phone":"string:20","age":"integer","newsletter":"boolean"}',
      USER_FIELDS: "first_name,last_name",
      REQUIRED_FIELDS: "age",
      SEND_ACTIVATION_EMAIL: "false",
    });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("registration_accepts_the_fields_and_answers_them_in_serializer_order", async () => {
    const username = unique("fields");
    const res = await app.post("/auth/users/", {
      username,
      password: PASSWORD,
      email: `${username}@example.com`,
      first_name: " Ada ",
      age: "36",
      newsletter: "yes",
    });
    expect(res.status).toBe(201);
    expect(res.text).toBe(
      JSON.stringify({
        email: `${username}@example.com`,
        first_name: "Ada",
        last_name: "",
        phone: "",
        age: 36,
        newsletter: true,
        username,
        id: res.body.id,
      }),
    );
    const [row] = await app.sql("SELECT first_name, extra_fields FROM users WHERE id = ?", res.body.id);
    expect(row.first_name).toBe("Ada");
    expect(JSON.parse(row.extra_fields)).toEqual({ age: 36, newsletter: true });

    const auth = await bearer(app, username);
    const me = await app.call("/auth/users/me/", { auth });
    expect(me.status).toBe(200);
    expect(Object.keys(me.body)).toEqual([
      "email", "first_name", "last_name", "phone", "age", "newsletter", "id", "username",
    ]);
    expect(me.body).toMatchObject({ first_name: "Ada", age: 36, newsletter: true, phone: "" });
    const list = await app.call("/auth/users/", { auth });
    expect(list.body).toEqual([me.body]);
  });

  test("bad_values_get_drfs_messages_in_field_order_and_store_nothing", async () => {
    const before = await userCount(app);
    const res = await app.post("/auth/users/", {
      username: unique("bad"),
      password: PASSWORD,
      email: "not-an-address",
      phone: "x".repeat(21),
      newsletter: "maybe",
      first_name: ["a"],
    });
    expect(res.status).toBe(400);
    expect(res.text).toBe(
      JSON.stringify({
        email: ["Enter a valid email address."],
        first_name: ["Not a valid string."],
        phone: ["Ensure this field has no more than 20 characters."],
        age: ["This field is required."],
        newsletter: ["Must be a valid boolean."],
      }),
    );
    const typed = await app.post("/auth/users/", {
      username: unique("bad"),
      password: PASSWORD,
      age: 12.5,
    });
    expect(typed.status).toBe(400);
    expect(typed.body).toEqual({ age: ["A valid integer is required."] });
    const lone = await app.call("/auth/users/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: `{"username":"${unique("bad")}","password":"${PASSWORD}","age":1,"phone":"a\\ud800"}`,
    });
    expect(lone.status).toBe(400);
    expect(lone.body).toEqual({ phone: ["Surrogate characters are not allowed: U+D800."] });
    const big = await app.post("/auth/users/", { username: unique("bad"), password: PASSWORD, age: 2147483648 });
    expect(big.body).toEqual({ age: ["Ensure this value is less than or equal to 2147483647."] });
    expect(await userCount(app)).toBe(before);
  });

  test("patch_updates_some_fields_and_put_needs_the_required_ones", async () => {
    const username = unique("upd");
    const reg = await app.post("/auth/users/", { username, password: PASSWORD, age: 20 });
    expect(reg.status).toBe(201);
    const auth = await bearer(app, username);

    const patch = await app.post("/auth/users/me/", { phone: "+31 6", age: null }, { method: "PATCH", auth });
    expect(patch.status).toBe(400);
    expect(patch.body).toEqual({ age: ["This field may not be null."] });

    const ok = await app.post("/auth/users/me/", { phone: "+31 6", last_name: "Lovelace" }, { method: "PATCH", auth });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ phone: "+31 6", last_name: "Lovelace", age: 20, newsletter: null });

    const put = await app.post("/auth/users/me/", { phone: "0" }, { method: "PUT", auth });
    expect(put.status).toBe(400);
    expect(put.body).toEqual({ age: ["This field is required."] });
    const me = await app.call("/auth/users/me/", { auth });
    expect(me.body.phone).toBe("+31 6");

    const set = await app.post("/auth/users/me/", { newsletter: false }, { method: "PATCH", auth });
    expect(set.body.newsletter).toBe(false);
    // null clears an optional field: the key leaves the stored object, the others stay.
    const cleared = await app.post("/auth/users/me/", { newsletter: null }, { method: "PATCH", auth });
    expect(cleared.status).toBe(200);
    expect(cleared.body.newsletter).toBeNull();
    const [row] = await app.sql("SELECT extra_fields FROM users WHERE id = ?", reg.body.id);
    expect(JSON.parse(row.extra_fields)).toEqual({ age: 20, phone: "+31 6" });
  });
});

describe("LOGIN_FIELD=email", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ LOGIN_FIELD: "email", SEND_ACTIVATION_EMAIL: "false" });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("the_email_is_required_not_blank_and_unique_at_registration", async () => {
    const before = await userCount(app);
    const missing = await app.post("/auth/users/", { username: unique("e"), password: PASSWORD });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ email: ["This field is required."] });
    const blank = await app.post("/auth/users/", { username: unique("e"), password: PASSWORD, email: "  " });
    expect(blank.body).toEqual({ email: ["This field may not be blank."] });
    expect(await userCount(app)).toBe(before);

    const email = `${unique("mail")}@example.com`;
    const first = await app.post("/auth/users/", { username: unique("e"), password: PASSWORD, email });
    expect(first.status).toBe(201);
    const twice = await app.post("/auth/users/", { username: unique("e"), password: PASSWORD, email: email.toUpperCase() });
    expect(twice.status).toBe(400);
    expect(twice.body).toEqual({ email: ["user with this email address already exists."] });

    const login = await app.post("/auth/jwt/create/", { email, password: PASSWORD });
    expect(login.status).toBe(200);
    const blanked = await app.post("/auth/users/me/", { email: "" }, { method: "PATCH", auth: `Bearer ${login.body.access}` });
    expect(blanked.status).toBe(400);
    expect(blanked.body).toEqual({ email: ["This field may not be blank."] });
    const put = await app.post("/auth/users/me/", {}, { method: "PUT", auth: `Bearer ${login.body.access}` });
    expect(put.status).toBe(400);
    expect(put.body).toEqual({ email: ["This field is required."] });
  });
});

describe("permissions", () => {
  test("closed_registration_is_401_anonymous_and_403_signed_in_and_stores_nothing", async () => {
    const app = await spawnApp({ PERMISSIONS_USER_CREATE: "nobody" });
    try {
      const member = unique("member");
      await insertUser(app, member);
      const before = await userCount(app);
      const anon = await app.post("/auth/users/", { username: unique("x"), password: PASSWORD });
      expect(anon.status).toBe(401);
      expect(anon.text).toBe(JSON.stringify(NOT_AUTHENTICATED));
      expect(anon.headers.get("www-authenticate")).toBe('Bearer realm="api"');
      const signed = await app.post("/auth/users/", { username: unique("x"), password: PASSWORD }, { auth: await bearer(app, member) });
      expect(signed.status).toBe(403);
      expect(signed.text).toBe(JSON.stringify(FORBIDDEN));
      expect(await userCount(app)).toBe(before);
      expect(app.emails.length).toBe(0);
    } finally {
      await app.dispose();
    }
  });

  test("staff_only_registration_list_and_deletion", async () => {
    const app = await spawnApp({
      PERMISSIONS_USER_CREATE: "staff",
      PERMISSIONS_USER_LIST: "staff",
      PERMISSIONS_USER_DELETE: "staff",
    });
    try {
      const boss = unique("boss");
      await insertUser(app, boss, true);
      const member = unique("member");
      const memberId = await insertUser(app, member);
      const staffAuth = await bearer(app, boss);
      const memberAuth = await bearer(app, member);

      const byMember = await app.post("/auth/users/", { username: unique("x"), password: PASSWORD }, { auth: memberAuth });
      expect(byMember.status).toBe(403);
      const byStaff = await app.post("/auth/users/", { username: unique("new"), password: PASSWORD }, { auth: staffAuth });
      expect(byStaff.status).toBe(201);

      const list = await app.call("/auth/users/", { auth: memberAuth });
      expect(list.status).toBe(403);
      expect(list.body).toEqual(FORBIDDEN);
      expect((await app.call("/auth/users/", { auth: staffAuth })).body.length).toBe(3);

      // The member may still read and edit themself (PERMISSIONS_USER is unchanged) but not delete.
      expect((await app.call("/auth/users/me/", { auth: memberAuth })).status).toBe(200);
      const del = await app.post("/auth/users/me/", { current_password: PASSWORD }, { method: "DELETE", auth: memberAuth });
      expect(del.status).toBe(403);
      expect(await app.sql("SELECT id FROM users WHERE id = ?", memberId)).toEqual([{ id: memberId }]);
      const byBoss = await app.post(`/auth/users/${memberId}/`, { current_password: PASSWORD }, { method: "DELETE", auth: staffAuth });
      expect(byBoss.status).toBe(204);
    } finally {
      await app.dispose();
    }
  });

  test("user_nobody_closes_the_user_object_even_to_its_owner", async () => {
    const app = await spawnApp({ PERMISSIONS_USER: "nobody" });
    try {
      const u = await signedIn(app);
      expect((await app.call("/auth/users/me/", {})).status).toBe(401);
      const me = await app.call("/auth/users/me/", { auth: u.auth });
      expect(me.status).toBe(403);
      expect(me.body).toEqual(FORBIDDEN);
      expect((await app.call(`/auth/users/${u.id}/`, { auth: u.auth })).status).toBe(403);
      const patch = await app.post("/auth/users/me/", { email: "x@example.com" }, { method: "PATCH", auth: u.auth });
      expect(patch.status).toBe(403);
      expect((await app.sql("SELECT email FROM users WHERE id = ?", u.id))[0].email).toBe(u.email);
    } finally {
      await app.dispose();
    }
  });

  test("a_bad_permission_value_is_a_configuration_error_naming_the_key", async () => {
    const app = await spawnApp({ PERMISSIONS_USER_DELETE: "anyone" });
    try {
      const res = await app.call("/auth/users/me/", {});
      expect(res.status).toBe(500);
      expect(app.logs.join("\n")).toContain("PERMISSIONS_USER_DELETE");
    } finally {
      await app.dispose();
    }
  });
});

describe("e-mail templates and the webhook context", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({
      EMAIL_TEMPLATE_OVERRIDES: "true",
      EMAIL_WEBHOOK_CONTEXT: "true",
      USER_FIELDS: "first_name",
    });
    const kv = await app.mf.getKVNamespace("AUTH_KV");
    await kv.put(
      "email_template:activation",
      JSON.stringify({
        subject: "Welcome {{ user.first_name }} to {{ site_name }}",
        text: "Hi {{ user.first_name }}, open {{ protocol }}://{{ domain }}/{{ url }} (uid {{ uid }})",
        html: "<p>Hi {{ user.first_name }}, <a href=\"{{ link }}\">activate</a></p>",
      }),
    );
    await kv.put("email_template:confirmation", "{not json");
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("the_override_renders_djosers_variables_escaped_in_html_only", async () => {
    // Django's username validator refuses "<", so the markup rides in first_name.
    const username = unique("tpl");
    const firstName = "<script>alert('x')</script> & Co";
    const email = `${username}@example.com`;
    const res = await app.post("/auth/users/", { username, password: PASSWORD, email, first_name: firstName });
    expect(res.status).toBe(201);
    const [mail] = await mailsOf(app, email, "activation");
    expect(mail.subject).toBe(`Welcome ${firstName} to Djoser Reference`);
    const { uid, token } = mail.context;
    expect(token).toMatch(/^[0-9a-z]+-[0-9a-f]+$/);
    expect(mail.text).toBe(`Hi ${firstName}, open http://localhost:3000/activate/${uid}/${token} (uid ${uid})`);
    expect(mail.html).toBe(
      "<p>Hi &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co, " +
        `<a href="http://localhost:3000/activate/${uid}/${token}">activate</a></p>`,
    );
    expect(mail.html).not.toContain("<script>");
    expect(mail.context).toMatchObject({
      site_name: "Djoser Reference",
      domain: "localhost:3000",
      protocol: "http",
      url: `activate/${uid}/${token}`,
      link: `http://localhost:3000/activate/${uid}/${token}`,
      user: { id: res.body.id, username, email, first_name: firstName },
    });
    expect(mail.context.user.password).toBeUndefined();
    // The context's uid and token are the link's: the account activates with them.
    const act = await app.post("/auth/users/activation/", { uid, token });
    expect(act.status).toBe(204);
    // A broken override is logged and the built-in e-mail goes out.
    const confirmations = await mailsOf(app, email, "confirmation");
    expect(confirmations.length).toBe(1);
    expect(confirmations[0].subject).toBe("Djoser Reference - Your account has been successfully created and activated!");
    expect(app.logs.join("\n")).toContain("email_template:confirmation not used");
  });
});

describe("access token claims", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp({ ACCESS_TOKEN_CLAIMS: "username,is_staff,email" });
  });
  afterAll(async () => {
    await app.dispose();
  });

  test("claims_are_added_at_login_and_refreshed_from_the_user", async () => {
    const u = await signedIn(app);
    await app.sql("UPDATE users SET is_staff = 1 WHERE id = ?", u.id);
    const pair = await app.jwtCreate(u.username, u.password);
    const access = decodeJwt(pair.access).payload;
    expect(Object.keys(access).slice(0, 5)).toEqual(["token_type", "exp", "iat", "jti", "user_id"]);
    expect(access).toMatchObject({ token_type: "access", user_id: String(u.id), username: u.username, is_staff: true, email: u.email });
    expect(decodeJwt(pair.refresh).payload.is_staff).toBeUndefined();
    expect((await app.post("/auth/jwt/verify/", { token: pair.access })).status).toBe(200);
    expect((await app.call("/auth/users/me/", { auth: `Bearer ${pair.access}` })).status).toBe(200);

    // Demoted: the next access token no longer says staff.
    await app.sql("UPDATE users SET is_staff = 0 WHERE id = ?", u.id);
    const next = await app.post("/auth/jwt/refresh/", { refresh: pair.refresh });
    expect(next.status).toBe(200);
    expect(decodeJwt(next.body.access).payload.is_staff).toBe(false);
  });
});
