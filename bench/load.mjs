// A closed-loop HTTP/1.1 load generator for servers that close the connection after every
// response (gunicorn's sync workers answer `Connection: close`).
//
// Why not autocannon there: it writes its next request onto the socket the server is closing; that
// request is lost, its queue of pending requests grows by one per response, and its latencies
// drift upward without bound (and a refresh token sent in a lost request leaks from the pool).
// Here each of `connections` loops sends one request, reads the whole response, and only then sends
// the next, on the same socket when the server keeps it open and on a new one when it does not.
// It works on raw sockets, as autocannon does, so that the client's own CPU cost stays small on a
// two-core machine where client and server compete (Node's http module costs several times more).
import net from "node:net";
import { performance } from "node:perf_hooks";

const CRLF2 = Buffer.from("\r\n\r\n");

function buildRequest(target, req) {
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.from(req.body);
  let head = `${req.method} ${req.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\n`;
  for (const [k, v] of Object.entries(req.headers ?? {})) head += `${k}: ${v}\r\n`;
  if (body.length || req.method !== "GET") head += `Content-Length: ${body.length}\r\n`;
  head += "Connection: keep-alive\r\n\r\n";
  return Buffer.concat([Buffer.from(head), body]);
}

/** The body of a chunked message starting at `pos`, or null while it is incomplete. */
function dechunk(buf, pos) {
  const parts = [];
  for (;;) {
    const lineEnd = buf.indexOf("\r\n", pos);
    if (lineEnd < 0) return null;
    const size = parseInt(buf.subarray(pos, lineEnd).toString(), 16);
    if (!Number.isFinite(size)) throw new Error("bad chunk size");
    if (size === 0) return buf.indexOf(CRLF2, lineEnd) >= 0 ? Buffer.concat(parts) : null;
    const start = lineEnd + 2;
    if (buf.length < start + size + 2) return null;
    parts.push(buf.subarray(start, start + size));
    pos = start + size + 2;
  }
}

/** One client connection, reconnecting whenever the server closed the last one. */
class Connection {
  constructor(target) {
    this.target = target;
    this.sock = null;
  }

  drop() {
    if (this.sock) this.sock.destroy();
    this.sock = null;
  }

  request(buf) {
    return new Promise((resolve, reject) => {
      if (!this.sock) {
        this.sock = net.connect(this.target.port, this.target.host);
        this.sock.setNoDelay(true);
        // Errors on an idle socket (a reset between requests) must not crash the process.
        this.sock.on("error", () => {});
        this.sock.setTimeout(30_000, () => this.sock?.destroy(new Error("timeout")));
      }
      const sock = this.sock;
      let data = Buffer.alloc(0);
      let bodyStart = -1;
      let status = 0;
      let length = -1;
      let chunked = false;
      let close = false;
      let settled = false;
      const cleanup = () => {
        sock.off("data", onData);
        sock.off("end", onEnd);
        sock.off("close", onEnd);
        sock.off("error", onError);
      };
      const finish = (body) => {
        settled = true;
        cleanup();
        if (close) this.drop();
        resolve({ status, body: body.toString() });
      };
      const fail = (e) => {
        if (settled) return;
        settled = true;
        cleanup();
        this.drop();
        reject(e);
      };
      const onData = (chunk) => {
        data = data.length ? Buffer.concat([data, chunk]) : chunk;
        if (bodyStart < 0) {
          const end = data.indexOf(CRLF2);
          if (end < 0) return;
          bodyStart = end + 4;
          const lines = data.subarray(0, end).toString("latin1").split("\r\n");
          status = Number(lines[0].split(" ")[1]);
          for (const line of lines.slice(1)) {
            const i = line.indexOf(":");
            const name = line.slice(0, i).trim().toLowerCase();
            const value = line.slice(i + 1).trim().toLowerCase();
            if (name === "content-length") length = Number(value);
            else if (name === "transfer-encoding") chunked = value.includes("chunked");
            else if (name === "connection") close = value === "close";
          }
        }
        try {
          if (length >= 0) {
            if (data.length - bodyStart >= length) finish(data.subarray(bodyStart, bodyStart + length));
          } else if (chunked) {
            const body = dechunk(data, bodyStart);
            if (body) finish(body);
          }
        } catch (e) {
          fail(e);
        }
      };
      const onEnd = () => {
        if (settled) return;
        if (bodyStart >= 0 && length < 0 && !chunked) {
          close = true;
          finish(data.subarray(bodyStart));
        } else {
          fail(new Error("connection closed mid-response"));
        }
      };
      const onError = (e) => fail(e);
      sock.on("data", onData);
      sock.on("end", onEnd);
      sock.on("close", onEnd);
      sock.on("error", onError);
      sock.write(buf);
    });
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/**
 * Runs `connections` closed loops against `target` ({host, port}) for `duration` seconds.
 * `request()` returns {method, path, headers, body} for each request; `onResponse(status, body)`
 * sees every response. Requests in flight when the time is up are awaited and counted, so a
 * token handed to one is never lost. Returns {total, duration, rps, p50, p99, statuses, errors}.
 */
export async function closedLoop({ target, connections, duration, request, onResponse }) {
  const latencies = [];
  const statuses = {};
  let errors = 0;
  const start = performance.now();
  const end = start + duration * 1000;
  async function loop() {
    const conn = new Connection(target);
    while (performance.now() < end) {
      const buf = buildRequest(target, request());
      const t0 = performance.now();
      try {
        const res = await conn.request(buf);
        latencies.push(performance.now() - t0);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        onResponse?.(res.status, res.body);
      } catch {
        errors += 1;
        // Back off a little so a dead server does not spin the loop.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    conn.drop();
  }
  await Promise.all(Array.from({ length: connections }, loop));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    total: latencies.length,
    duration: elapsed,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    statuses,
    errors,
  };
}
