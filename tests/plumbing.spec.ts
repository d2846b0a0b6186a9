// The request/response plumbing every endpoint shares: routing, request bodies, responses and the
// Authorization header, as djoser and DRF handle them.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawnApp, TestApp, unique } from "./helpers";

let app: TestApp;
beforeAll(async () => {
  app = await spawnApp();
});
afterAll(async () => {
  await app.dispose();
});

describe("routing", () => {
  test("api_root_lists_users_url", async () => {
    const res = await app.call("/auth/");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ users: "http://localhost/auth/users/" });
    expect(res.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
  });

  test("unknown_path_is_json_404", async () => {
    for (const path of ["/nope", "/auth/nope/", "/auth/users/1/extra/", "/auth/users/me.json"]) {
      const res = await app.call(path);
      expect(res.status, path).toBe(404);
      expect(res.body).toEqual({ detail: "Not found." });
      expect(res.headers.get("content-type")).toBe("application/json");
    }
  });

  test("paths_work_with_and_without_trailing_slash", async () => {
    const a = await app.post("/auth/jwt/verify", {});
    const b = await app.post("/auth/jwt/verify/", {});
    const c = await app.post("/auth/users/resend_activation", {});
    expect([a.status, b.status, c.status]).toEqual([400, 400, 400]);
    expect(c.body).toEqual({ email: ["This field is required."] });
  });

  test("unmapped_method_is_405_with_method_name", async () => {
    const res = await app.call("/auth/jwt/create/", { method: "GET" });
    expect(res.status).toBe(405);
    expect(res.body).toEqual({ detail: 'Method "GET" not allowed.' });
    expect(res.headers.get("allow")).toBe("POST, OPTIONS");
    const del = await app.call("/auth/token/login/", { method: "DELETE" });
    expect(del.body).toEqual({ detail: 'Method "DELETE" not allowed.' });
  });

  test("unmapped_method_on_users_route_is_401_when_anonymous", async () => {
    const res = await app.call("/auth/users/activation/", { method: "GET" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "Authentication credentials were not provided." });
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
  });
});

describe("request bodies", () => {
  test("other_media_type_is_415", async () => {
    const res = await app.call("/auth/jwt/create/", {
      method: "POST",
      body: "username=a",
      headers: { "Content-Type": "text/plain" },
    });
    expect(res.status).toBe(415);
    expect(res.body).toEqual({ detail: 'Unsupported media type "text/plain" in request.' });
  });

  test("malformed_json_is_400_parse_error", async () => {
    const res = await app.call("/auth/jwt/create/", {
      method: "POST",
      body: "{not json",
      headers: { "Content-Type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body)).toEqual(["detail"]);
    expect(res.body.detail).toMatch(/^JSON parse error - /);
  });

  test("non_object_json_is_400_non_field_error", async () => {
    for (const [raw, kind] of [["[]", "list"], ['"x"', "str"], ["1", "int"]]) {
      const res = await app.call("/auth/jwt/create/", {
        method: "POST",
        body: raw,
        headers: { "Content-Type": "application/json" },
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        non_field_errors: [`Invalid data. Expected a dictionary, but got ${kind}.`],
      });
    }
  });

  test("empty_body_counts_as_empty_object", async () => {
    const res = await app.call("/auth/jwt/create/", { method: "POST" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      username: ["This field is required."],
      password: ["This field is required."],
    });
  });

  test("form_and_multipart_bodies_are_parsed", async () => {
    const form = await app.call("/auth/jwt/create/", {
      method: "POST",
      body: "username=&password=x",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(400);
    expect(form.body).toEqual({ username: ["This field may not be blank."] });
    const multipart = await app.call("/auth/jwt/create/", {
      method: "POST",
      body: '--B\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n--B--\r\n',
      headers: { "Content-Type": "multipart/form-data; boundary=B" },
    });
    expect(multipart.body).toEqual({ username: ["This field is required."] });
  });

  test("strings_are_trimmed_and_null_or_wrong_types_rejected", async () => {
    const res = await app.post("/auth/jwt/create/", { username: null, password: ["x"] });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      username: ["This field may not be null."],
      password: ["Not a valid string."],
    });
    const blank = await app.post("/auth/jwt/create/", { username: "   ", password: "x" });
    expect(blank.body).toEqual({ username: ["This field may not be blank."] });
  });

  test("oversized_body_is_413_before_parsing", async () => {
    const res = await app.call("/auth/jwt/create/", {
      method: "POST",
      body: "x".repeat(70_000),
      headers: { "Content-Type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ detail: "Request body is too large." });
  });
});

describe("responses", () => {
  test("security_headers_on_every_response", async () => {
    for (const res of [await app.call("/auth/"), await app.call("/nope"), await app.post("/auth/jwt/verify/", {})]) {
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("same-origin");
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
  });

  test("no_content_answers_have_no_body_and_no_content_type", async () => {
    const res = await app.post("/auth/users/reset_password/", { email: `${unique()}@example.com` });
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
    expect(res.headers.get("content-type")).toBeNull();
  });
});

describe("authorization header", () => {
  test("bad_bearer_token_is_401_even_on_registration", async () => {
    const res = await app.post("/auth/users/", { username: unique(), password: "x" }, { auth: "Bearer garbage" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
    expect(res.body).toEqual({
      detail: "Given token not valid for any token type",
      code: "token_not_valid",
      messages: [{ token_class: "AccessToken", token_type: "access", message: "Token is invalid" }],
    });
  });

  test("header_with_wrong_word_count_is_bad_authorization_header", async () => {
    const res = await app.call("/auth/users/me/", { auth: "Bearer a b" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      detail: "Authorization header must contain two space-delimited values",
      code: "bad_authorization_header",
    });
  });

  test("token_scheme_errors_use_drf_messages", async () => {
    const cases: [string, string][] = [
      ["Token", "Invalid token header. No credentials provided."],
      ["Token a b", "Invalid token header. Token string should not contain spaces."],
      ["Token garbage", "Invalid token."],
      [`token ${"0".repeat(40)}`, "Invalid token."],
    ];
    for (const [header, detail] of cases) {
      const res = await app.post("/auth/token/login/", {}, { auth: header });
      expect(res.status, header).toBe(401);
      expect(res.body).toEqual({ detail });
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
    }
  });

  test("unknown_scheme_or_lowercase_bearer_is_anonymous", async () => {
    for (const header of ["bearer abc", "Basic dXNlcjpwYXNz"]) {
      const res = await app.call("/auth/users/me/", { auth: header });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ detail: "Authentication credentials were not provided." });
    }
  });

  test("jwt_views_ignore_the_authorization_header", async () => {
    const res = await app.post("/auth/jwt/verify/", {}, { auth: "Bearer garbage" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ token: ["This field is required."] });
  });
});
