// The hourly scheduled purge of expired arbiter and throttle rows: bounded chunks, through an
// index on expires_at.
import { afterAll, beforeAll, expect, test } from "vitest";
import { spawnApp, TestApp } from "./helpers";

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

async function purge(): Promise<void> {
  const worker = await app.mf.getWorker();
  await worker.scheduled({ cron: "17 * * * *" });
}

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
  await purge();
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
    await (await lenient.mf.getWorker()).scheduled({ cron: "17 * * * *" });
    // Assert
    expect(await lenient.sql("SELECT jti FROM refresh_spent")).toEqual([{ jti: "inside-leeway" }]);
  } finally {
    await lenient.dispose();
  }
});

test("a_purge_run_deletes_a_bounded_number_of_rows_and_the_next_run_continues", async () => {
  // Arrange: 12,000 expired counters, more than one run's bound of 20 chunks of 500.
  await app.sql(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000) " +
      "INSERT INTO throttle (key, window_start, hits, expires_at) SELECT 'flood:' || i, 0, 1, 1 FROM n",
  );
  const left = async (): Promise<number> => (await app.sql("SELECT COUNT(*) AS n FROM throttle WHERE key LIKE 'flood:%'"))[0].n;
  // Act and assert
  await purge();
  expect(await left()).toBe(2000);
  await purge();
  expect(await left()).toBe(0);
});

test("the_purge_finds_expired_rows_through_an_index", async () => {
  for (const table of ["throttle", "refresh_spent", "revoked_families"]) {
    const plan = await app.sql(`EXPLAIN QUERY PLAN SELECT rowid FROM ${table} WHERE expires_at < ? LIMIT 500`, 0);
    const details = plan.map((row) => row.detail).join("; ");
    expect(details, table).toMatch(new RegExp(`USING (COVERING )?INDEX ${table}_expires_at`));
  }
});
