// Usernames: set_username/, reset_username/ and reset_username_confirm/ with their e-mails and
// e-mailed tokens, and the RETYPE and SHOW_EMAIL_NOT_FOUND settings.
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
const NOT_STRING = "Not a valid string.";
const NOCREDS = { detail: "Authentication credentials were not provided." };
const INVALID_PASSWORD = "Invalid password.";
const INVALID_UID = "Invalid user id or user doesn't exist.";
const INVALID_TOKEN = "Invalid token for given user.";
const INVALID_EMAIL = "Enter a valid email address.";
const TAKEN = "A user with that username already exists.";
const INVALID_USERNAME =
  "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
const TOO_LONG_150 = "Ensure this field has no more than 150 characters.";
const MISMATCH = { non_field_errors: ["The two username fields didn't match."] };
const EMAIL_NOT_FOUND = ["User with given email does not exist."];
const PASSWORD = "Xyzzy-pw-1234";
const CHANGED_SUBJECT = "Djoser Reference - Your username has been successfully changed!";
const RESET_SUBJECT = "Username reset on Djoser Reference";

/** An active user with this file's password and a fresh JWT pair. */
const person = (app: TestApp): Promise<SignedInUser> => signedIn(app, { password: PASSWORD });

async function usernameOf(app: TestApp, id: number): Promise<string> {
  return (await app.sql("SELECT username FROM users WHERE id = ?", id))[0].username;
}

/** The uid and token of a fresh username-reset e-mail for `email`. */
async function resetLink(app: TestApp, email: string): Promise<{ uid: string; token: string }> {
  expectNoContent(await app.post("/auth/users/reset_username/", { email }));
  return app.lastLink(email);
}

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

describe("POST /auth/users/set_username/", () => {
  test("set_username_requires_authentication", async () => {
    const res = await app.post("/auth/users/set_username/", { current_password: PASSWORD, new_username: unique() });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(NOCREDS);
  });

  test("empty_body_lists_current_password_then_new_username", async () => {
    const me = await person(app);
    const res = await app.post("/auth/users/set_username/", {}, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["current_password", "new_username"]);
    expect(res.body).toEqual({ current_password: [REQ], new_username: [REQ] });
  });

  test("wrong_password_and_taken_name_are_reported_together", async () => {
    const other = await person(app);
    const me = await person(app);
    const res = await app.post("/auth/users/set_username/", { current_password: "wrong", new_username: other.username }, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ current_password: [INVALID_PASSWORD], new_username: [TAKEN] });
  });

  test("own_current_username_counts_as_taken", async () => {
    const me = await person(app);
    const res = await app.post("/auth/users/set_username/", { current_password: PASSWORD, new_username: me.username }, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_username: [TAKEN] });
  });

  test("invalid_new_usernames_get_djangos_messages", async () => {
    const me = await person(app);
    const cases: [unknown, string[]][] = [
      ["bad name!", [INVALID_USERNAME]],
      ["a".repeat(151), [TOO_LONG_150]],
      ["!".repeat(151), [INVALID_USERNAME, TOO_LONG_150]],
      ["   ", [BLANK]],
      [null, [NULL]],
      [["x"], [NOT_STRING]],
    ];
    for (const [newUsername, messages] of cases) {
      const res = await app.post("/auth/users/set_username/", { current_password: PASSWORD, new_username: newUsername }, { auth: me.auth });
      expect(res.status, JSON.stringify(newUsername)).toBe(400);
      expect(res.body).toEqual({ new_username: messages });
    }
    expect(await usernameOf(app, me.id)).toBe(me.username);
  });

  test("set_username_changes_the_name_and_sends_the_changed_email", async () => {
    // Arrange
    const me = await person(app);
    const newName = unique("renamed");
    // Act
    const res = await app.post(
      "/auth/users/set_username/",
      { current_password: ` ${PASSWORD} `, new_username: `  ${newName}  ` },
      { auth: me.auth },
    );
    // Assert
    expectNoContent(res);
    expect(await usernameOf(app, me.id)).toBe(newName);
    const mails = app.emailsTo(me.email).filter((m) => m.kind === "username_changed_confirmation");
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ subject: CHANGED_SUBJECT, to: [me.email], from: "webmaster@localhost" });
    expect(mails[0].text).toContain("Your username has been changed!");
    // The existing JWT carries the id, so it keeps working; logins use the new name.
    const meNow = await app.call("/auth/users/me/", { auth: me.auth });
    expect(meNow.body).toEqual({ email: me.email, id: me.id, username: newName });
    expect((await app.post("/auth/jwt/create/", { username: me.username, password: PASSWORD })).status).toBe(401);
    expect((await app.post("/auth/jwt/create/", { username: newName, password: PASSWORD })).status).toBe(200);
  });

  test("the_old_name_is_free_again_after_a_change", async () => {
    const me = await person(app);
    await app.post("/auth/users/set_username/", { current_password: PASSWORD, new_username: unique() }, { auth: me.auth });
    const res = await app.register(me.username, PASSWORD, "");
    expect(res.status).toBe(201);
  });

  test("numbers_become_string_usernames", async () => {
    const me = await person(app);
    const numeric = Number(`7${Date.now() % 1_000_000_000}`);
    expectNoContent(await app.post("/auth/users/set_username/", { current_password: PASSWORD, new_username: numeric }, { auth: me.auth }));
    expect(await usernameOf(app, me.id)).toBe(String(numeric));
  });

  test("failed_set_username_sends_no_email", async () => {
    const me = await person(app);
    const sent = app.emails.length;
    await app.post("/auth/users/set_username/", { current_password: "wrong", new_username: unique() }, { auth: me.auth });
    expect(app.emails.length).toBe(sent);
  });

  test("set_username_does_not_spend_an_outstanding_password_reset_token", async () => {
    // Django's token covers the password hash, last_login and e-mail, not the username.
    const me = await person(app);
    await app.post("/auth/users/reset_password/", { email: me.email });
    const link = app.lastLink(me.email);
    expectNoContent(await app.post("/auth/users/set_username/", { current_password: PASSWORD, new_username: unique() }, { auth: me.auth }));
    expectNoContent(await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: "Brand-new-pw-5678" }));
  });
});

