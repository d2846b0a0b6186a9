// Passwords: set_password/, reset_password/ and reset_password_confirm/ with Django's validators,
// the e-mails and e-mailed tokens, and the RETYPE, SHOW_EMAIL_NOT_FOUND and
// LOGOUT_ON_PASSWORD_CHANGE settings.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  spawnApp,
  TestApp,
  unique,
  signedIn,
  SignedInUser,
  expectNoContent,
} from "./helpers";

const REQ = "This field is required.";
const BLANK = "This field may not be blank.";
const NULL = "This field may not be null.";
const NOCREDS = { detail: "Authentication credentials were not provided." };
const INVALID_PASSWORD = "Invalid password.";
const INVALID_UID = "Invalid user id or user doesn't exist.";
const INVALID_TOKEN = "Invalid token for given user.";
const INVALID_EMAIL = "Enter a valid email address.";
const MISMATCH = { non_field_errors: ["The two password fields didn't match."] };
const EMAIL_NOT_FOUND = ["User with given email does not exist."];
const TOO_SHORT = "This password is too short. It must contain at least 8 characters.";
const TOO_COMMON = "This password is too common.";
const NUMERIC = "This password is entirely numeric.";
const SIMILAR_USERNAME = "The password is too similar to the username.";
const SIMILAR_EMAIL = "The password is too similar to the email address.";
const PASSWORD = "Xyzzy-pw-1234";
const NEW_PASSWORD = "Brand-new-pw-5678";
const CHANGED_SUBJECT = "Djoser Reference - Your password has been successfully changed!";
const RESET_SUBJECT = "Password reset on Djoser Reference";

/** An active user with this file's password and a fresh JWT pair. */
const person = (app: TestApp): Promise<SignedInUser> => signedIn(app, { password: PASSWORD });

async function canLogin(app: TestApp, username: string, password: string): Promise<boolean> {
  const res = await app.post("/auth/jwt/create/", { username, password });
  return res.status === 200;
}

/** The uid and token of a fresh password-reset e-mail for `email`. */
async function resetLink(app: TestApp, email: string): Promise<{ uid: string; token: string }> {
  expectNoContent(await app.post("/auth/users/reset_password/", { email }));
  return app.lastLink(email);
}

