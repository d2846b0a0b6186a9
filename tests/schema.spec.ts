// The OpenAPI document: it passes an OpenAPI 3.1 validator (check 3), the Worker serves it
// unchanged at /auth/schema/ and a page for it at /auth/docs/ with that page's own CSP, and the
// response check every spec runs through TestApp.call (check 1) rejects what the document does
// not say: an undocumented status, field, content type or missing header.
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { DOCUMENT_PATH, OpenApiChecker, documentChecker } from "./openapi-check";
import { spawnApp, signedIn, TestApp } from "./helpers";

const documentText = readFileSync(DOCUMENT_PATH, "utf8");
const doc = JSON.parse(documentText);

describe("the document", () => {
  test("passes_an_openapi_3_1_validator", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  test("the_validator_rejects_a_broken_document", async () => {
    const broken = structuredClone(doc);
    broken.paths["/auth/users/me/"].get.responses = "none";
    delete broken.info.title;
    const result = await new Validator().validate(broken);
    expect(result.valid).toBe(false);
  });

  test("every_operation_has_an_id_a_summary_and_only_resolvable_refs", () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        if (method.startsWith("x-")) continue;
        expect(op.operationId, `${method} ${path}`).toBeTruthy();
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        expect(ids.has(op.operationId), op.operationId).toBe(false);
        ids.add(op.operationId);
      }
    }
    for (const ref of documentText.matchAll(/"\$ref": "#\/([^"]+)"/g)) {
      const target = ref[1].split("/").reduce((node: any, key) => node?.[key], doc);
      expect(target, ref[1]).toBeTruthy();
    }
  });

  test("response_objects_are_strict_so_an_undocumented_field_fails", () => {
    for (const [name, schema] of Object.entries<any>(doc.components.schemas)) {
      if (schema.type === "object") {
        expect(schema.additionalProperties, name).toBe(false);
      }
    }
  });
});

