// Check 1 of "the document cannot lie": every answer the HTTP suite receives is validated against
// openapi/openapi.json (tests/helpers.ts calls checkResponse from TestApp.call). The operation is
// found by path template and method as the Worker's route table resolves them (the trailing slash
// optional, `{param}` one segment without a dot, `x-prefix-match` paths unanchored like
// simplejwt's); the status must be listed, the Content-Type must be one the response documents (or
// none where it documents no content), required headers must be present, and the JSON body must
// validate against the schema (JSON Schema 2020-12, which OpenAPI 3.1 uses). A path the document
// does not list is checked against its `x-unknown-path` answers, and a method a listed path does
// not serve against `x-unlisted-method`: nothing is skipped. Any request may also get the
// runtime's own answers (`x-before-the-worker`) or a misconfigured deployment's 500
// (`x-invalid-configuration`). `x-may-be-empty` marks the one response that is sometimes bodiless
// (resend_activation's 400 with SEND_ACTIVATION_EMAIL off, djoser's `Response(status=400)`).
import Ajv2020, { ValidateFunction } from "ajv/dist/2020.js";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DOCUMENT_PATH = join(ROOT, "openapi/openapi.json");

type Json = any;

/** What one answer looked like, as the checker needs it. */
export interface Observed {
  method: string;
  /** The request path, query string allowed. */
  path: string;
  status: number;
  headers: Headers;
  text: string;
}

/** Where a request lands in the document. */
export interface Located {
  /** The path template, or null for a path the document does not list. */
  template: string | null;
  /** The operation's responses (or the fallback's), by status. */
  responses: Record<string, Json>;
  /** For messages: `get /auth/users/{id}/`, `x-unknown-path`, `x-unlisted-method of …`. */
  name: string;
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const JSON_MEDIA = /^application\/(.+\+)?json$/;

/** A compiled document: path matchers and validators, built once per process. */
export class OpenApiChecker {
  private readonly ajv: InstanceType<typeof Ajv2020>;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: { template: string; rooted: boolean; segments: string[]; prefix: boolean; literals: number }[];

  constructor(readonly doc: Json) {
    this.ajv = new Ajv2020({ allErrors: true, strict: true });
    this.ajv.addFormat("uri", /^[a-z][a-z0-9+.-]*:\/\/\S+$/i);
    // The components become one schema resource, so `#/components/schemas/X` refs resolve.
    this.ajv.addSchema({ $id: "https://djoser-edge.invalid/openapi.json", $defs: rewriteRefs(doc.components?.schemas ?? {}) });
    this.templates = Object.keys(doc.paths).map((template) => {
      const rooted = !template.startsWith("/auth/");
      const segments = rooted ? splitSegments(template) : splitSegments(template.slice("/auth".length));
      return {
        template,
        rooted,
        segments,
        prefix: doc.paths[template]["x-prefix-match"] === true,
        literals: segments.filter((s) => !s.startsWith("{")).length,
      };
    });
    // The Worker's table lists named routes before `{id}` ones: the most literal match wins.
    this.templates.sort((a, b) => b.literals - a.literals || b.segments.length - a.segments.length);
  }

  /** The path template a request path resolves to, or null. */
  template(rawPath: string): string | null {
    // The URL the Worker sees: dot segments resolved, the query left out.
    const path = new URL(rawPath, "http://localhost").pathname;
    const underAuth =
      path === "/auth" || path.startsWith("/auth/") ? splitSegments(path.slice("/auth".length)) : null;
    const fromRoot = splitSegments(path);
    for (const t of this.templates) {
      const got = t.rooted ? fromRoot : underAuth;
      if (got && matches(t.segments, got, t.prefix)) return t.template;
    }
    return null;
  }

  /** The operation (or fallback) that documents the answer to `method` on `path`. */
  locate(method: string, path: string): Located {
    const template = this.template(path);
    if (template === null) {
      return { template, responses: this.doc["x-unknown-path"].responses, name: "x-unknown-path" };
    }
    const item = this.doc.paths[template];
    const m = method.toLowerCase();
    const op = METHODS.includes(m) ? item[m] : undefined;
    if (!op) {
      return {
        template,
        responses: this.doc["x-unlisted-method"].responses,
        name: `x-unlisted-method (${method} ${template})`,
      };
    }
    return { template, responses: op.responses, name: `${m} ${template}` };
  }