/** Waits until the wall clock is in a later second than now (token times are whole seconds). */
async function nextSecond(): Promise<void> {
  const start = Math.floor(Date.now() / 1000);
  while (Math.floor(Date.now() / 1000) <= start) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

describe("POST /auth/users/set_password/", () => {
  test("set_password_requires_authentication", async () => {
    const res = await app.post("/auth/users/set_password/", { current_password: "x", new_password: NEW_PASSWORD });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(NOCREDS);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
  });

  test("set_password_with_empty_body_lists_new_then_current_password", async () => {
    const me = await person(app);
    const res = await app.post("/auth/users/set_password/", {}, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["new_password", "current_password"]);
    expect(res.body).toEqual({ new_password: [REQ], current_password: [REQ] });
  });

  test("wrong_current_password_is_a_field_error_gathered_with_other_field_errors", async () => {
    const me = await person(app);
    const res = await app.post("/auth/users/set_password/", { current_password: "wrong" }, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_password: [REQ], current_password: [INVALID_PASSWORD] });
  });

  test("wrong_current_password_hides_new_password_strength_errors", async () => {
    const me = await person(app);
    const res = await app.post("/auth/users/set_password/", { current_password: "wrong", new_password: "123" }, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ current_password: [INVALID_PASSWORD] });
  });

  test("weak_new_password_lists_every_failing_validator", async () => {
    const me = await person(app);
    const res = await app.post("/auth/users/set_password/", { current_password: PASSWORD, new_password: "123" }, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_password: [TOO_SHORT, TOO_COMMON, NUMERIC] });
    expect(await canLogin(app, me.username, PASSWORD)).toBe(true);
  });

  test("new_password_similar_to_the_users_own_username_or_email_is_rejected", async () => {
    const me = await person(app);
    const byName = await app.post(
      "/auth/users/set_password/",
      { current_password: PASSWORD, new_password: `${me.username}1` },
      { auth: me.auth },
    );
    expect(byName.status).toBe(400);
    expect(byName.body).toEqual({ new_password: [SIMILAR_USERNAME] });
    await app.sql("UPDATE users SET username = ? WHERE id = ?", unique("zz"), me.id);
    const local = me.email.split("@")[0];
    const byEmail = await app.post(
      "/auth/users/set_password/",
      { current_password: PASSWORD, new_password: `${local}@exam` },
      { auth: me.auth },
    );
    expect(byEmail.status).toBe(400);
    expect(byEmail.body).toEqual({ new_password: [SIMILAR_EMAIL] });
  });

  test("blank_and_null_passwords_are_field_errors", async () => {
    const me = await person(app);
    const res = await app.post("/auth/users/set_password/", { current_password: null, new_password: "   " }, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_password: [BLANK], current_password: [NULL] });
  });

  test("set_password_changes_the_password_and_sends_the_changed_email", async () => {
    // Arrange
    const me = await person(app);
    const key = await app.loginToken(me.username, PASSWORD);
    // Act
    const res = await app.post(
      "/auth/users/set_password/",
      { current_password: ` ${PASSWORD} `, new_password: `  ${NEW_PASSWORD}  ` },
      { auth: me.auth },
    );
    // Assert
    expectNoContent(res);
    expect(await canLogin(app, me.username, PASSWORD)).toBe(false);
    expect(await canLogin(app, me.username, NEW_PASSWORD)).toBe(true);
    const mails = app.emailsTo(me.email).filter((m) => m.kind === "password_changed_confirmation");
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ subject: CHANGED_SUBJECT, to: [me.email], from: "webmaster@localhost" });
    expect(mails[0].text).toContain("Your password has been changed!");
    // LOGOUT_ON_PASSWORD_CHANGE is off: the JWT and the DRF token keep working.
    expect((await app.call("/auth/users/me/", { auth: me.auth })).status).toBe(200);
    expect((await app.call("/auth/users/me/", { auth: `Token ${key}` })).status).toBe(200);
    expect((await app.post("/auth/jwt/refresh/", { refresh: me.refresh })).status).toBe(200);
  });

  test("set_password_works_with_drf_token_authentication", async () => {
    const me = await person(app);
    const key = await app.loginToken(me.username, PASSWORD);
    const res = await app.post("/auth/users/set_password/", { current_password: PASSWORD, new_password: NEW_PASSWORD }, { auth: `Token ${key}` });
    expectNoContent(res);
    expect(await canLogin(app, me.username, NEW_PASSWORD)).toBe(true);
  });

  test("failed_set_password_sends_no_email", async () => {
    const me = await person(app);
    const sent = app.emails.length;
    await app.post("/auth/users/set_password/", { current_password: "nope", new_password: NEW_PASSWORD }, { auth: me.auth });
    await app.post("/auth/users/set_password/", { current_password: PASSWORD, new_password: "password" }, { auth: me.auth });
    expect(app.emails.length).toBe(sent);
  });

  test("set_password_spends_an_outstanding_reset_token", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    expectNoContent(await app.post("/auth/users/set_password/", { current_password: PASSWORD, new_password: NEW_PASSWORD }, { auth: me.auth }));
    const res = await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: "Another-pw-1357" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ token: [INVALID_TOKEN] });
  });
});

describe("POST /auth/users/reset_password/", () => {
  test("reset_for_an_active_user_emails_a_link_and_the_username", async () => {
    // Arrange
    const me = await person(app);
    // Act
    const res = await app.post("/auth/users/reset_password/", { email: me.email });
    // Assert
    expectNoContent(res);
    const mails = app.emailsTo(me.email).filter((m) => m.kind === "password_reset");
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ subject: RESET_SUBJECT, to: [me.email], from: "webmaster@localhost" });
    const { uid, token, url } = app.lastLink(me.email);
    expect(url).toBe(`http://localhost:3000/password/reset/confirm/${uid}/${token}`);
    expect(uid).toBe(Buffer.from(String(me.id)).toString("base64url"));
    expect(mails[0].text).toContain(`Your username, in case you've forgotten: ${me.username}`);
    expect(mails[0].text).toContain(
      "You're receiving this email because you requested a password reset for your user account at Djoser Reference.",
    );
  });

  test("reset_for_an_unknown_email_answers_204_and_sends_nothing", async () => {
    const sent = app.emails.length;
    expectNoContent(await app.post("/auth/users/reset_password/", { email: `${unique()}@example.com` }));
    expect(app.emails.length).toBe(sent);
  });

  test("reset_for_an_inactive_user_answers_204_and_sends_nothing", async () => {
    const username = unique();
    const email = `${username}@example.com`;
    await app.register(username, PASSWORD, email);
    const sent = app.emails.length;
    expectNoContent(await app.post("/auth/users/reset_password/", { email }));
    expect(app.emails.length).toBe(sent);
  });

  test("reset_validates_the_email_field", async () => {
    const cases: [unknown, string][] = [
      [undefined, REQ],
      ["", BLANK],
      [null, NULL],
      ["not-an-email", INVALID_EMAIL],
      [{ a: 1 }, INVALID_EMAIL],
    ];
    for (const [email, message] of cases) {
      const res = await app.post("/auth/users/reset_password/", email === undefined ? {} : { email });
      expect(res.status, JSON.stringify(email)).toBe(400);
      expect(res.body).toEqual({ email: [message] });
    }
  });
});