describe("POST /auth/users/reset_username/", () => {
  test("reset_for_an_active_user_emails_a_link_and_the_current_username", async () => {
    // Arrange
    const me = await person(app);
    // Act
    const res = await app.post("/auth/users/reset_username/", { email: me.email });
    // Assert
    expectNoContent(res);
    const mails = app.emailsTo(me.email).filter((m) => m.kind === "username_reset");
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ subject: RESET_SUBJECT, to: [me.email], from: "webmaster@localhost" });
    const { uid, token, url } = app.lastLink(me.email);
    expect(url).toBe(`http://localhost:3000/username/reset/confirm/${uid}/${token}`);
    expect(mails[0].text).toContain("a username reset");
    expect(mails[0].text).toContain("choose a new username:");
    expect(mails[0].text).toContain(me.username);
  });

  test("reset_for_an_unknown_or_inactive_email_answers_204_and_sends_nothing", async () => {
    const username = unique();
    const email = `${username}@example.com`;
    await app.register(username, PASSWORD, email);
    const sent = app.emails.length;
    expectNoContent(await app.post("/auth/users/reset_username/", { email }));
    expectNoContent(await app.post("/auth/users/reset_username/", { email: `${unique()}@example.com` }));
    expect(app.emails.length).toBe(sent);
  });

  test("reset_validates_the_email_field", async () => {
    const cases: [unknown, string][] = [
      [undefined, REQ],
      [" ", BLANK],
      [null, NULL],
      ["nope", INVALID_EMAIL],
      [true, INVALID_EMAIL],
    ];
    for (const [email, message] of cases) {
      const res = await app.post("/auth/users/reset_username/", email === undefined ? {} : { email });
      expect(res.status, JSON.stringify(email)).toBe(400);
      expect(res.body).toEqual({ email: [message] });
    }
  });
});

