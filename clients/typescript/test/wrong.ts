// Deliberately wrong: tests/client.spec.ts asserts tsc refuses each line marked WRONG.
import { createClient } from "../client";

export async function wrong() {
  const api = createClient({ baseUrl: "http://127.0.0.1" });
  const login = await api.post("/auth/jwt/create/", { body: { username: "u", password: 12345 } }); // WRONG TS2322
  if (login.status === 200 && !("mfa_required" in login.body)) {
    const token: string = login.body.acess; // WRONG TS2551
    await api.get("/auth/users/me/", { auth: `Bearer ${token}` });
  }
  await api.post("/auth/users/mee/"); // WRONG TS2345
  const me = await api.get("/auth/users/me/");
  const id: string = me.status === 200 ? me.body.id : ""; // WRONG TS2322
  return id;
}