describe("POST /auth/users/reset_password_confirm/", () => {
  test("empty_body_requires_uid_token_and_new_password_in_that_order", async () => {
    const res = await app.post("/auth/users/reset_password_confirm/", {});
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["uid", "token", "new_password"]);
    expect(res.body).toEqual({ uid: [REQ], token: [REQ], new_password: [REQ] });
  });

  test("weak_password_is_reported_before_the_uid_is_checked", async () => {
    const res = await app.post("/auth/users/reset_password_confirm/", { uid: "garbage", token: "garbage", new_password: "123" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_password: [TOO_SHORT, TOO_COMMON, NUMERIC] });
  });

  test("similarity_is_not_checked_because_the_user_is_anonymous_there", async () => {
    const me = await person(app);
    const { uid, token } = await resetLink(app, me.email);
    const similar = `${me.username}1`;
    expectNoContent(await app.post("/auth/users/reset_password_confirm/", { uid, token, new_password: similar }));
    expect(await canLogin(app, me.username, similar)).toBe(true);
  });

  test("unknown_uid_is_400_invalid_uid", async () => {
    for (const uid of ["garbage!", Buffer.from("987654").toString("base64url")]) {
      const res = await app.post("/auth/users/reset_password_confirm/", { uid, token: "x-y", new_password: NEW_PASSWORD });
      expect(res.status, uid).toBe(400);
      expect(res.body).toEqual({ uid: [INVALID_UID] });
    }
  });

  test("wrong_or_non_string_token_is_400_invalid_token", async () => {
    const me = await person(app);
    const { uid } = await resetLink(app, me.email);
    for (const token of ["x", 123, null]) {
      const res = await app.post("/auth/users/reset_password_confirm/", { uid, token, new_password: NEW_PASSWORD });
      expect(res.status, String(token)).toBe(400);
      if (token === null) {
        expect(res.body).toEqual({ token: [NULL] });
      } else {
        expect(res.body).toEqual({ token: [INVALID_TOKEN] });
      }
    }
    expect(await canLogin(app, me.username, PASSWORD)).toBe(true);
  });

  test("reset_confirm_sets_the_password_and_sends_the_changed_email", async () => {
    // Arrange
    const me = await person(app);
    const { uid, token } = await resetLink(app, me.email);
    // Act
    const res = await app.post("/auth/users/reset_password_confirm/", { uid, token, new_password: ` ${NEW_PASSWORD} ` });
    // Assert
    expectNoContent(res);
    expect(await canLogin(app, me.username, PASSWORD)).toBe(false);
    expect(await canLogin(app, me.username, NEW_PASSWORD)).toBe(true);
    const kinds = app.emailsTo(me.email).map((m) => m.kind);
    expect(kinds.slice(-2)).toEqual(["password_reset", "password_changed_confirmation"]);
    expect(app.emailsTo(me.email).at(-1)?.subject).toBe(CHANGED_SUBJECT);
    const lastLogin = await app.sql("SELECT last_login FROM users WHERE id = ?", me.id);
    expect(lastLogin[0].last_login).not.toBeNull();
  });

  test("reset_token_is_single_use", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    expectNoContent(await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: NEW_PASSWORD }));
    const again = await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: "Another-pw-1357" });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ token: [INVALID_TOKEN] });
    expect(await canLogin(app, me.username, NEW_PASSWORD)).toBe(true);
  });

  test("reset_token_is_spent_by_a_token_login_but_not_by_jwt_create", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    await app.jwtCreate(me.username, PASSWORD);
    expectNoContent(await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: NEW_PASSWORD }));
    const other = await person(app);
    const otherLink = await resetLink(app, other.email);
    await app.loginToken(other.username, PASSWORD);
    const res = await app.post("/auth/users/reset_password_confirm/", { ...otherLink, new_password: NEW_PASSWORD });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ token: [INVALID_TOKEN] });
  });

  test("a_newer_reset_email_leaves_the_older_link_valid_until_one_is_used", async () => {
    const me = await person(app);
    const first = await resetLink(app, me.email);
    await nextSecond();
    const second = await resetLink(app, me.email);
    expect(second.token).not.toBe(first.token);
    expectNoContent(await app.post("/auth/users/reset_password_confirm/", { ...first, new_password: NEW_PASSWORD }));
    const res = await app.post("/auth/users/reset_password_confirm/", { ...second, new_password: "Another-pw-1357" });
    expect(res.body).toEqual({ token: [INVALID_TOKEN] });
  });

  test("reset_token_is_spent_by_an_email_change", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    const moved = `changed-${me.email}`;
    await app.post("/auth/users/me/", { email: moved }, { method: "PATCH", auth: me.auth });
    // The change applies once the new address confirms it.
    expectNoContent(await app.post("/auth/users/email_change_confirm/", app.lastLink(moved)));
    const res = await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: NEW_PASSWORD });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ token: [INVALID_TOKEN] });
  });

  test("a_username_reset_token_does_not_reset_the_password", async () => {
    // Deliberate difference from djoser: username-reset tokens also cover the username
    // (docs/differences.md#usernames), so they only work on reset_username_confirm.
    const me = await person(app);
    expectNoContent(await app.post("/auth/users/reset_username/", { email: me.email }));
    const link = app.lastLink(me.email);
    const res = await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: NEW_PASSWORD });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ token: [INVALID_TOKEN] });
    expect(await canLogin(app, me.username, NEW_PASSWORD)).toBe(false);
  });

  test("failed_reset_confirm_sends_no_email", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    const sent = app.emails.length;
    await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: "123" });
    await app.post("/auth/users/reset_password_confirm/", { uid: link.uid, token: "bad", new_password: NEW_PASSWORD });
    expect(app.emails.length).toBe(sent);
  });
});

