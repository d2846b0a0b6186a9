// E-mail changes through users/me with EMAIL_CHANGE_CONFIRMATION (the default): the change stays
// pending until the new address confirms it, the account stays active on the old address, and
// the old address gets a notice with a cancel link. djoser's immediate change is pinned in
// users.spec.ts (EMAIL_CHANGE_CONFIRMATION=false).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectNoContent, signedIn, spawnApp, TestApp, unique } from "./helpers";

const INVALID_TOKEN = { token: ["Invalid token for given user."] };

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

/** A signed-in user who asked to move to a fresh address. */
async function pendingChange() {
  const me = await signedIn(app);
  const moved = `${unique("moved")}@example.com`;
  const res = await app.post("/auth/users/me/", { email: moved }, { method: "PATCH", auth: me.auth });
  return { me, moved, res };
}

describe("PATCH users/me/ with a new e-mail", () => {
  test("the_answer_and_the_account_keep_the_old_address_until_confirmed", async () => {
    const { me, res } = await pendingChange();
    // What a djoser frontend sees: 200 with the user object, the address not (yet) changed.
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ email: me.email, id: me.id, username: me.username });
    const again = await app.call("/auth/users/me/", { auth: me.auth });
    expect(again.body.email).toBe(me.email);
    // Still active: the same access token works and the old address still logs in.
    expect(again.status).toBe(200);
    expect((await app.post("/auth/jwt/create/", { username: me.username, password: me.password })).status).toBe(200);
  });

  test("the_new_address_gets_a_confirmation_link_and_the_old_one_a_notice_with_a_cancel_link", async () => {
    const { me, moved } = await pendingChange();
    const [confirmation] = app.emailsTo(moved);
    expect(confirmation.kind).toBe("email_change_confirmation");
    expect(confirmation.text).toContain("/email/change/confirm/");
    const notice = app.emailsTo(me.email).at(-1)!;
    expect(notice.kind).toBe("email_change_notice");
    expect(notice.text).toContain("/email/change/cancel/");
  });

  test("the_confirmation_link_moves_the_account_and_then_is_spent", async () => {
    const { me, moved } = await pendingChange();
    const link = app.lastLink(moved);
    expectNoContent(await app.post("/auth/users/email_change_confirm/", link));
    expect((await app.call("/auth/users/me/", { auth: me.auth })).body.email).toBe(moved);
    const again = await app.post("/auth/users/email_change_confirm/", link);
    expect(again.status).toBe(400);
    expect(again.body).toEqual(INVALID_TOKEN);
  });

  test("the_cancel_link_drops_the_change_and_kills_the_confirmation_link", async () => {
    const { me, moved } = await pendingChange();
    const confirm = app.lastLink(moved);
    const cancel = app.lastLink(me.email);
    expectNoContent(await app.post("/auth/users/email_change_cancel/", cancel));
    const res = await app.post("/auth/users/email_change_confirm/", confirm);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(INVALID_TOKEN);
    expect((await app.call("/auth/users/me/", { auth: me.auth })).body.email).toBe(me.email);
  });

  test("a_stolen_access_token_alone_cannot_take_the_account", async () => {
    // An attacker with the victim's access token asks to move the account to their address.
    const { me, moved } = await pendingChange();
    // The victim is not deactivated, and no activation link goes to the attacker's address.
    expect((await app.call("/auth/users/me/", { auth: me.auth })).status).toBe(200);
    expect(app.emailsTo(moved).map((e) => e.kind)).toEqual(["email_change_confirmation"]);
    // A password reset still goes to the victim's own address.
    expectNoContent(await app.post("/auth/users/reset_password/", { email: me.email }));
    expect(app.emailsTo(me.email).at(-1)!.kind).toBe("password_reset");
    expectNoContent(await app.post("/auth/users/reset_password/", { email: moved }));
    expect(app.emailsTo(moved).map((e) => e.kind)).toEqual(["email_change_confirmation"]);
  });

  test("an_address_taken_meanwhile_is_refused_at_confirmation", async () => {
    const { me, moved } = await pendingChange();
    const link = app.lastLink(moved);
    await signedIn(app, { email: moved });
    const res = await app.post("/auth/users/email_change_confirm/", link);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ email: ["user with this email address already exists."] });
    expect((await app.call("/auth/users/me/", { auth: me.auth })).body.email).toBe(me.email);
  });

  test("links_of_other_flows_and_garbage_are_refused_in_djosers_shape", async () => {
    const { me } = await pendingChange();
    expectNoContent(await app.post("/auth/users/reset_password/", { email: me.email }));
    const reset = app.lastLink(me.email);
    for (const path of ["/auth/users/email_change_confirm/", "/auth/users/email_change_cancel/"]) {
      const res = await app.post(path, reset);
      expect(res.status, path).toBe(400);
      expect(res.body).toEqual(INVALID_TOKEN);
      const missing = await app.post(path, {});
      expect(missing.status).toBe(400);
      expect(missing.body).toEqual({ uid: ["This field is required."], token: ["This field is required."] });
    }
  });
});
