// Sessions and devices: GET /auth/sessions/, DELETE /auth/sessions/{id}/, revoke_others,
// revoke_all, and the staff routes under /auth/users/{id}/sessions/.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decodeJwt, expectNoContent, signedIn, spawnApp, TestApp } from "./helpers";

const ENDED = { detail: "Token is blacklisted", code: "token_not_valid" };

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

/** A user signed in on two "devices" (two JWT logins) and with a DRF token. */
async function twoDevices() {
  const laptop = await signedIn(app);
  const phone = await app.jwtCreate(laptop.username, laptop.password);
  const token = await app.loginToken(laptop.username, laptop.password);
  return { laptop, phone, token };
}

const sid = (token: string): string => decodeJwt(token).payload.sid;

describe("GET /auth/sessions/", () => {
  test("every_sign_in_is_listed_newest_first_and_the_callers_is_current", async () => {
    const { laptop, phone } = await twoDevices();
    const res = await app.call("/auth/sessions/", {
      auth: laptop.auth,
      headers: { "User-Agent": "Laptop browser/1.0" },
    });
    expect(res.status).toBe(200);
    const kinds = res.body.map((s: any) => s.kind).sort();
    expect(kinds).toEqual(["jwt", "jwt", "token"]);
    const mine = res.body.find((s: any) => s.id === sid(laptop.access));
    expect(mine.current).toBe(true);
    expect(res.body.filter((s: any) => s.current)).toHaveLength(1);
    expect(res.body.map((s: any) => s.id)).toContain(sid(phone.access));
    expect(Object.keys(mine).sort()).toEqual(
      ["city", "colo", "country", "created", "current", "expires", "id", "ip", "kind", "last_refreshed", "user_agent"],
    );
    const created = res.body.map((s: any) => s.created);
    expect([...created].sort((a: number, b: number) => b - a)).toEqual(created);
  });

  test("a_refresh_keeps_the_session_and_its_id", async () => {
    const me = await signedIn(app);
    const next = await app.post("/auth/jwt/refresh/", { refresh: me.refresh });
    expect(sid(next.body.access)).toBe(sid(me.access));
    const res = await app.call("/auth/sessions/", { auth: `Bearer ${next.body.access}` });
    expect(res.body.filter((s: any) => s.kind === "jwt")).toHaveLength(1);
  });

  test("anonymous_callers_are_refused", async () => {
    expect((await app.call("/auth/sessions/")).status).toBe(401);
  });
});

describe("ending sessions", () => {
  test("deleting_a_session_ends_its_access_and_refresh_tokens_at_once", async () => {
    const { laptop, phone } = await twoDevices();
    expectNoContent(await app.call(`/auth/sessions/${sid(phone.access)}/`, { method: "DELETE", auth: laptop.auth }));
    const me = await app.call("/auth/users/me/", { auth: `Bearer ${phone.access}` });
    expect(me.status).toBe(401);
    expect(me.body).toEqual(ENDED);
    expect((await app.post("/auth/jwt/refresh/", { refresh: phone.refresh })).status).toBe(401);
    expect((await app.call("/auth/users/me/", { auth: laptop.auth })).status).toBe(200);
  });

  test("hostile_session_ids_are_a_plain_404", async () => {
    const me = await signedIn(app);
    for (const id of ["x".repeat(600), "%00", "ü".repeat(300)]) {
      const res = await app.call(`/auth/sessions/${encodeURIComponent(id)}/`, { method: "DELETE", auth: me.auth });
      expect([404], id).toContain(res.status);
      expect(res.body).toEqual({ detail: "Not found." });
    }
    const bad = await app.call("/auth/users/abc/sessions/", { auth: me.auth });
    expect(bad.status).toBe(404);
  });

  test("another_users_session_id_is_404", async () => {
    const owner = await signedIn(app);
    const other = await signedIn(app);
    const res = await app.call(`/auth/sessions/${sid(owner.access)}/`, { method: "DELETE", auth: other.auth });
    expect(res.status).toBe(404);
    expect((await app.call("/auth/users/me/", { auth: owner.auth })).status).toBe(200);
  });

  test("revoke_others_keeps_this_session_and_ends_the_rest_drf_token_included", async () => {
    const { laptop, phone, token } = await twoDevices();
    expectNoContent(await app.post("/auth/sessions/revoke_others/", {}, { auth: laptop.auth }));
    expect((await app.call("/auth/users/me/", { auth: laptop.auth })).status).toBe(200);
    expect((await app.call("/auth/users/me/", { auth: `Bearer ${phone.access}` })).status).toBe(401);
    expect((await app.call("/auth/users/me/", { auth: `Token ${token}` })).status).toBe(401);
    const left = await app.call("/auth/sessions/", { auth: laptop.auth });
    expect(left.body.map((s: any) => s.id)).toEqual([sid(laptop.access)]);
  });

  test("revoke_all_ends_every_session_this_one_included", async () => {
    const { laptop, phone, token } = await twoDevices();
    expectNoContent(await app.post("/auth/sessions/revoke_all/", {}, { auth: laptop.auth }));
    for (const auth of [laptop.auth, `Bearer ${phone.access}`, `Token ${token}`]) {
      expect((await app.call("/auth/users/me/", { auth })).status).toBe(401);
    }
    expect((await app.post("/auth/jwt/refresh/", { refresh: laptop.refresh })).status).toBe(401);
  });
});

describe("staff", () => {
  test("staff_list_and_end_anyones_sessions_and_others_get_404", async () => {
    const { laptop, phone } = await twoDevices();
    const other = await signedIn(app);
    expect((await app.call(`/auth/users/${laptop.id}/sessions/`, { auth: other.auth })).status).toBe(404);
    await app.sql("UPDATE users SET is_staff = 1 WHERE id = ?", other.id);
    const listed = await app.call(`/auth/users/${laptop.id}/sessions/`, { auth: other.auth });
    expect(listed.status).toBe(200);
    expect(listed.body.every((s: any) => s.current === false)).toBe(true);
    expectNoContent(
      await app.call(`/auth/users/${laptop.id}/sessions/${sid(phone.access)}/`, { method: "DELETE", auth: other.auth }),
    );
    expect((await app.call("/auth/users/me/", { auth: `Bearer ${phone.access}` })).status).toBe(401);
    expectNoContent(await app.post(`/auth/users/${laptop.id}/sessions/revoke_all/`, {}, { auth: other.auth }));
    expect((await app.call("/auth/users/me/", { auth: laptop.auth })).status).toBe(401);
  });
});
