// The peer for `npm run bench`: better-auth as a team would deploy it on Cloudflare Workers.
// A module Worker with D1 as its database (better-auth's Kysely adapter takes the binding as
// is), e-mail + password on, everything else at better-auth's defaults: its password hash
// (scrypt through node:crypto, chosen by the package's "workerd" export condition), sessions in
// the database, a signed session cookie, no cookie cache. Two deliberate settings: its rate
// limiter off (the service runs with RATE_LIMITS=off in the bench) and the auth object built
// once per isolate (the cheapest way to run it; building it per request would cost more).
//
// Bundled by bench/better-auth/build.mjs into bench/better-auth/build/index.js.
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";

let auth = null;
let authOptions = null;

function options(env) {
  return {
    database: env.DB,
    secret: env.BETTER_AUTH_SECRET,
    baseURL: env.BETTER_AUTH_URL,
    emailAndPassword: { enabled: true },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
  };
}

export default {
  async fetch(request, env) {
    if (!auth) {
      authOptions = options(env);
      auth = betterAuth(authOptions);
    }
    const url = new URL(request.url);
    // Bench only: creates better-auth's own schema in the D1 (its migration planner, the same
    // code its CLI's `migrate` runs), then answers the tables it made.
    if (url.pathname === "/__bench/migrate" && request.method === "POST") {
      const { toBeCreated, toBeAdded, runMigrations } = await getMigrations(authOptions);
      await runMigrations();
      return Response.json({
        created: toBeCreated.map((t) => t.table),
        altered: toBeAdded.map((t) => t.table),
      });
    }
    if (url.pathname === "/__bench/ready") return new Response("ok");
    return auth.handler(request);
  },
};