describe("setting SET_PASSWORD_RETYPE=true", () => {
  let retype: TestApp;
  beforeAll(async () => {
    retype = await spawnApp({ SET_PASSWORD_RETYPE: "true" });
  });
  afterAll(async () => {
    await retype.dispose();
  });

  test("re_new_password_is_required_between_new_and_current_password", async () => {
    const me = await person(retype);
    const res = await retype.post("/auth/users/set_password/", {}, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["new_password", "re_new_password", "current_password"]);
    expect(res.body).toEqual({ new_password: [REQ], re_new_password: [REQ], current_password: [REQ] });
  });

  test("mismatch_is_a_non_field_error_after_the_strength_check", async () => {
    const me = await person(retype);
    const weak = await retype.post(
      "/auth/users/set_password/",
      { current_password: PASSWORD, new_password: "123", re_new_password: "1" },
      { auth: me.auth },
    );
    expect(weak.body).toEqual({ new_password: [TOO_SHORT, TOO_COMMON, NUMERIC] });
    const res = await retype.post(
      "/auth/users/set_password/",
      { current_password: PASSWORD, new_password: NEW_PASSWORD, re_new_password: "other" },
      { auth: me.auth },
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual(MISMATCH);
    expect(await canLogin(retype, me.username, PASSWORD)).toBe(true);
  });

  test("matching_retype_changes_the_password", async () => {
    const me = await person(retype);
    const res = await retype.post(
      "/auth/users/set_password/",
      { current_password: PASSWORD, new_password: NEW_PASSWORD, re_new_password: ` ${NEW_PASSWORD}` },
      { auth: me.auth },
    );
    expectNoContent(res);
    expect(await canLogin(retype, me.username, NEW_PASSWORD)).toBe(true);
  });
});

describe("setting PASSWORD_RESET_CONFIRM_RETYPE=true", () => {
  let retype: TestApp;
  beforeAll(async () => {
    retype = await spawnApp({ PASSWORD_RESET_CONFIRM_RETYPE: "true" });
  });
  afterAll(async () => {
    await retype.dispose();
  });

  test("re_new_password_is_required_after_new_password", async () => {
    const res = await retype.post("/auth/users/reset_password_confirm/", {});
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["uid", "token", "new_password", "re_new_password"]);
    expect(res.body).toEqual({ uid: [REQ], token: [REQ], new_password: [REQ], re_new_password: [REQ] });
  });

  test("mismatch_is_reported_before_the_uid_is_checked", async () => {
    const res = await retype.post("/auth/users/reset_password_confirm/", {
      uid: "garbage",
      token: "garbage",
      new_password: NEW_PASSWORD,
      re_new_password: "other",
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(MISMATCH);
  });

  test("matching_retype_resets_the_password", async () => {
    const me = await person(retype);
    const link = await resetLink(retype, me.email);
    const res = await retype.post("/auth/users/reset_password_confirm/", {
      ...link,
      new_password: NEW_PASSWORD,
      re_new_password: NEW_PASSWORD,
    });
    expectNoContent(res);
    expect(await canLogin(retype, me.username, NEW_PASSWORD)).toBe(true);
  });
});

describe("setting PASSWORD_RESET_SHOW_EMAIL_NOT_FOUND=true", () => {
  let show: TestApp;
  beforeAll(async () => {
    show = await spawnApp({ PASSWORD_RESET_SHOW_EMAIL_NOT_FOUND: "true" });
  });
  afterAll(async () => {
    await show.dispose();
  });

  test("every_email_lookup_endpoint_answers_an_unknown_email_with_400", async () => {
    // The reference answers a bare list: djoser's get_user fails after is_valid().
    for (const path of ["reset_password", "reset_username", "resend_activation"]) {
      const res = await show.post(`/auth/users/${path}/`, { email: `${unique()}@example.com` });
      expect(res.status, path).toBe(400);
      expect(res.body).toEqual(EMAIL_NOT_FOUND);
    }
  });

  test("the_wrong_activity_state_counts_as_not_found", async () => {
    const me = await person(show);
    const resend = await show.post("/auth/users/resend_activation/", { email: me.email });
    expect(resend.status).toBe(400);
    expect(resend.body).toEqual(EMAIL_NOT_FOUND);
    const username = unique();
    const email = `${username}@example.com`;
    await show.register(username, PASSWORD, email);
    const reset = await show.post("/auth/users/reset_password/", { email });
    expect(reset.status).toBe(400);
    expect(reset.body).toEqual(EMAIL_NOT_FOUND);
  });

  test("a_known_active_email_still_gets_204_and_the_mail", async () => {
    const me = await person(show);
    expectNoContent(await show.post("/auth/users/reset_password/", { email: me.email }));
    expect(show.emailsTo(me.email).at(-1)?.kind).toBe("password_reset");
  });

  test("field_errors_come_before_the_lookup", async () => {
    const res = await show.post("/auth/users/reset_password/", { email: "bad" });
    expect(res.body).toEqual({ email: [INVALID_EMAIL] });
  });
});

describe("setting LOGOUT_ON_PASSWORD_CHANGE=true", () => {
  let logout: TestApp;
  beforeAll(async () => {
    logout = await spawnApp({ LOGOUT_ON_PASSWORD_CHANGE: "true" });
  });
  afterAll(async () => {
    await logout.dispose();
  });

  test("set_password_deletes_the_drf_token_and_refuses_older_jwts", async () => {
    // Arrange: tokens carry whole-second times, so the change happens in a later second.
    const me = await person(logout);
    const key = await logout.loginToken(me.username, PASSWORD);
    await nextSecond();
    // Act
    const res = await logout.post(
      "/auth/users/set_password/",
      { current_password: PASSWORD, new_password: NEW_PASSWORD },
      { auth: `Token ${key}` },
    );
    // Assert
    expectNoContent(res);
    const withToken = await logout.call("/auth/users/me/", { auth: `Token ${key}` });
    expect(withToken.status).toBe(401);
    expect(withToken.body).toEqual({ detail: "Invalid token." });
    const withJwt = await logout.call("/auth/users/me/", { auth: me.auth });
    expect(withJwt.status).toBe(401);
    expect(withJwt.body).toEqual({ detail: "The user's password has been changed.", code: "password_changed" });
    const refresh = await logout.post("/auth/jwt/refresh/", { refresh: me.refresh });
    expect(refresh.status).toBe(401);
    expect(refresh.body.code).toBe("token_not_valid");
    // A new login works at once.
    const fresh = await logout.jwtCreate(me.username, NEW_PASSWORD);
    expect((await logout.call("/auth/users/me/", { auth: `Bearer ${fresh.access}` })).status).toBe(200);
    const newKey = await logout.loginToken(me.username, NEW_PASSWORD);
    expect(newKey).not.toBe(key);
  });

  test("a_jwt_minted_in_the_same_second_as_the_password_change_is_refused", async () => {
    // Whole-second `iat` cannot order a token and a change made in the same second; the token's
    // password binding (simplejwt's CHECK_REVOKE_TOKEN claim) can.
    // Arrange: start right after a second boundary so both steps fall in the same second.
    const me = await logout.createActiveUser({ password: PASSWORD });
    await nextSecond();
    const { access } = await logout.jwtCreate(me.username, PASSWORD);
    // Act
    const res = await logout.post(
      "/auth/users/set_password/",
      { current_password: PASSWORD, new_password: NEW_PASSWORD },
      { auth: `Bearer ${access}` },
    );
    // Assert
    expectNoContent(res);
    const withJwt = await logout.call("/auth/users/me/", { auth: `Bearer ${access}` });
    expect(withJwt.status).toBe(401);
    expect(withJwt.body).toEqual({ detail: "The user's password has been changed.", code: "password_changed" });
  });

  test("set_password_with_jwt_authentication_also_deletes_the_drf_token", async () => {
    const me = await person(logout);
    const key = await logout.loginToken(me.username, PASSWORD);
    const res = await logout.post("/auth/users/set_password/", { current_password: PASSWORD, new_password: NEW_PASSWORD }, { auth: me.auth });
    expectNoContent(res);
    expect((await logout.call("/auth/users/me/", { auth: `Token ${key}` })).body).toEqual({ detail: "Invalid token." });
  });

  test("reset_password_confirm_also_ends_every_session", async () => {
    // djoser only logs out on set_password; a reset is the usual answer to a stolen account, so
    // this service revokes there too (docs/differences.md#passwords).
    const me = await person(logout);
    const key = await logout.loginToken(me.username, PASSWORD);
    const link = await resetLink(logout, me.email);
    expectNoContent(await logout.post("/auth/users/reset_password_confirm/", { ...link, new_password: NEW_PASSWORD }));
    expect((await logout.call("/auth/users/me/", { auth: `Token ${key}` })).body).toEqual({ detail: "Invalid token." });
    const withJwt = await logout.call("/auth/users/me/", { auth: me.auth });
    expect(withJwt.status).toBe(401);
    expect(withJwt.body).toEqual({ detail: "The user's password has been changed.", code: "password_changed" });
  });

  test("a_failed_set_password_logs_nobody_out", async () => {
    const me = await person(logout);
    const key = await logout.loginToken(me.username, PASSWORD);
    await nextSecond();
    await logout.post("/auth/users/set_password/", { current_password: "wrong", new_password: NEW_PASSWORD }, { auth: me.auth });
    expect((await logout.call("/auth/users/me/", { auth: `Token ${key}` })).status).toBe(200);
    expect((await logout.call("/auth/users/me/", { auth: me.auth })).status).toBe(200);
  });
});

describe("setting PASSWORD_CHANGED_EMAIL_CONFIRMATION=false", () => {
  let quiet: TestApp;
  beforeAll(async () => {
    quiet = await spawnApp({ PASSWORD_CHANGED_EMAIL_CONFIRMATION: "false" });
  });
  afterAll(async () => {
    await quiet.dispose();
  });

  test("password_changes_send_no_email", async () => {
    const me = await person(quiet);
    const link = await resetLink(quiet, me.email);
    expectNoContent(await quiet.post("/auth/users/reset_password_confirm/", { ...link, new_password: NEW_PASSWORD }));
    const { access } = await quiet.jwtCreate(me.username, NEW_PASSWORD);
    expectNoContent(
      await quiet.post("/auth/users/set_password/", { current_password: NEW_PASSWORD, new_password: PASSWORD }, { auth: `Bearer ${access}` }),
    );
    expect(quiet.emailsTo(me.email).map((m) => m.kind)).toEqual(["activation", "confirmation", "password_reset"]);
  });
});
