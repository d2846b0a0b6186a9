// A small typed fetch client for this API: paths, methods, path parameters, request bodies and
// every documented answer come from schema.d.ts, which openapi-typescript generates from
// openapi/openapi.json (`npm run client:types`). A reply is a union over the documented statuses,
// so checking `status` narrows `body` to that status's exact shape.
import type { paths } from "./schema";

/** The methods the client sends (HEAD and OPTIONS are left to the browser). */
export type Method = "get" | "post" | "put" | "patch" | "delete";

/** The paths that serve `M`. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never;
}[keyof paths];

/** The operation of `M` on `P`. */
export type Operation<P extends keyof paths, M extends Method> = paths[P][M] extends infer O
  ? O extends { responses: unknown }
    ? O
    : never
  : never;

/** The JSON body of a documented response (undefined where it has none). */
export type ResponseBody<R> = R extends { content: { "application/json": infer B } } ? B : undefined;

/** Every documented answer of an operation, discriminated by `status`. */
export type Reply<O> = O extends { responses: infer Rs }
  ? {
      [S in keyof Rs & number]: { status: S; body: ResponseBody<Rs[S]>; headers: Headers };
    }[keyof Rs & number]
  : never;

/** The JSON request body an operation takes. */
export type RequestBody<O> = O extends { requestBody?: { content: { "application/json": infer B } } }
  ? B
  : never;

/** What a call may carry besides the path. */
export type CallInit<O> = {
  /** The path's `{param}` values. */
  params?: O extends { parameters: { path: infer P } } ? P : never;
  /** Query parameters. */
  query?: O extends { parameters: { query?: infer Q } } ? Q : never;
  /** The JSON body. */
  body?: RequestBody<O>;
  /** The Authorization header: `Bearer <access>` or `Token <auth_token>`. */
  auth?: string;
  headers?: Record<string, string>;
};

/** A call's parts once the types have done their work. */
interface RawInit {
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
  auth?: string;
  headers?: Record<string, string>;
}

export interface ClientOptions {
  /** Where the API lives, e.g. `https://auth.example.com` (no trailing slash). */
  baseUrl: string;
  /** A fetch to use instead of the global one (tests, other runtimes). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** `include` for cookie mode from another origin. */
  credentials?: RequestCredentials;
}

/** A client bound to one API origin. */
export function createClient(options: ClientOptions) {
  const send = options.fetch ?? ((input: string, init: RequestInit) => fetch(input, init));

  async function request(method: Method, path: string, init: RawInit = {}): Promise<unknown> {
    let url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = init.params?.[name];
      if (value === undefined) throw new Error(`missing path parameter ${name}`);
      return encodeURIComponent(String(value));
    });
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(init.query ?? {})) {
      if (v !== undefined && v !== null) query.set(k, String(v));
    }
    if (query.toString()) url += `?${query}`;
    const headers: Record<string, string> = { Accept: "application/json", ...(init.headers ?? {}) };
    if (init.auth) headers.Authorization = init.auth;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await send(`${options.baseUrl}${url}`, {
      method: method.toUpperCase(),
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      credentials: options.credentials,
    });
    const text = await res.text();
    const json = /^application\/(.+\+)?json/.test(res.headers.get("content-type") ?? "");
    return { status: res.status, body: json && text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  function bind<M extends Method>(method: M) {
    return <P extends PathsWith<M>>(path: P, init?: CallInit<Operation<P, M>>) =>
      request(method, path, init as RawInit) as Promise<Reply<Operation<P, M>>>;
  }

  return {
    get: bind("get"),
    post: bind("post"),
    put: bind("put"),
    patch: bind("patch"),
    delete: bind("delete"),
  };
}

export type Client = ReturnType<typeof createClient>;
