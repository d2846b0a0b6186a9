// A frontend's sign-in, who-am-I and refresh, type-checked against the generated schema.
import { Client } from "../client";

export interface Session {
  access: string;
  refresh: string;
  user: { id: number; username: string; email: string };
}

/** Signs in (asking `askCode` for a second factor when the account has one), reads users/me/
 * and refreshes once; throws with the API's message on a refusal. */
export async function signInReadMeRefresh(
  api: Client,
  username: string,
  password: string,
  askCode?: () => Promise<string>,
): Promise<Session> {
  const login = await api.post("/auth/jwt/create/", { body: { username, password } });
  if (login.status === 400) throw new Error(Object.values(login.body).flat().join(" "));
  if (login.status !== 200) throw new Error(`sign-in refused: ${login.status}`);
  let pair: { access: string; refresh: string };
  if ("mfa_required" in login.body) {
    // The password was right; the account has a second factor (TOTP or a backup code).
    if (!askCode) throw new Error(`a second factor is due (${login.body.methods.join(" or ")})`);
    const code = await askCode();
    const second = await api.post("/auth/mfa/login/", { body: { ephemeral_token: login.body.ephemeral_token, code } });
    if (second.status === 400) throw new Error(Object.values(second.body).flat().join(" "));
    if (second.status !== 200 || !("access" in second.body)) throw new Error(`second factor refused: ${second.status}`);
    pair = second.body;
  } else {
    pair = login.body;
  }
  const { access, refresh } = pair;

  const me = await api.get("/auth/users/me/", { auth: `Bearer ${access}` });
  if (me.status === 401) throw new Error(me.body.detail);
  if (me.status !== 200) throw new Error(`users/me: ${me.status}`);
  const user = { id: me.body.id, username: me.body.username, email: me.body.email };

  const next = await api.post("/auth/jwt/refresh/", { body: { refresh } });
  if (next.status === 401) {
    // SimpleJWT's body: `code` tells a blacklisted or expired token from a missing account.
    throw new Error("code" in next.body ? `${next.body.code}: ${next.body.detail}` : next.body.detail);
  }
  if (next.status !== 200) throw new Error(`refresh: ${next.status}`);
  // Without ROTATE_REFRESH_TOKENS the answer carries no new refresh token.
  return { access: next.body.access, refresh: next.body.refresh ?? refresh, user };
}

/** Reads a user's sessions with a path parameter and pages the event log with a query. */
export async function sessionsAndEvents(api: Client, auth: string, id: number) {
  const sessions = await api.get("/auth/users/{id}/sessions/", { auth, params: { id: String(id) } });
  const events = await api.get("/auth/users/me/events/", { auth, query: { limit: 10 } });
  return {
    sessions: sessions.status === 200 ? sessions.body.map((s) => s.id) : [],
    next: events.status === 200 ? events.body.next : null,
  };
}

export async function misuseIsRejected(api: Client) {
  // @ts-expect-error a path the API does not serve
  await api.get("/auth/user/me/");
  // @ts-expect-error jwt/create takes POST only
  await api.get("/auth/jwt/create/");
  const me = await api.get("/auth/users/me/");
  if (me.status === 200) {
    // @ts-expect-error users/me/ has no such field
    me.body.is_staff;
  }
  // @ts-expect-error 418 is not a documented status of users/me/
  if (me.status === 418) return;
}
