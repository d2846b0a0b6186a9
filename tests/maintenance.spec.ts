// The daily scheduled purge of expired arbiter and throttle rows.
import { afterAll, beforeAll, expect, test } from "vitest";
import { spawnApp, TestApp } from "./helpers";

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

test("scheduled_purge_deletes_expired_rows_and_keeps_live_ones", async () => {
  // Arrange
  const now = Math.floor(Date.now() / 1000);
  for (const [suffix, expires] of [["old", now - 10], ["live", now + 3600]] as const) {
    await app.sql(
      "INSERT INTO refresh_spent (jti, family, user_id, spent_at, expires_at) VALUES (?, 'f', '1', ?, ?)",
      `jti-${suffix}`, now, expires,
    );
    await app.sql(
      "INSERT INTO revoked_families (family, user_id, revoked_at, expires_at) VALUES (?, '1', ?, ?)",
      `fam-${suffix}`, now, expires,
    );
    await app.sql(
      "INSERT INTO throttle (key, window_start, hits, expires_at) VALUES (?, ?, 1, ?)",
      `key-${suffix}`, now, expires,
    );
  }
  // Act
  const worker = await app.mf.getWorker();
  await worker.scheduled({ cron: "17 3 * * *" });
  // Assert
  expect(await app.sql("SELECT jti FROM refresh_spent")).toEqual([{ jti: "jti-live" }]);
  expect(await app.sql("SELECT family FROM revoked_families")).toEqual([{ family: "fam-live" }]);
  expect(await app.sql("SELECT key FROM throttle")).toEqual([{ key: "key-live" }]);
});

test("the_purge_keeps_rows_whose_tokens_leeway_still_accepts", async () => {
  // Arrange: LEEWAY=60 accepts a token until 60 s after its exp, so its spent row must stay.
  const lenient = await spawnApp({ LEEWAY: "60" });
  try {
    const now = Math.floor(Date.now() / 1000);
    for (const [jti, expires] of [["inside-leeway", now - 10], ["past-leeway", now - 120]] as const) {
      await lenient.sql(
        "INSERT INTO refresh_spent (jti, family, user_id, spent_at, expires_at) VALUES (?, 'f', '1', ?, ?)",
        jti, now - 3600, expires,
      );
    }
    // Act
    await (await lenient.mf.getWorker()).scheduled({ cron: "17 3 * * *" });
    // Assert
    expect(await lenient.sql("SELECT jti FROM refresh_spent")).toEqual([{ jti: "inside-leeway" }]);
  } finally {
    await lenient.dispose();
  }
});