  /** Every way the answer differs from the document; empty when it conforms. */
  violations(seen: Observed): string[] {
    const where = this.locate(seen.method, seen.path);
    const problems: string[] = [];
    // Besides the operation's own: the runtime's answers, and a misconfigured deployment's 500.
    const documented =
      where.responses[String(seen.status)] ??
      this.doc["x-before-the-worker"]?.responses?.[String(seen.status)] ??
      this.doc["x-invalid-configuration"]?.responses?.[String(seen.status)];
    if (!documented) {
      return [`${where.name}: status ${seen.status} is not documented (listed: ${Object.keys(where.responses).join(", ")})`];
    }
    const response = this.deref(documented);
    const label = `${where.name} ${seen.status}`;
    for (const [name, header] of Object.entries<Json>(response.headers ?? {})) {
      const value = seen.headers.get(name);
      if (header.required && value === null) problems.push(`${label}: header ${name} is missing`);
      if (value !== null && header.schema?.type === "integer" && !/^\d+$/.test(value)) {
        problems.push(`${label}: header ${name} is not an integer: ${value}`);
      }
    }
    const contentType = seen.headers.get("content-type");
    const media = contentType?.split(";")[0].trim().toLowerCase() ?? null;
    const content: Record<string, Json> | undefined = response.content;
    const head = seen.method.toUpperCase() === "HEAD";
    if (head && seen.text !== "") problems.push(`${label}: a HEAD answer has a body`);
    if (!content) {
      if (!head && seen.text !== "") problems.push(`${label}: documented without a body, got ${clip(seen.text)}`);
      if (contentType !== null && !head) problems.push(`${label}: documented without content, got Content-Type ${contentType}`);
      return problems;
    }
    if (media === null) {
      if (seen.text === "" && response["x-may-be-empty"] === true) return problems;
      if (!head) problems.push(`${label}: no Content-Type (documented: ${Object.keys(content).join(", ")})`);
      return problems;
    }
    const entry = content[media];
    if (!entry) {
      problems.push(`${label}: Content-Type ${contentType} is not documented (${Object.keys(content).join(", ")})`);
      return problems;
    }
    if (head) return problems;
    if (JSON_MEDIA.test(media)) {
      let body: unknown;
      try {
        body = JSON.parse(seen.text);
      } catch {
        problems.push(`${label}: the body is not JSON: ${clip(seen.text)}`);
        return problems;
      }
      const validate = this.validator(`${where.name} ${seen.status} ${media}`, entry.schema ?? {});
      if (!validate(body)) {
        const errors = (validate.errors ?? [])
          .map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`)
          .join("; ");
        problems.push(`${label}: the body does not match the schema: ${errors}; body ${clip(seen.text)}`);
      }
    } else if (entry.schema?.type === "string" && seen.text === "") {
      problems.push(`${label}: empty ${media} body`);
    }
    return problems;
  }

  /** Throws when the answer differs from the document. */
  check(seen: Observed): void {
    const problems = this.violations(seen);
    if (problems.length) {
      throw new Error(`OpenAPI: ${seen.method} ${seen.path} answered what the document does not say:\n  ${problems.join("\n  ")}`);
    }
  }

  private deref(obj: Json): Json {
    let cur = obj;
    for (let i = 0; cur && typeof cur.$ref === "string" && i < 8; i++) {
      cur = cur.$ref.slice(2).split("/").reduce((node: Json, key: string) => node?.[key], this.doc);
    }
    if (!cur) throw new Error(`OpenAPI: dangling reference ${obj.$ref}`);
    return cur;
  }

  private validator(key: string, schema: Json): ValidateFunction {
    let v = this.compiled.get(key);
    if (!v) {
      v = this.ajv.compile(rewriteRefs(schema));
      this.compiled.set(key, v);
    }
    return v;
  }
}

/** `#/components/schemas/X` → `https://djoser-edge.invalid/openapi.json#/$defs/X`, deep. */
function rewriteRefs(node: Json): Json {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === "object") {
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] =
        k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/")
          ? `https://djoser-edge.invalid/openapi.json#/$defs/${v.slice("#/components/schemas/".length)}`
          : rewriteRefs(v);
    }
    return out;
  }
  return node;
}

/** A path's segments after its leading slashes, without one trailing slash (as routes.rs). */
function splitSegments(path: string): string[] {
  let rest = path.replace(/^\/+/, "");
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  return rest === "" ? [] : rest.split("/");
}

function matches(want: string[], got: string[], prefix: boolean): boolean {
  if (got.length < want.length || (!prefix && got.length !== want.length)) return false;
  return want.every((w, i) =>
    w.startsWith("{") ? got[i] !== "" && !got[i].includes(".") : w === got[i],
  );
}

function clip(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

const compiled = new Map<string, OpenApiChecker>();
/** The checker of a document's text (by default openapi/openapi.json), compiled once per test
 * process for each distinct text: a Worker with USER_FIELDS serves the document with its fields. */
export function documentChecker(text: string = readFileSync(DOCUMENT_PATH, "utf8")): OpenApiChecker {
  let checker = compiled.get(text);
  if (!checker) {
    checker = new OpenApiChecker(JSON.parse(text));
    compiled.set(text, checker);
  }
  return checker;
}