describe("POST /auth/users/reset_username_confirm/", () => {
  test("empty_body_reports_only_new_username", async () => {
    const res = await app.post("/auth/users/reset_username_confirm/", {});
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ new_username: [REQ] });
  });

  test("missing_uid_is_400_invalid_uid", async () => {
    const res = await app.post("/auth/users/reset_username_confirm/", { new_username: unique() });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ uid: [INVALID_UID] });
  });

  test("new_username_is_checked_before_the_uid", async () => {
    const other = await person(app);
    const taken = await app.post("/auth/users/reset_username_confirm/", { uid: "garbage", token: "x", new_username: other.username });
    expect(taken.status).toBe(400);
    expect(taken.body).toEqual({ new_username: [TAKEN] });
    const invalid = await app.post("/auth/users/reset_username_confirm/", { uid: "garbage", new_username: "bad name" });
    expect(invalid.body).toEqual({ new_username: [INVALID_USERNAME] });
  });

  test("wrong_missing_or_non_string_token_is_400_invalid_token", async () => {
    const me = await person(app);
    const { uid } = await resetLink(app, me.email);
    for (const extra of [{}, { token: "x" }, { token: null }, { token: 42 }]) {
      const res = await app.post("/auth/users/reset_username_confirm/", { uid, new_username: unique(), ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.body).toEqual({ token: [INVALID_TOKEN] });
    }
    expect(await usernameOf(app, me.id)).toBe(me.username);
  });

  test("reset_confirm_sets_the_username_and_sends_the_changed_email", async () => {
    // Arrange
    const me = await person(app);
    const { uid, token } = await resetLink(app, me.email);
    const newName = unique("reset");
    // Act
    const res = await app.post("/auth/users/reset_username_confirm/", { uid, token, new_username: ` ${newName} ` });
    // Assert
    expectNoContent(res);
    expect(await usernameOf(app, me.id)).toBe(newName);
    const last = app.emailsTo(me.email).at(-1);
    expect(last).toMatchObject({ kind: "username_changed_confirmation", subject: CHANGED_SUBJECT });
    expect((await app.post("/auth/jwt/create/", { username: newName, password: PASSWORD })).status).toBe(200);
    const lastLogin = await app.sql("SELECT last_login FROM users WHERE id = ?", me.id);
    expect(lastLogin[0].last_login).not.toBeNull();
  });

  test("reset_username_token_is_single_use_for_every_flow", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    const first = unique("once");
    expectNoContent(await app.post("/auth/users/reset_username_confirm/", { ...link, new_username: first }));
    const again = await app.post("/auth/users/reset_username_confirm/", { ...link, new_username: unique() });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ token: [INVALID_TOKEN] });
    const asPassword = await app.post("/auth/users/reset_password_confirm/", { ...link, new_password: "Brand-new-pw-5678" });
    expect(asPassword.body).toEqual({ token: [INVALID_TOKEN] });
    expect(await usernameOf(app, me.id)).toBe(first);
  });

  test("a_password_reset_token_does_not_change_the_username", async () => {
    // Deliberate difference from djoser: the username-reset token also covers the username
    // (docs/differences.md#usernames), so other flows' tokens are refused here.
    const me = await person(app);
    await app.post("/auth/users/reset_password/", { email: me.email });
    const link = app.lastLink(me.email);
    const res = await app.post("/auth/users/reset_username_confirm/", { ...link, new_username: unique("viapw") });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ token: [INVALID_TOKEN] });
    expect(await usernameOf(app, me.id)).toBe(me.username);
  });

  test("a_username_reset_link_dies_when_the_username_changes", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    const set = await app.post(
      "/auth/users/set_username/",
      { current_password: PASSWORD, new_username: unique("moved") },
      { auth: me.auth },
    );
    expect(set.status).toBe(204);
    const res = await app.post("/auth/users/reset_username_confirm/", { ...link, new_username: unique() });
    expect(res.body).toEqual({ token: [INVALID_TOKEN] });
  });

  test("failed_reset_confirm_sends_no_email", async () => {
    const me = await person(app);
    const link = await resetLink(app, me.email);
    const sent = app.emails.length;
    await app.post("/auth/users/reset_username_confirm/", { ...link, new_username: me.username });
    await app.post("/auth/users/reset_username_confirm/", { uid: link.uid, token: "bad", new_username: unique() });
    expect(app.emails.length).toBe(sent);
  });
});