describe("served by the Worker", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await spawnApp();
  });
  afterAll(async () => {
    await app?.dispose();
  });

  test("schema_serves_the_checked_document_unchanged", async () => {
    for (const path of ["/auth/schema/", "/auth/schema"]) {
      const res = await app.call(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/vnd.oai.openapi+json");
      expect(res.text).toBe(documentText);
      expect(res.headers.get("cache-control")).toBe("public, max-age=600");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    }
    const head = await app.call("/auth/schema/", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.text).toBe("");
  });

  test("schema_and_docs_work_without_a_signing_key", async () => {
    const bare = await spawnApp({ SIGNING_KEY: "" });
    try {
      expect((await bare.call("/auth/schema/")).status).toBe(200);
      expect((await bare.call("/auth/docs/")).status).toBe(200);
      expect((await bare.call("/auth/users/me/")).status).toBe(500);
    } finally {
      await bare.dispose();
    }
  });

  test("docs_has_its_own_csp_and_every_other_answer_keeps_the_apis", async () => {
    const res = await app.call("/auth/docs/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-[A-Za-z0-9+/]+=*'; connect-src 'self';/);
    expect(csp).not.toContain("unsafe");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.text).toContain('fetch("/auth/schema/"');
    // A 405 on the page's own path is an API answer again.
    const post = await app.post("/auth/docs/", {});
    expect(post.status).toBe(405);
    expect(post.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    const me = await app.call("/auth/users/me/");
    expect(me.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  test("the_hook_in_call_throws_when_the_document_disagrees", async () => {
    const spy = vi.spyOn(OpenApiChecker.prototype, "violations").mockReturnValue(["planted"]);
    try {
      await expect(app.call("/auth/")).rejects.toThrow(/OpenAPI: GET \/auth\/ answered what the document does not say:\n  planted/);
    } finally {
      spy.mockRestore();
    }
    expect((await app.call("/auth/")).status).toBe(200);
  });

  test("real_answers_with_one_thing_changed_are_rejected", async () => {
    const checker = documentChecker();
    const user = await signedIn(app);
    const me = await app.call("/auth/users/me/", { auth: user.auth });
    expect(me.status).toBe(200);
    const seen = { method: "GET", path: "/auth/users/me/", status: 200, headers: me.headers, text: me.text };
    expect(checker.violations(seen)).toEqual([]);
    // An undocumented field.
    const extra = JSON.stringify({ ...me.body, is_staff: false });
    expect(checker.violations({ ...seen, text: extra }).join()).toMatch(/additional properties.*is_staff/);
    // A missing field, and a field of the wrong type.
    const { email: _email, ...noEmail } = me.body;
    expect(checker.violations({ ...seen, text: JSON.stringify(noEmail) }).join()).toMatch(/required.*email/);
    expect(checker.violations({ ...seen, text: JSON.stringify({ ...me.body, id: "1" }) }).join()).toMatch(/\/id must be integer/);
    // An undocumented status.
    expect(checker.violations({ ...seen, status: 418 }).join()).toMatch(/status 418 is not documented/);
    expect(checker.violations({ ...seen, status: 409 }).join()).toMatch(/status 409 is not documented/);
    // Another content type.
    const html = new Headers(me.headers);
    html.set("content-type", "text/html");
    expect(checker.violations({ ...seen, headers: html }).join()).toMatch(/Content-Type text\/html is not documented/);
    // A body where the document says 204 has none.
    const gone = await app.post("/auth/token/logout/", {}, { auth: `Token ${await app.loginToken(user.username, user.password)}` });
    expect(gone.status).toBe(204);
    const logout = { method: "POST", path: "/auth/token/logout/", status: 204, headers: gone.headers, text: "" };
    expect(checker.violations(logout)).toEqual([]);
    expect(checker.violations({ ...logout, text: "{}" }).join()).toMatch(/documented without a body/);
    // A 429 without Retry-After; a field-keyed 400 with a field the operation does not have.
    const throttled = new Headers({ "content-type": "application/json" });
    const limit = { method: "POST", path: "/auth/jwt/create/", status: 429, headers: throttled, text: '{"detail":"x"}' };
    expect(checker.violations(limit).join()).toMatch(/header Retry-After is missing/);
    const bad = { ...limit, status: 400, text: '{"new_password":["x"]}' };
    expect(checker.violations(bad).join()).toMatch(/body does not match/);
    expect(checker.violations({ ...bad, text: '{"password":["This field is required."]}' })).toEqual([]);
    // A path the document does not list is held to x-unknown-path: 404 only.
    const unknown = await app.call("/auth/nothing-here/");
    expect(unknown.status).toBe(404);
    const other = { method: "GET", path: "/auth/nothing-here/", status: 200, headers: unknown.headers, text: "{}" };
    expect(checker.violations(other).join()).toMatch(/x-unknown-path: status 200 is not documented/);
  });

  test("paths_resolve_to_templates_as_the_route_table_does", () => {
    const checker = documentChecker();
    const cases: [string, string | null][] = [
      ["/auth", "/auth/"],
      ["/auth/users/me", "/auth/users/me/"],
      ["/auth/users/42/", "/auth/users/{id}/"],
      ["/auth/users/me/events/?limit=2", "/auth/users/me/events/"],
      ["/auth/users/7/sessions/abc/", "/auth/users/{id}/sessions/{sid}/"],
      ["/auth/sessions/revoke_all/", "/auth/sessions/revoke_all/"],
      ["/auth/jwt/create/anything/else", "/auth/jwt/create/"],
      ["/auth/jwt/logout/x", null],
      ["/auth/users/me.json", null],
      ["/auth/users/../jwt/verify/", "/auth/jwt/verify/"],
      ["/.well-known/jwks.json", "/.well-known/jwks.json"],
      ["/auth/.well-known/jwks.json", null],
      ["/jwks", null],
    ];
    for (const [path, template] of cases) expect(checker.template(path), path).toBe(template);
  });
});