describe("setting SET_USERNAME_RETYPE=true", () => {
  let retype: TestApp;
  beforeAll(async () => {
    retype = await spawnApp({ SET_USERNAME_RETYPE: "true" });
  });
  afterAll(async () => {
    await retype.dispose();
  });

  test("re_new_username_is_required_after_new_username", async () => {
    const me = await person(retype);
    const res = await retype.post("/auth/users/set_username/", {}, { auth: me.auth });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["current_password", "new_username", "re_new_username"]);
    expect(res.body).toEqual({ current_password: [REQ], new_username: [REQ], re_new_username: [REQ] });
  });

  test("mismatch_is_a_non_field_error", async () => {
    const me = await person(retype);
    const res = await retype.post(
      "/auth/users/set_username/",
      { current_password: PASSWORD, new_username: unique(), re_new_username: "other" },
      { auth: me.auth },
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual(MISMATCH);
    expect(await usernameOf(retype, me.id)).toBe(me.username);
  });

  test("matching_retype_changes_the_username", async () => {
    const me = await person(retype);
    const newName = unique("rt");
    const res = await retype.post(
      "/auth/users/set_username/",
      { current_password: PASSWORD, new_username: newName, re_new_username: ` ${newName} ` },
      { auth: me.auth },
    );
    expectNoContent(res);
    expect(await usernameOf(retype, me.id)).toBe(newName);
  });
});

describe("setting USERNAME_RESET_CONFIRM_RETYPE=true", () => {
  let retype: TestApp;
  beforeAll(async () => {
    retype = await spawnApp({ USERNAME_RESET_CONFIRM_RETYPE: "true" });
  });
  afterAll(async () => {
    await retype.dispose();
  });

  test("empty_body_requires_new_username_and_re_new_username_only", async () => {
    const res = await retype.post("/auth/users/reset_username_confirm/", {});
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["new_username", "re_new_username"]);
    expect(res.body).toEqual({ new_username: [REQ], re_new_username: [REQ] });
  });

  test("mismatch_is_reported_before_the_uid_is_checked", async () => {
    const res = await retype.post("/auth/users/reset_username_confirm/", { new_username: unique(), re_new_username: "zz" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(MISMATCH);
  });

  test("matching_retype_resets_the_username", async () => {
    const me = await person(retype);
    const link = await resetLink(retype, me.email);
    const newName = unique("rr");
    expectNoContent(await retype.post("/auth/users/reset_username_confirm/", { ...link, new_username: newName, re_new_username: newName }));
    expect(await usernameOf(retype, me.id)).toBe(newName);
  });
});

describe("setting USERNAME_RESET_SHOW_EMAIL_NOT_FOUND=true", () => {
  let show: TestApp;
  beforeAll(async () => {
    show = await spawnApp({ USERNAME_RESET_SHOW_EMAIL_NOT_FOUND: "true" });
  });
  afterAll(async () => {
    await show.dispose();
  });

  test("either_show_setting_turns_the_400_on_for_every_lookup_endpoint", async () => {
    for (const path of ["reset_username", "reset_password", "resend_activation"]) {
      const res = await show.post(`/auth/users/${path}/`, { email: `${unique()}@example.com` });
      expect(res.status, path).toBe(400);
      expect(res.body).toEqual(EMAIL_NOT_FOUND);
    }
  });

  test("a_known_active_email_still_gets_204_and_the_mail", async () => {
    const me = await person(show);
    expectNoContent(await show.post("/auth/users/reset_username/", { email: me.email }));
    expect(show.emailsTo(me.email).at(-1)?.kind).toBe("username_reset");
  });
});

describe("setting USERNAME_CHANGED_EMAIL_CONFIRMATION=false", () => {
  let quiet: TestApp;
  beforeAll(async () => {
    quiet = await spawnApp({ USERNAME_CHANGED_EMAIL_CONFIRMATION: "false" });
  });
  afterAll(async () => {
    await quiet.dispose();
  });

  test("username_changes_send_no_email", async () => {
    const me = await person(quiet);
    expectNoContent(await quiet.post("/auth/users/set_username/", { current_password: PASSWORD, new_username: unique() }, { auth: me.auth }));
    const link = await resetLink(quiet, me.email);
    expectNoContent(await quiet.post("/auth/users/reset_username_confirm/", { ...link, new_username: unique() }));
    expect(quiet.emailsTo(me.email).map((m) => m.kind)).toEqual(["activation", "confirmation", "username_reset"]);
  });
});
